//! The `runqlen` table (family `runqlen`): the run-queue length of each
//! CPU, sampled by a per-CPU timer (`-e runqlen`, `-F` Hz, default 99).
//! Sampling rather than tracing keeps the cost independent of the
//! scheduling rate: 99 rows a second per CPU however busy the host is.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `runqlen` table.
pub static TABLE: TableSpec = TableSpec {
    name: "runqlen",
    family: "runqlen",
    row: "one sample of one CPU's run queue (perf_event cpu-clock timer on that CPU)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the sample (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU sampled." },
        ColumnSpec { name: "len", ty: Int32, unit: "tasks", nullable: false, doc: "Tasks waiting on the CPU's run queue, not counting the one running: `rq->nr_running` (every scheduling class) minus the current task unless the CPU is idle. 0 = nothing waits; bcc runqlen's value." },
        ColumnSpec { name: "idle", ty: Bool, unit: "-", nullable: false, doc: "Whether the CPU was running its idle task (nothing ran; `len` then counts tasks queued on it but not yet switched to). With `len`, tells an idle CPU from one running a single task; cpuunclaimed needs it. Recordings made before the column was added lack it." },
    ],
};

/// Default `-F` of `-e runqlen`, Hz (bcc runqlen's).
pub const DEFAULT_HZ: u64 = 99;

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
