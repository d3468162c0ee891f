//! The `stat` table: statfs, stat, lstat, fstat, newfstatat and statx
//! calls, what bcc's statsnoop shows.
//!
//! The kernel pairs each call's entry and return by thread and hands over
//! one record at the return, failed calls included, with the path read
//! then (as bcc does). With `--stat-failed-only` the recorder keeps only
//! failed calls, dropping the others in the kernel: a recording made so
//! says it in its command line.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// Call names (the kernel's syscall names), indexed by the kernel's
/// `KTAPE_STAT_CALL_*` code.
pub const CALLS: [&str; 6] = ["statfs", "newstat", "newlstat", "newfstat", "newfstatat", "statx"];

/// The call name of a `KTAPE_STAT_CALL_*` code.
pub fn call_name(code: u8) -> &'static str {
    CALLS.get(code as usize).copied().unwrap_or("unknown")
}

/// The `stat` table.
pub static TABLE: TableSpec = TableSpec {
    name: "stat",
    family: "stat",
    row: "one statfs, newstat, newlstat, newfstat, newfstatat or statx call, at its return (failed calls too, unless recorded with --stat-failed-only)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "call", ty: DictString, unit: "-", nullable: false, doc: "The syscall, by its kernel name: statfs, newstat (stat), newlstat (lstat), newfstat (fstat), newfstatat or statx." },
        ColumnSpec { name: "dfd", ty: Int32, unit: "-", nullable: false, doc: "The directory fd a relative path is relative to (-100 is AT_FDCWD, also given for statfs, newstat and newlstat); newfstat: the file's fd." },
        ColumnSpec { name: "path", ty: DictString, unit: "-", nullable: false, doc: "The path as passed, read at the return; empty for newfstat, for an empty path (AT_EMPTY_PATH) and when unreadable. At most 255 bytes." },
        ColumnSpec { name: "errno", ty: Int32, unit: "-", nullable: false, doc: "0 on success, else the positive errno (2 is ENOENT)." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time from the call's entry to its return." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
