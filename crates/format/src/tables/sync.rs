//! The `sync` table: sync, fsync, fdatasync, msync, sync_file_range and
//! syncfs calls, at their entry, what bcc's syncsnoop shows.
//!
//! Only the entry is recorded, as in bcc: when a flush was asked for, by
//! whom and of what; how long fsync and fdatasync take is in `file_op`
//! (`-e fileio`), any call's in `syscall_slow` (`-e syscall`).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// Call names, indexed by the kernel's `KTAPE_SYNC_CALL_*` code.
pub const CALLS: [&str; 6] = ["sync", "fsync", "fdatasync", "msync", "sync_file_range", "syncfs"];

/// The call name of a `KTAPE_SYNC_CALL_*` code.
pub fn call_name(code: u8) -> &'static str {
    CALLS.get(code as usize).copied().unwrap_or("unknown")
}

/// The `sync` table.
pub static TABLE: TableSpec = TableSpec {
    name: "sync",
    family: "sync",
    row: "one sync, fsync, fdatasync, msync, sync_file_range or syncfs call, at its entry",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call was made (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call was made." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "call", ty: DictString, unit: "-", nullable: false, doc: "The syscall: sync, fsync, fdatasync, msync, sync_file_range or syncfs." },
        ColumnSpec { name: "fd", ty: Int32, unit: "-", nullable: false, doc: "The file descriptor passed (fsync, fdatasync, sync_file_range, syncfs); -1 for sync and msync." },
        ColumnSpec { name: "offset", ty: Int64, unit: "-", nullable: false, doc: "sync_file_range: the offset; msync: the start address; 0 for the other calls." },
        ColumnSpec { name: "nbytes", ty: Int64, unit: "bytes", nullable: false, doc: "sync_file_range: the byte count (0: to the end of the file); msync: the length; 0 for the other calls." },
        ColumnSpec { name: "flags", ty: Int64, unit: "-", nullable: false, doc: "msync: MS_ASYNC 1, MS_INVALIDATE 2, MS_SYNC 4; sync_file_range: SYNC_FILE_RANGE_WAIT_BEFORE 1, _WRITE 2, _WAIT_AFTER 4; 0 for the other calls." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
