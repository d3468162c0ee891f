//! The `open` table: files opened (or not) by open, openat and openat2,
//! what bcc's opensnoop shows.
//!
//! The kernel copies the path, flags and mode at the syscall's entry and
//! hands over one record at its return, failed calls included, with the
//! time the call took.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `open` table.
pub static TABLE: TableSpec = TableSpec {
    name: "open",
    family: "open",
    row: "one open, openat or openat2 call, at its return (failed calls too)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "uid", ty: Int64, unit: "-", nullable: false, doc: "Real user id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "path", ty: DictString, unit: "-", nullable: false, doc: "The path as passed (relative paths are relative to the directory fd or the working directory), at most 255 bytes." },
        ColumnSpec { name: "flags", ty: Int64, unit: "-", nullable: false, doc: "O_* flags as passed (octal in opensnoop -e)." },
        ColumnSpec { name: "mode", ty: Int32, unit: "-", nullable: false, doc: "Mode as passed; meaningful only with O_CREAT or O_TMPFILE." },
        ColumnSpec { name: "fd", ty: Int32, unit: "-", nullable: true, doc: "File descriptor returned; null when the call failed." },
        ColumnSpec { name: "errno", ty: Int32, unit: "-", nullable: false, doc: "0 on success, else the positive errno (2 is ENOENT)." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time from the call's entry to its return." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
