//! The stack tables: `profile` (CPU samples), `offcpu` (blocked episodes)
//! and `stacks` (each distinct stack once, symbolized while recording).
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

/// The `profile` table (family `profile`).
pub static PROFILE_TABLE: TableSpec = TableSpec {
    name: "profile",
    family: "profile",
    row: "one CPU sample: a `cpu-clock` perf event on one CPU (`-F` per second)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the sample (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU that was sampled." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task on the CPU (0: idle, only with `--idle`)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the task on the CPU." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the task on the CPU." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the task." },
        ColumnSpec { name: "kstack_id", ty: Int32, unit: "-", nullable: false, doc: "Kernel stack: `stacks.id`; -1 when there is none (the CPU was in user mode), -2 when it was lost (counted in `loss`)." },
        ColumnSpec { name: "ustack_id", ty: Int32, unit: "-", nullable: false, doc: "User stack: `stacks.id`; -1 when there is none (a kernel thread), -2 when it was lost (counted in `loss`)." },
    ],
};

/// The `offcpu` table (family `offcpu`).
pub static OFFCPU_TABLE: TableSpec = TableSpec {
    name: "offcpu",
    family: "offcpu",
    row: "one off-CPU episode: a task switched out (`sched_switch`) until it ran again",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time the task was switched back in (UTC)." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task that was off CPU." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the task." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the task when it was switched out." },
        ColumnSpec { name: "state", ty: Int64, unit: "-", nullable: false, doc: "The task's raw state when it was switched out (`__state`): 0 preempted (still runnable), 1 interruptible sleep, 2 uninterruptible (D), and so on." },
        ColumnSpec { name: "duration_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time off CPU: switch-out to switch-in; at least `--min-block`." },
        ColumnSpec { name: "kstack_id", ty: Int32, unit: "-", nullable: false, doc: "Kernel stack at switch-out: `stacks.id`, or -2 when lost (counted in `loss`)." },
        ColumnSpec { name: "ustack_id", ty: Int32, unit: "-", nullable: false, doc: "User stack at switch-out: `stacks.id`; -1 for kernel threads, -2 when lost (counted in `loss`)." },
    ],
};

/// The `stacks` table (written by the recorder whenever `profile` or
/// `offcpu` is recorded).
pub static STACKS_TABLE: TableSpec = TableSpec {
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

/// Default `-F` of `-e profile`, Hz (bcc profile's: not a multiple of
/// common timer rates, so samples do not march in step with periodic work).
pub const PROFILE_DEFAULT_HZ: u64 = 49;
