//! The `offcpu` table: off-CPU episodes (family `offcpu`), each a
//! reference to the stacks the task blocked in (`stacks`).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `offcpu` table (family `offcpu`).
pub static TABLE: TableSpec = TableSpec {
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

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
