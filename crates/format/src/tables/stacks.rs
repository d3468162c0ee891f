//! The `stacks` table: each distinct stack once, symbolized while
//! recording, referred to by the rows of `profile` and `offcpu`.
//!
//! Why stacks live in their own table: a sample is then two small integers
//! of stack reference instead of tens of addresses and names, so a profile
//! costs a few bytes per sample on disk, and symbolization is paid once
//! per distinct stack, not per sample. Why frames are symbolized by the
//! recorder: the recording is analyzed elsewhere, later, when the
//! processes are gone and the binaries may be too, so the recording must
//! carry every name itself. For user frames the build id and file offset
//! are kept as well, so a later tool can re-symbolize with debug info.
//!
//! Stacks are unwound by the kernel with frame pointers (`bpf_get_stackid`):
//! code built without them (`-fomit-frame-pointer`, the default of many
//! distributions' optimized builds) yields short or broken user stacks.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `stacks` table (written by the recorder whenever `profile`,
/// `offcpu` or `wakeup` is recorded).
pub static TABLE: TableSpec = TableSpec {
    name: "stacks",
    family: "stacks",
    row: "one distinct stack (per process for user stacks), symbolized while recording; frames leaf first",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the recorder first saw the stack (UTC)." },
        ColumnSpec { name: "id", ty: Int32, unit: "-", nullable: false, doc: "Stack id, unique in the recording: what `kstack_id` and `ustack_id` refer to." },
        ColumnSpec { name: "kind", ty: DictString, unit: "-", nullable: false, doc: "`kernel` or `user`." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process whose address space the user stack belongs to (0 for kernel stacks)." },
        ColumnSpec { name: "addr", ty: Int64List, unit: "-", nullable: false, doc: "Raw instruction addresses, leaf (innermost) frame first." },
        ColumnSpec { name: "function", ty: TextList, unit: "-", nullable: false, doc: "Function of each frame (demangled); `module+0xOFFSET` (or `[unknown]+0xADDR`) where no symbol covers the address." },
        ColumnSpec { name: "module", ty: TextList, unit: "-", nullable: false, doc: "Path of the binary or library of each frame (`[kernel]` or `[module_name]` for kernel frames; empty when unknown)." },
        ColumnSpec { name: "build_id", ty: TextList, unit: "-", nullable: false, doc: "GNU build id of the module of each user frame, in hex (empty when unknown and for kernel frames)." },
        ColumnSpec { name: "file_offset", ty: Int64List, unit: "bytes", nullable: false, doc: "Offset of each user frame's address in its module's file, for re-symbolizing with debug info (-1 when unknown and for kernel frames)." },
    ],
};

/// `stacks.kind` of a kernel stack.
pub const KIND_KERNEL: &str = "kernel";
/// `stacks.kind` of a user stack.
pub const KIND_USER: &str = "user";
/// A stack reference meaning "this row has no such stack" (a user-mode
/// sample's kernel stack, a kernel thread's user stack).
pub const NO_STACK: i32 = -1;
/// A stack reference meaning "the stack was lost" (counted in `loss` as
/// `stack_collision` or `stack_missing`).
pub const LOST_STACK: i32 = -2;
/// Most frames a stack has (the kernel's `PERF_MAX_STACK_DEPTH`).
pub const MAX_DEPTH: usize = 127;

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
