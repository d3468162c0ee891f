//! The `counters` table: the kernel's own exact counters, read by the
//! recorder at every segment boundary, so that rows can be checked against
//! them afterwards (`ktape-analyze summary` shows the cross-checks).
//!
//! BPF can only count what its programs saw; a completion whose program
//! never ran leaves no trace in BPF. The kernel's statistics count it
//! anyway, so comparing their increase with the rows recorded shows a loss
//! that the recorder could not see. Each segment file holds the counters
//! at the segment's start and at its end (the same instant as the next
//! segment's start), so any run of consecutive complete segments can be
//! checked on its own: a recording cut short by a kill, or the kept window
//! of a ring.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `counters` table.
pub static TABLE: TableSpec = TableSpec {
    name: "counters",
    family: "recorder",
    row: "one kernel counter read at one segment boundary",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the counter was read (UTC): at a boundary of the segment the file belongs to (its start or its end). Rows of other tables with `ts` between two reads happened between them." },
        ColumnSpec { name: "source", ty: DictString, unit: "-", nullable: false, doc: "Where it was read: `diskstats` (/proc/diskstats), `snmp` (/proc/net/snmp, the recorder's network namespace), `stat` (/proc/stat)." },
        ColumnSpec { name: "device", ty: DictString, unit: "-", nullable: false, doc: "Disk name for `diskstats` (whole disks only); empty otherwise." },
        ColumnSpec { name: "name", ty: DictString, unit: "-", nullable: false, doc: "Counter: for `diskstats` `reads_completed`, `writes_completed`, `discards_completed`, `flushes_completed`, `in_flight`; for `snmp` `Tcp.ActiveOpens`, `Tcp.PassiveOpens`, `Tcp.RetransSegs`, `Tcp.CurrEstab`; for `stat` `ctxt` (context switches, all CPUs)." },
        ColumnSpec { name: "value", ty: Int64, unit: "count", nullable: false, doc: "Its value: cumulative since boot, except `in_flight` and `Tcp.CurrEstab`, which are how many at that moment." },
        ColumnSpec { name: "read_ns", ty: Int64, unit: "ns", nullable: false, doc: "How long reading its file took: the value is from some instant in `[ts, ts + read_ns]`." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// `source` of /proc/diskstats counters.
pub const SOURCE_DISKSTATS: &str = "diskstats";
/// `source` of /proc/net/snmp counters.
pub const SOURCE_SNMP: &str = "snmp";
/// `source` of /proc/stat counters.
pub const SOURCE_STAT: &str = "stat";

/// Completed reads of a disk.
pub const READS: &str = "reads_completed";
/// Completed writes of a disk.
pub const WRITES: &str = "writes_completed";
/// Completed discards of a disk.
pub const DISCARDS: &str = "discards_completed";
/// Completed flushes of a disk.
pub const FLUSHES: &str = "flushes_completed";
/// Requests of a disk in flight at that moment.
pub const IN_FLIGHT: &str = "in_flight";
/// TCP active opens (connect).
pub const ACTIVE_OPENS: &str = "Tcp.ActiveOpens";
/// TCP passive opens (a handshake completed on a listener).
pub const PASSIVE_OPENS: &str = "Tcp.PassiveOpens";
/// TCP segments retransmitted.
pub const RETRANS_SEGS: &str = "Tcp.RetransSegs";
/// TCP connections established at that moment.
pub const CURR_ESTAB: &str = "Tcp.CurrEstab";
/// Context switches.
pub const CTXT: &str = "ctxt";
