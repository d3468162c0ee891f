//! The `wakeup` table: wakeups of blocked tasks (family `wakeup`), each
//! with the waker's stacks and the stacks the woken task blocked in (ids
//! into `stacks`), the input of wakeuptime, offwaketime and offwake flame
//! graphs.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `wakeup` table (family `wakeup`).
pub static TABLE: TableSpec = TableSpec {
    name: "wakeup",
    family: "wakeup",
    row: "one wakeup (`sched_waking`) of a task that had blocked (switched out asleep) for at least `--wakeup-min-block`",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the wakeup (UTC)." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU the wakeup ran on (the waker's)." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the woken task." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the woken task." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the woken task when it switched out." },
        ColumnSpec { name: "kthread", ty: Bool, unit: "-", nullable: false, doc: "Whether the woken task is a kernel thread." },
        ColumnSpec { name: "state", ty: Int64, unit: "-", nullable: false, doc: "The woken task's raw state when it switched out (`__state`): 1 interruptible sleep, 2 uninterruptible (D), and so on." },
        ColumnSpec { name: "blocked_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time blocked: the woken task's switch-out to this wakeup (not counting the run-queue wait after it); at least `--wakeup-min-block`." },
        ColumnSpec { name: "kstack_id", ty: Int32, unit: "-", nullable: false, doc: "Kernel stack the woken task blocked in (at switch-out): `stacks.id`, or -2 when lost (counted in `loss`)." },
        ColumnSpec { name: "ustack_id", ty: Int32, unit: "-", nullable: false, doc: "User stack the woken task blocked in: `stacks.id`; -1 for kernel threads, -2 when lost (counted in `loss`)." },
        ColumnSpec { name: "waker_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task the wakeup ran in (the waker; for a wakeup from an interrupt, the task it interrupted; 0 for the idle task)." },
        ColumnSpec { name: "waker_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the waker." },
        ColumnSpec { name: "waker_comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the waker." },
        ColumnSpec { name: "waker_kthread", ty: Bool, unit: "-", nullable: false, doc: "Whether the waker is a kernel thread." },
        ColumnSpec { name: "waker_kstack_id", ty: Int32, unit: "-", nullable: false, doc: "Waker's kernel stack at the wakeup: `stacks.id`, or -2 when lost (counted in `loss`)." },
        ColumnSpec { name: "waker_ustack_id", ty: Int32, unit: "-", nullable: false, doc: "Waker's user stack at the wakeup: `stacks.id`; -1 for kernel threads, -2 when lost (counted in `loss`)." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
