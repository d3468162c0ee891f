//! The `irq` table: hard IRQ handler runs and softirq runs, counted and
//! timed per second, CPU and IRQ in the kernel (what bcc's hardirqs and
//! softirqs sum).
//!
//! Handlers run up to hundreds of thousands of times a second under
//! network load, each for well under a microsecond, so one row per run
//! would cost more than the runs themselves: the kernel adds each run to
//! a counter keyed by second, CPU and handler, and the recorder writes one
//! row per key once its second is over. Every run is counted; the
//! histograms keep the shape of the distribution in ns and in µs (bcc's
//! `-d` unit) without a row per run.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `irq` table.
pub static TABLE: TableSpec = TableSpec {
    name: "irq",
    family: "irq",
    row: "the runs of one hard IRQ handler or one softirq vector on one CPU that ended in one second",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Start of the second (of the kernel's monotonic clock, as UTC) the runs ended in; the row covers [ts, ts + 1 s)." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU the handler ran on." },
        ColumnSpec { name: "kind", ty: DictString, unit: "-", nullable: false, doc: "`hardirq` (a device interrupt handler, irq_handler_entry/exit) or `softirq` (a softirq vector, softirq_entry/exit)." },
        ColumnSpec { name: "irq", ty: Int32, unit: "-", nullable: false, doc: "IRQ number (the first column of /proc/interrupts) or softirq vector (0 hi .. 9 rcu, the rows of /proc/softirqs)." },
        ColumnSpec { name: "name", ty: DictString, unit: "-", nullable: false, doc: "hardirq: the handler's name as it registered (`virtio0-requests`, `eth0` …; a shared line has a row per handler); softirq: the vector's name in lower case as bcc prints it (`net_rx`, `timer`, `rcu` …)." },
        ColumnSpec { name: "count", ty: Int64, unit: "runs", nullable: false, doc: "Handler runs." },
        ColumnSpec { name: "total_ns", ty: Int64, unit: "ns", nullable: false, doc: "Sum of the runs' times from entry to exit." },
        ColumnSpec { name: "max_ns", ty: Int64, unit: "ns", nullable: false, doc: "The longest run." },
        ColumnSpec { name: "ns_hist", ty: Int64List, unit: "runs", nullable: false, doc: "Runs per log2 slot of ns: item i counts runs of [2^i, 2^(i+1)) ns (item 0 also holds 0 ns, the last of 32 every longer run); trailing zeros are left out." },
        ColumnSpec { name: "us_hist", ty: Int64List, unit: "runs", nullable: false, doc: "Runs per log2 slot of µs, as bcc's `-d`: item i counts runs of [2^i, 2^(i+1)) µs (item 0 also holds those under 1 µs); trailing zeros are left out." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// `kind` of a hard IRQ handler's rows.
pub const KIND_HARD: &str = "hardirq";
/// `kind` of a softirq vector's rows.
pub const KIND_SOFT: &str = "softirq";

/// Softirq vector names, by vector number, as bcc's softirqs prints them
/// (the kernel's `softirq_to_name`, in lower case).
pub const SOFTIRQ_NAMES: [&str; 10] = [
    "hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu",
];

/// The name of softirq vector `vec` (`vec<N>` for one this table does not know).
pub fn softirq_name(vec: u32) -> std::borrow::Cow<'static, str> {
    match SOFTIRQ_NAMES.get(vec as usize) {
        Some(n) => (*n).into(),
        None => format!("vec{vec}").into(),
    }
}

/// Default of the recorder's `--irq-keys`.
pub const DEFAULT_KEYS: u32 = 16384;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softirq_names_follow_the_kernel_vectors() {
        assert_eq!(softirq_name(3), "net_rx");
        assert_eq!(softirq_name(9), "rcu");
        assert_eq!(softirq_name(12), "vec12");
    }
}
