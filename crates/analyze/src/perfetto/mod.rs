//! `perfetto`: a recording as a Perfetto protobuf trace (the `Trace`
//! message, a sequence of `TracePacket`s) for ui.perfetto.dev and
//! `trace_processor`, so the whole recording can be looked at on one
//! timeline: what ran on each CPU, where the CPU samples were, what each
//! thread waited for, every block request and file operation.
//!
//! Nothing in the trace is invented: every event comes from one row.
//!
//! * `sched_switch`/`sched_wakeup` ([`sched`]): per-CPU `compact_sched`
//!   bundles, at most [`CHUNK_EVENTS`] events each. `prev_state` is
//!   written in the form the `sched_switch` tracepoint reports it (what
//!   Perfetto decodes), computed from the recorded `__state` and
//!   `preempt` as the kernel computes it; a wakeup is Perfetto's "waking"
//!   event, on the CPU the wakeup ran on.
//! * `process` ([`procs`]): `ProcessTree` packets (pid, ppid, cmdline,
//!   uid; every thread with its tgid and name).
//! * `profile` with `stacks` ([`samples`]): one `PerfSample` per row, its
//!   kernel and user stacks as one interned callstack (user frames below
//!   kernel frames; a lost stack is a `[Missed … Stack]` frame, as in
//!   the flame graphs). The profile table has no weight column: one row
//!   is one sample.
//! * `offcpu`, `file_op`, `bio`, `tcp_state`, `exec`, `exit`, `loss`
//!   ([`tracks`]): slices, instants and counters on named tracks.
//!
//! Time: ktape's rows hold CLOCK_MONOTONIC converted to wall time with
//! the recording's measured offset; the trace holds the monotonic values
//! again (`ts - ktape.clock_offset_ns`), with `timestamp_clock_id =
//! MONOTONIC`, and a `ClockSnapshot` mapping that clock to REALTIME (so
//! the UI shows wall time). Perfetto reads ftrace bundles in BOOTTIME and
//! offers no monotonic ftrace clock, so the snapshot also declares
//! BOOTTIME equal to MONOTONIC: exact unless the host suspended (ktape
//! does not record boot time). One trace has one clock, so recordings of
//! different boots are refused.
//!
//! Filters: `--from/--to` keep rows by their `ts` (a slice's end);
//! `-p`/`--comm` keep the rows of that process or thread name (on CPU
//! tracks: the switches into and out of such a task, so between them the
//! CPU shows the task that was switched in); `--cgroup` keeps the rows of
//! the tables that have a `cgroup_id` column and leaves the others out,
//! saying so.
//!
//! Rows are read in time slices of the window ([`crate::scan::time_slices`]),
//! written as they come: memory stays bounded however long the recording.

mod args;
pub mod proto;
mod procs;
mod samples;
mod sched;
mod tracks;

pub use args::PerfettoArgs;

use std::collections::BTreeMap;
use std::io::Write;

use ktape_format::read::{Recording, TimeRange};
use prost::Message;
use serde::Serialize;

use crate::common::{Options, Window};
use crate::error::{Error, Result};
use crate::time::format_rfc3339;
use proto::TracePacket;

/// Most events in one `compact_sched` bundle (switches and wakeups
/// together), so that packets stay small.
pub const CHUNK_EVENTS: usize = 10_000;

