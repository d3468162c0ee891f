//! The `bio` table: one row per completed block I/O request.
//!
//! The kernel pairs the request's stages (submit → insert → issue →
//! complete) by request pointer and hands over one record at completion, so
//! a busy disk costs one ring-buffer record per request, not four.
//!
//! Request operations and flag bits moved between kernel versions, so the
//! BPF program normalizes them (with CO-RE enum relocations) into the
//! stable codes below; `bpf/ktape.h` mirrors them for the C side.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `bio` table.
pub static TABLE: TableSpec = TableSpec {
    name: "bio",
    family: "bio",
    row: "one completed block I/O request",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Completion time (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the completion ran." },
        ColumnSpec { name: "dev", ty: Int64, unit: "-", nullable: false, doc: "Device number of the disk, `(major << 20) + first_minor`, as bcc forms it." },
        ColumnSpec { name: "disk", ty: DictString, unit: "-", nullable: false, doc: "Disk name from `/proc/partitions` at record time (`?` if unknown)." },
        ColumnSpec { name: "op", ty: DictString, unit: "-", nullable: false, doc: "Operation and flags as the kernel's rwbs letters (`R`, `W`, `WS`, `FWFS`, `RA` …), bcc's `T` column." },
        ColumnSpec { name: "flags", ty: DictString, unit: "-", nullable: false, doc: "Flag set and operation as bcc's `biolatency -F` names it (`Sync-Write`, `ReadAhead-Read` …)." },
        ColumnSpec { name: "sector", ty: Int64, unit: "sectors", nullable: false, doc: "First sector of the request (512-byte units)." },
        ColumnSpec { name: "bytes", ty: Int64, unit: "bytes", nullable: false, doc: "Bytes completed by this completion." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Issue to the driver → completion: the device time biolatency shows by default." },
        ColumnSpec { name: "queue_ns", ty: Int64, unit: "ns", nullable: true, doc: "Insert into the I/O scheduler → issue; null when the request bypassed the scheduler queue." },
        ColumnSpec { name: "error", ty: Int32, unit: "-", nullable: false, doc: "The kernel's `blk_status_t` for the completion; 0 means success." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the submitter (0 when the request was not seen being submitted, e.g. flushes made by the block layer)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the submitter (0 when unknown)." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the submitting thread (empty when unknown)." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the submitter (0 when unknown)." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// Normalized request operations, as the BPF side writes them.
///
/// Values are ktape's own and never change; the kernel's `enum req_op`
/// values are translated in the BPF program.
pub mod op {
    pub const READ: u8 = 0;
    pub const WRITE: u8 = 1;
    pub const FLUSH: u8 = 2;
    pub const DISCARD: u8 = 3;
    pub const SECURE_ERASE: u8 = 4;
    pub const WRITE_ZEROES: u8 = 5;
    pub const ZONE_OPEN: u8 = 6;
    pub const ZONE_CLOSE: u8 = 7;
    pub const ZONE_FINISH: u8 = 8;
    pub const ZONE_APPEND: u8 = 9;
    pub const ZONE_RESET: u8 = 10;
    pub const ZONE_RESET_ALL: u8 = 11;
    pub const DRV_IN: u8 = 12;
    pub const DRV_OUT: u8 = 13;
    /// An operation this build does not know.
    pub const UNKNOWN: u8 = 255;

    /// bcc's name of an operation (`biolatency -F`).
    pub fn name(op: u8) -> &'static str {
        match op {
            READ => "Read",
            WRITE => "Write",
            FLUSH => "Flush",
            DISCARD => "Discard",
            SECURE_ERASE => "SecureErase",
            WRITE_ZEROES => "WriteZeroes",
            ZONE_OPEN => "ZoneOpen",
            ZONE_CLOSE => "ZoneClose",
            ZONE_FINISH => "ZoneFinish",
            ZONE_APPEND => "ZoneAppend",
            ZONE_RESET => "ZoneReset",
            ZONE_RESET_ALL => "ZoneResetAll",
            DRV_IN => "DrvIn",
            DRV_OUT => "DrvOut",
            _ => "Unknown",
        }
    }
}

/// Normalized request flag bits, as the BPF side writes them.
pub mod flag {
    pub const SYNC: u16 = 1 << 0;
    pub const META: u16 = 1 << 1;
    pub const PRIO: u16 = 1 << 2;
    pub const NOMERGE: u16 = 1 << 3;
    pub const IDLE: u16 = 1 << 4;
    pub const INTEGRITY: u16 = 1 << 5;
    pub const FUA: u16 = 1 << 6;
    pub const PREFLUSH: u16 = 1 << 7;
    pub const RAHEAD: u16 = 1 << 8;
    pub const BACKGROUND: u16 = 1 << 9;
    pub const NOWAIT: u16 = 1 << 10;

    /// bcc's `biolatency -F` prefixes, in the order it prints them.
    pub const NAMES: &[(u16, &str)] = &[
        (NOWAIT, "NoWait-"),
        (BACKGROUND, "Background-"),
        (RAHEAD, "ReadAhead-"),
        (PREFLUSH, "PreFlush-"),
        (FUA, "FUA-"),
        (INTEGRITY, "Integrity-"),
        (IDLE, "Idle-"),
        (NOMERGE, "NoMerge-"),
        (PRIO, "Priority-"),
        (META, "Metadata-"),
        (SYNC, "Sync-"),
    ];
}

/// The kernel's rwbs letters for a normalized operation and flag set
/// (`blk_fill_rwbs`): what bcc's biosnoop prints in its `T` column.
pub fn rwbs(op: u8, flags: u16) -> String {
    let mut s = String::with_capacity(6);
    if flags & flag::PREFLUSH != 0 {
        s.push('F');
    }
    s.push_str(match op {
        op::WRITE => "W",
        op::DISCARD => "D",
        op::SECURE_ERASE => "DE",
        op::FLUSH => "F",
        op::READ => "R",
        _ => "N",
    });
    if flags & flag::FUA != 0 {
        s.push('F');
    }
    if flags & flag::RAHEAD != 0 {
        s.push('A');
    }
    if flags & flag::SYNC != 0 {
        s.push('S');
    }
    if flags & flag::META != 0 {
        s.push('M');
    }
    s
}

/// bcc's `biolatency -F` name of a flag set and operation, e.g.
/// `Sync-Write`.
pub fn flag_set_name(op: u8, flags: u16) -> String {
    let mut s = String::new();
    for (bit, name) in flag::NAMES {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s.push_str(op::name(op));
    s
}

/// Device number as bcc forms it from a `struct gendisk`.
pub fn mkdev(major: u32, minor: u32) -> i64 {
    ((major as i64) << 20) | minor as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwbs_matches_the_kernel() {
        assert_eq!(rwbs(op::READ, 0), "R");
        assert_eq!(rwbs(op::WRITE, flag::SYNC), "WS");
        assert_eq!(rwbs(op::READ, flag::RAHEAD), "RA");
        assert_eq!(
            rwbs(op::WRITE, flag::PREFLUSH | flag::FUA | flag::SYNC),
            "FWFS"
        );
        assert_eq!(rwbs(op::FLUSH, flag::PREFLUSH), "FF");
        assert_eq!(rwbs(op::SECURE_ERASE, 0), "DE");
        assert_eq!(rwbs(op::WRITE, flag::SYNC | flag::META), "WSM");
        assert_eq!(rwbs(op::ZONE_OPEN, 0), "N");
    }

    #[test]
    fn flag_names_match_bcc() {
        assert_eq!(flag_set_name(op::WRITE, flag::SYNC), "Sync-Write");
        assert_eq!(flag_set_name(op::READ, flag::RAHEAD), "ReadAhead-Read");
        assert_eq!(
            flag_set_name(op::WRITE, flag::SYNC | flag::META | flag::PRIO),
            "Priority-Metadata-Sync-Write"
        );
        assert_eq!(flag_set_name(op::UNKNOWN, 0), "Unknown");
    }

    #[test]
    fn mkdev_is_bcc_layout() {
        assert_eq!(mkdev(254, 0), 254 << 20);
        assert_eq!(mkdev(8, 1), (8 << 20) | 1);
    }
}
