//! The `profile` table: CPU samples (family `profile`), each a reference
//! to its kernel and user stack in `stacks`.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `profile` table (family `profile`).
pub static TABLE: TableSpec = TableSpec {
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

/// Default `-F` of `-e profile`, Hz (bcc profile's: not a multiple of
/// common timer rates, so samples do not march in step with periodic work).
pub const DEFAULT_HZ: u64 = 49;

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