/// Options of `perfetto`. The default exports everything.
#[derive(Debug, Clone, Default)]
pub struct PerfettoOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--cgroup`).
    pub common: Options,
}

/// What was written, for `--json` and the line on stderr.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Start of the window (RFC 3339).
    pub from: String,
    /// End of the window (RFC 3339).
    pub to: String,
    /// Packets written.
    pub packets: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Events written from rows (switches, wakeups, samples, slices,
    /// instants, process rows; not descriptors or counter points).
    pub events: u64,
    /// Context switches (`sched_switch` rows).
    pub switches: u64,
    /// Wakeups (`sched_wakeup` rows).
    pub wakeups: u64,
    /// `ftrace_events` bundles.
    pub bundles: u64,
    /// CPU samples (`profile` rows).
    pub samples: u64,
    /// Distinct callstacks interned.
    pub callstacks: u64,
    /// Process rows written into process trees.
    pub process_rows: u64,
    /// Slices per kind (`bio`, `offcpu`, `file_op`, `tcp`).
    pub slices: BTreeMap<&'static str, u64>,
    /// Instants per kind (`exec`, `exit`).
    pub instants: BTreeMap<&'static str, u64>,
    /// Points on the loss counter tracks.
    pub loss_points: u64,
    /// Events lost by the recorder in the window, all families.
    pub lost: u64,
    /// What the input made different.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Tables the trace shows events of (besides `process`, `stacks`, `loss`).
pub const EVENT_TABLES: &[&str] = &[
    "sched_switch",
    "sched_wakeup",
    "profile",
    "offcpu",
    "bio",
    "file_op",
    "tcp_state",
    "exec",
    "exit",
];

/// Where packets go: each is written as field 1 of `Trace`, one at a
/// time, so nothing waits in memory; write errors name the output.
pub struct Sink<'a> {
    w: &'a mut dyn Write,
    name: String,
    buf: Vec<u8>,
    /// Packets written.
    pub packets: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl<'a> Sink<'a> {
    /// A sink writing to `w`, called `name` in errors.
    pub fn new(w: &'a mut dyn Write, name: &str) -> Self {
        Sink {
            w,
            name: name.to_string(),
            buf: Vec::with_capacity(1 << 16),
            packets: 0,
            bytes: 0,
        }
    }

    /// Writes one packet.
    pub fn put(&mut self, p: &TracePacket) -> Result<()> {
        self.buf.clear();
        // Field 1 (`packet`), length-delimited: key 0x0a.
        self.buf.push(0x0a);
        p.encode_length_delimited(&mut self.buf)
            .map_err(|e| Error::Output(std::io::Error::other(e)))?;
        self.w.write_all(&self.buf).map_err(|e| self.named(e))?;
        self.packets += 1;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> Result<()> {
        self.w.flush().map_err(|e| self.named(e))
    }

    fn named(&self, e: std::io::Error) -> Error {
        Error::Output(std::io::Error::new(e.kind(), format!("{}: {e}", self.name)))
    }
}

/// The recordings' clocks: each row's monotonic time is its `ts` minus
/// its recording's offset.
#[derive(Debug, Clone)]
pub struct Clocks {
    offsets: Vec<i64>,
}

impl Clocks {
    /// The clocks of `recordings`, which must share one boot.
    pub fn of(recordings: &[Recording]) -> Result<Clocks> {
        let mut boots: Vec<&str> = recordings
            .iter()
            .map(|r| r.info.boot_id.as_str())
            .filter(|b| !b.is_empty())
            .collect();
        boots.sort_unstable();
        boots.dedup();
        if boots.len() > 1 {
            return Err(Error::Usage(format!(
                "perfetto: the recordings come from {} different boots ({}): a trace has one clock, \
                 so export them one at a time",
                boots.len(),
                boots.join(", ")
            )));
        }
        Ok(Clocks {
            offsets: recordings.iter().map(|r| r.info.clock_offset_ns).collect(),
        })
    }

    /// The monotonic time of `ts` of recording `rec`, ns (`None` when it
    /// would be negative: a damaged row).
    #[inline]
    pub fn mono(&self, rec: usize, ts: i64) -> Option<u64> {
        let off = self.offsets.get(rec).copied().unwrap_or(0);
        u64::try_from(ts.checked_sub(off)?).ok()
    }
}

/// What every part of the export shares.
pub struct Ctx<'r> {
    pub recordings: &'r [Recording],
    pub window: Window,
    pub clocks: Clocks,
    pub common: Options,
    /// Rows per time slice.
    pub slice_rows: u64,
}

impl Ctx<'_> {
    /// Whether any recording has `table`.
    pub fn has(&self, table: &str) -> bool {
        self.recordings.iter().any(|r| r.has_table(table))
    }

    /// The window cut into time slices of about [`Ctx::slice_rows`] rows
    /// of `tables`.
    pub fn slices(&self, tables: &[&str]) -> Vec<TimeRange> {
        crate::scan::time_slices(self.recordings, tables, self.window.range, self.slice_rows)
    }

    /// The warning for a table `--cgroup` cannot filter, which is left out.
    pub fn no_cgroup(&self, table: &str, summary: &mut Summary) -> bool {
        if self.common.filter.cgroup_id.is_some() && self.has(table) {
            summary.warnings.push(format!(
                "note: --cgroup: the `{table}` table has no cgroup column, so it is left out of the trace"
            ));
            return true;
        }
        false
    }
}

/// A packet stamped with monotonic `ts` on sequence `seq`.
pub fn packet(ts: u64, seq: u32) -> TracePacket {
    TracePacket {
        timestamp: Some(ts),
        timestamp_clock_id: Some(proto::CLOCK_MONOTONIC),
        trusted_packet_sequence_id: Some(seq),
        ..Default::default()
    }
}

/// Sequence ids: one per kind of packet stream.
pub const SEQ_META: u32 = 1;
/// The scheduler bundles.
pub const SEQ_SCHED: u32 = 2;
/// The CPU samples and their interned stacks.
pub const SEQ_SAMPLES: u32 = 3;
/// Track descriptors and track events.
pub const SEQ_TRACKS: u32 = 4;

/// Writes the trace of `recordings` into `out` (named `name` in write
/// errors) and says what it holds.
pub fn export(
    recordings: &[Recording],
    opts: &PerfettoOptions,
    out: &mut dyn Write,
    name: &str,
) -> Result<Summary> {
    let ctx = prepare(recordings, opts)?;
    let mut sink = Sink::new(out, name);
    write_trace(&ctx, &mut sink)
}

/// Checks the input and resolves the window, before anything is written.
pub fn prepare<'r>(recordings: &'r [Recording], opts: &PerfettoOptions) -> Result<Ctx<'r>> {
    let any = EVENT_TABLES
        .iter()
        .any(|t| recordings.iter().any(|r| r.has_table(t)));
    if !any {
        let names: Vec<String> = recordings.iter().map(|r| r.root.display().to_string()).collect();
        return Err(Error::Usage(format!(
            "{}: no table a trace can show (sched_switch, sched_wakeup, profile, offcpu, bio, file_op, \
             tcp_state, exec, exit): record with -e sched, profile, offcpu, bio, fileio, tcp or exec",
            names.join(", ")
        )));
    }
    let clocks = Clocks::of(recordings)?;
    let window = Window::resolve(&opts.common, recordings)?;
    Ok(Ctx {
        recordings,
        window,
        clocks,
        common: opts.common.clone(),
        slice_rows: (crate::scan::slice_rows() / 2).max(1),
    })
}

/// Writes every part of the trace.
pub fn write_trace(ctx: &Ctx<'_>, sink: &mut Sink<'_>) -> Result<Summary> {
    let mut summary = Summary {
        from: format_rfc3339(ctx.window.start_ns),
        to: format_rfc3339(ctx.window.end_ns),
        ..Default::default()
    };
    procs::write_header(ctx, sink)?;
    procs::write_processes(ctx, sink, &mut summary)?;
    sched::write(ctx, sink, &mut summary)?;
    samples::write(ctx, sink, &mut summary)?;
    tracks::write(ctx, sink, &mut summary)?;
    sink.flush()?;
    summary.packets = sink.packets;
    summary.bytes = sink.bytes;
    summary.events = summary.switches
        + summary.wakeups
        + summary.samples
        + summary.process_rows
        + summary.slices.values().sum::<u64>()
        + summary.instants.values().sum::<u64>();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_field_one_of_trace() {
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, "x");
        sink.put(&packet(5, 1)).unwrap();
        sink.put(&packet(7, 2)).unwrap();
        assert_eq!(sink.packets, 2);
        let n = sink.bytes as usize;
        assert_eq!(n, out.len());
        let t = proto::Trace::decode(&out[..]).unwrap();
        assert_eq!(t.packet.len(), 2);
        assert_eq!(t.packet[1].timestamp, Some(7));
        assert_eq!(t.packet[1].timestamp_clock_id, Some(proto::CLOCK_MONOTONIC));
    }

    #[test]
    fn monotonic_times() {
        let c = Clocks {
            offsets: vec![100, 0],
        };
        assert_eq!(c.mono(0, 150), Some(50));
        assert_eq!(c.mono(0, 50), None);
        assert_eq!(c.mono(1, i64::MIN), None);
        assert_eq!(c.mono(5, 3), Some(3));
    }
}
