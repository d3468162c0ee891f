//! The `process` table: the threads the recorder saw, so that ids in other
//! tables resolve to command lines on another machine.
//!
//! At start the recorder writes one row per thread from `/proc`; with
//! `-e exec`, every successful exec adds a row, so that later rows resolve
//! to the new command line (take the latest row at or before a time).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `process` table.
pub static TABLE: TableSpec = TableSpec {
    name: "process",
    family: "recorder",
    row: "one thread as seen at one moment",
    columns: &[
        ColumnSpec {
            name: "ts",
            ty: Timestamp,
            unit: "ns",
            nullable: false,
            doc: "When the thread was seen (UTC).",
        },
        ColumnSpec {
            name: "pid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Thread id (the kernel's `pid`).",
        },
        ColumnSpec {
            name: "tgid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Process id (the kernel's `tgid`).",
        },
        ColumnSpec {
            name: "ppid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Parent process id.",
        },
        ColumnSpec {
            name: "uid",
            ty: Int64,
            unit: "-",
            nullable: false,
            doc: "Real user id.",
        },
        ColumnSpec {
            name: "comm",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "Thread command name (up to 15 bytes, as the kernel keeps it).",
        },
        ColumnSpec {
            name: "cmdline",
            ty: Text,
            unit: "-",
            nullable: false,
            doc: "Process command line, arguments joined by spaces (empty for kernel threads).",
        },
        ColumnSpec {
            name: "cgroup",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "cgroup v2 path of the process (`/` for the root; empty on `exec` rows, whose cgroup id is in the `exec` table).",
        },
        ColumnSpec {
            name: "source",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "How the row was learnt: `snapshot` (/proc at start) or `exec` (a successful exec recorded by `-e exec`; `cmdline` is its arguments as recorded).",
        },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
