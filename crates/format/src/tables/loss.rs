//! The `loss` table: what the kernel could not hand over, per second,
//! family and CPU.
//!
//! A row is written only for a second in which something was lost, so an
//! empty `loss` table means nothing was lost. Every recording has this
//! table, and the analyzer shows loss beside any result it affects.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `loss` table.
pub static TABLE: TableSpec = TableSpec {
    name: "loss",
    family: "recorder",
    row: "events of one family lost on one CPU during one second",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Start of the one-second interval (UTC)." },
        ColumnSpec { name: "family", ty: DictString, unit: "-", nullable: false, doc: "Event family that lost events (`bio`, …)." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the events were lost; -1 for losses the recorder found itself (its sweep of block requests issued long ago, or in flight at the stop, with no completion seen)." },
        ColumnSpec { name: "reason", ty: DictString, unit: "-", nullable: false, doc: "Why: `ringbuf_full` (no room to reserve a record), `map_full` (no room to track an operation in flight), `unpaired` (an operation's start was seen but no hook saw its end), `stack_collision` (a sample's stack could not be stored: the stack map bucket held another stack or the map was full; the row is kept with stack id -1) or `stack_missing` (the kernel could not walk a stack, e.g. no frame pointers; row kept with -1)." },
        ColumnSpec { name: "lost", ty: Int64, unit: "count", nullable: false, doc: "Events lost in that second." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// A ring-buffer reservation failed: the record was dropped.
pub const REASON_RINGBUF_FULL: &str = "ringbuf_full";
/// A pairing map was full: the operation could not be tracked.
pub const REASON_MAP_FULL: &str = "map_full";
/// An operation was seen to start, but none of its end hooks ran for it.
pub const REASON_UNPAIRED: &str = "unpaired";
/// A stack could not be stored in the stack map (`-EEXIST`: its bucket
/// holds another stack, or the map is full): the row is kept, its stack
/// reference is -1.
pub const REASON_STACK_COLLISION: &str = "stack_collision";
/// The kernel could not walk a stack (`bpf_get_stackid` failed otherwise,
/// e.g. a user task whose user stack was not reachable).
pub const REASON_STACK_MISSING: &str = "stack_missing";
