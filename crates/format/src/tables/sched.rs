//! The `sched_switch` and `sched_wakeup` tables: raw scheduler events, one
//! row per event (family `sched`).
//!
//! Unlike `bio`, nothing is paired in the kernel: run-queue latency,
//! on-CPU time and off-CPU time are all pairings of these rows, and doing
//! them offline keeps the recorder's hot path to one fixed-size record per
//! event and lets every report pair exactly (no map can fill up).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `sched_switch` table.
pub static SWITCH_TABLE: TableSpec = TableSpec {
    name: "sched_switch",
    family: "sched",
    row: "one context switch (tracepoint `sched_switch`)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the switch (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the switch happened." },
        ColumnSpec { name: "prev_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task switched out (0: the idle task)." },
        ColumnSpec { name: "prev_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id (`task_struct->tgid`) of the task switched out." },
        ColumnSpec { name: "prev_comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the task switched out (`swapper/N` for idle)." },
        ColumnSpec { name: "prev_prio", ty: Int32, unit: "-", nullable: false, doc: "Kernel priority (`task_struct->prio`, 0..139, lower runs first; 120 is nice 0) of the task switched out." },
        ColumnSpec { name: "prev_state", ty: Int64, unit: "-", nullable: false, doc: "The kernel's raw task state of the task switched out (`__state`): 0 (TASK_RUNNING) means it stays runnable, i.e. it was preempted; 1 interruptible sleep, 2 uninterruptible, and so on." },
        ColumnSpec { name: "preempt", ty: Bool, unit: "-", nullable: false, doc: "The tracepoint's `preempt` argument: the switch was a preemption, so the task stays on the run queue even if `prev_state` is not 0." },
        ColumnSpec { name: "next_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task switched in (0: the idle task)." },
        ColumnSpec { name: "next_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the task switched in." },
        ColumnSpec { name: "next_comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the task switched in." },
        ColumnSpec { name: "next_prio", ty: Int32, unit: "-", nullable: false, doc: "Kernel priority of the task switched in." },
    ],
};

/// The `sched_wakeup` table.
pub static WAKEUP_TABLE: TableSpec = TableSpec {
    name: "sched_wakeup",
    family: "sched",
    row: "one wakeup of a task (tracepoints `sched_wakeup` and `sched_wakeup_new`)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the wakeup (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the wakeup ran." },
        ColumnSpec { name: "target_cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU whose run queue the woken task joins." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the woken task." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the woken task." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the woken task." },
        ColumnSpec { name: "prio", ty: Int32, unit: "-", nullable: false, doc: "Kernel priority of the woken task (`task_struct->prio`)." },
        ColumnSpec { name: "new", ty: Bool, unit: "-", nullable: false, doc: "True for `sched_wakeup_new` (a task's first wakeup, after fork)." },
        ColumnSpec { name: "waker_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task running where the wakeup ran (the waker; for wakeups from interrupts, whoever was interrupted; 0: idle)." },
        ColumnSpec { name: "waker_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the waker." },
    ],
};

/// The task state value meaning "runnable" (`TASK_RUNNING`).
pub const TASK_RUNNING: i64 = 0;

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&SWITCH_TABLE, &WAKEUP_TABLE];
