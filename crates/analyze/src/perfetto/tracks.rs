//! The rows that become track events: slices (off-CPU episodes, file
//! operations, block requests, closed TCP connections), instants (execs,
//! exits) and counters (events lost per second, per family).
//!
//! Tracks: a thread's off-CPU episodes and file operations are tracks of
//! that thread (they never overlap within a thread); execs and exits are
//! instants on the thread's own track. Block requests and TCP
//! connections overlap, so each goes on the first free *lane* of its disk
//! (of the TCP group): lanes of one disk share its name, and the UI
//! merges them into one track with the slices stacked. A slice runs from
//! its row's start (`ts` minus its latency, duration or lifetime) to its
//! row's `ts`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use ktape_format::read::ScanUnit;

use super::proto::{self, CounterDescriptor, DebugAnnotation, ThreadDescriptor};
use super::proto::{EventName, InternedData, TrackDescriptor, TrackEvent};
use super::{packet, Ctx, Sink, Summary, SEQ_TRACKS};
use crate::columns::{self, Strings};
use crate::common::scan_rows;
use crate::error::Result;
use crate::time::NS_PER_SEC;

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Place {
    /// The thread's own track.
    Thread { tgid: i32, tid: i32, comm: Arc<str> },
    /// A track of the thread named `name`.
    OfThread { tgid: i32, tid: i32, comm: Arc<str>, name: &'static str },
    /// A free lane of `group` (`Block I/O`, `TCP connections`) named `lane`.
    Lane { group: &'static str, lane: Arc<str> },
}

/// One slice or instant, from one row.
struct Item {
    start: u64,
    /// `None` for an instant.
    end: Option<u64>,
    place: Place,
    name: String,
    args: Vec<DebugAnnotation>,
    /// The row's place in the recordings (recording, segment, row group,
    /// first time of its batch, row): ties in time are written in row order, so the same input
    /// always gives the same bytes.
    order: (usize, u64, usize, i64, usize),
}

/// Track keys, for their uuids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Thread(i32),
    OfThread(i32, &'static str),
    Group(&'static str),
    Lane(&'static str, Arc<str>, usize),
    Counter(String),
}

/// The tracks described so far, and the lanes' ends.
#[derive(Default)]
struct Tracks {
    uuids: HashMap<Key, u64>,
    /// Event and argument names by iid: a block request's name and its
    /// seven argument names are written once, not in every slice.
    names: HashMap<String, u64>,
    arg_names: HashMap<String, u64>,
    /// Whether the sequence's first interning packet was written.
    cleared: bool,
    /// Per (group, lane name): the end of each lane's last slice.
    lanes: HashMap<(&'static str, Arc<str>), Vec<u64>>,
}

impl Tracks {
    /// The iid of an event (`arg`: argument) name, adding it to `new` the
    /// first time.
    fn intern(&mut self, name: String, arg: bool, new: &mut Vec<EventName>) -> u64 {
        let table = if arg { &mut self.arg_names } else { &mut self.names };
        if let Some(&iid) = table.get(&name) {
            return iid;
        }
        let iid = table.len() as u64 + 1;
        new.push(EventName {
            iid: Some(iid),
            name: Some(name.clone()),
        });
        table.insert(name, iid);
        iid
    }

    /// The flags of a packet that uses interned names: the first one
    /// starts the sequence's state.
    fn flags(&mut self) -> u32 {
        let first = !std::mem::replace(&mut self.cleared, true);
        if first {
            proto::SEQ_INCREMENTAL_STATE_CLEARED | proto::SEQ_NEEDS_INCREMENTAL_STATE
        } else {
            proto::SEQ_NEEDS_INCREMENTAL_STATE
        }
    }

    /// The uuid of `key`, writing its descriptor the first time.
    fn uuid(&mut self, sink: &mut Sink<'_>, key: Key, desc: impl FnOnce(&mut Self, u64) -> Result<TrackDescriptor>) -> Result<u64> {
        if let Some(&u) = self.uuids.get(&key) {
            return Ok(u);
        }
        let u = self.uuids.len() as u64 + 1;
        self.uuids.insert(key, u);
        let d = desc(self, u)?;
        sink.put(&super::proto::TracePacket {
            trusted_packet_sequence_id: Some(SEQ_TRACKS),
            track_descriptor: Some(d),
            ..Default::default()
        })?;
        Ok(u)
    }

    fn thread(&mut self, sink: &mut Sink<'_>, tgid: i32, tid: i32, comm: &str) -> Result<u64> {
        self.uuid(sink, Key::Thread(tid), |_, u| {
            Ok(TrackDescriptor {
                uuid: Some(u),
                thread: Some(ThreadDescriptor {
                    pid: Some(tgid),
                    tid: Some(tid as i64),
                    thread_name: Some(comm.to_string()),
                }),
                ..Default::default()
            })
        })
    }

    fn named(name: &str, u: u64, parent: Option<u64>) -> TrackDescriptor {
        TrackDescriptor {
            uuid: Some(u),
            name: Some(name.to_string()),
            parent_uuid: parent,
            ..Default::default()
        }
    }

    /// The track of an item; for a lane, the first whose last slice ended
    /// before `start`.
    fn place(&mut self, sink: &mut Sink<'_>, it: &Item) -> Result<u64> {
        match &it.place {
            Place::Thread { tgid, tid, comm } => self.thread(sink, *tgid, *tid, comm),
            Place::OfThread { tgid, tid, comm, name } => {
                let t = self.thread(sink, *tgid, *tid, comm)?;
                self.uuid(sink, Key::OfThread(*tid, name), |_, u| Ok(Tracks::named(name, u, Some(t))))
            }
            Place::Lane { group, lane } => {
                let g = self.uuid(sink, Key::Group(group), |_, u| Ok(Tracks::named(group, u, None)))?;
                let ends = self.lanes.entry((group, lane.clone())).or_default();
                let end = it.end.unwrap_or(it.start);
                let i = match ends.iter().position(|&e| e < it.start) {
                    Some(i) => i,
                    None => {
                        ends.push(0);
                        ends.len() - 1
                    }
                };
                ends[i] = end;
                let name = lane.clone();
                self.uuid(sink, Key::Lane(group, lane.clone(), i), |_, u| Ok(Tracks::named(&name, u, Some(g))))
            }
        }
    }
}

/// Writes the items of one time slice, in start order.
fn emit(items: &mut [Item], tracks: &mut Tracks, sink: &mut Sink<'_>) -> Result<()> {
    items.sort_by_key(|a| (a.start, a.end, a.order));
    for it in items.iter_mut() {
        let track = tracks.place(sink, it)?;
        let mut interned = InternedData::default();
        let name_iid = tracks.intern(std::mem::take(&mut it.name), false, &mut interned.event_names);
        let mut args = std::mem::take(&mut it.args);
        for a in &mut args {
            if let Some(n) = a.name.take() {
                a.name_iid = Some(tracks.intern(n, true, &mut interned.debug_annotation_names));
            }
        }
        let mut p = packet(it.start, SEQ_TRACKS);
        p.sequence_flags = Some(tracks.flags());
        if !interned.event_names.is_empty() || !interned.debug_annotation_names.is_empty() {
            p.interned_data = Some(interned);
        }
        p.track_event = Some(TrackEvent {
            r#type: Some(if it.end.is_some() { proto::TYPE_SLICE_BEGIN } else { proto::TYPE_INSTANT }),
            track_uuid: Some(track),
            name_iid: Some(name_iid),
            debug_annotations: args,
            ..Default::default()
        });
        sink.put(&p)?;
        if let Some(end) = it.end {
            let mut p = packet(end, SEQ_TRACKS);
            p.track_event = Some(TrackEvent {
                r#type: Some(proto::TYPE_SLICE_END),
                track_uuid: Some(track),
                ..Default::default()
            });
            sink.put(&p)?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
/// A table's rows as items: `cols` read, `make` called per row that
/// passes the window (and `-p`/`--comm`/`--cgroup` when `filtered`).
fn table_items(
    ctx: &Ctx<'_>,
    table: &'static str,
    cols: &[&'static str],
    filtered: bool,
    kind: &'static str,
    is_slice: bool,
    tracks: &mut Tracks,
    sink: &mut Sink<'_>,
    summary: &mut Summary,
    make: impl Fn(&Ctx<'_>, &ScanUnit<'_>, &RecordBatch) -> Result<Vec<(usize, Item)>> + Sync + Send,
) -> Result<()> {
    if !ctx.has(table) {
        return Ok(());
    }
    let mut cols = cols.to_vec();
    if filtered {
        ctx.common.filter.add_columns(&mut cols);
    }
    let slices = crate::scan::time_slices(ctx.recordings, &[table], ctx.window.range, (ctx.slice_rows / 4).max(1));
    for slice in slices {
        let mut items: Vec<Item> = scan_rows(ctx.recordings, table, slice, &cols, |acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let keep = if filtered { Some(ctx.common.filter.prepare(batch, path)?) } else { None };
            let seg = unit.segment.kv.get(ktape_format::meta::SEGMENT).and_then(|s| s.parse().ok()).unwrap_or(0);
            for (i, mut it) in make(ctx, unit, batch)? {
                if slice.contains(ts[i]) && keep.as_ref().is_none_or(|k| k.keep(i)) {
                    it.order = (unit.recording, seg, unit.row_group, ts.first().copied().unwrap_or(0), i);
                    acc.push(it);
                }
            }
            Ok(())
        })?;
        let n = items.len() as u64;
        emit(&mut items, tracks, sink)?;
        let counts = if is_slice { &mut summary.slices } else { &mut summary.instants };
        *counts.entry(kind).or_default() += n;
    }
    Ok(())
}

/// `[ts - len, ts]` in monotonic time, when both ends are.
fn span(ctx: &Ctx<'_>, rec: usize, ts: i64, len: i64) -> Option<(u64, u64)> {
    let end = ctx.clocks.mono(rec, ts)?;
    let start = end.checked_sub(u64::try_from(len).ok()?)?;
    Some((start, end))
}

/// Perfetto's letter for a reported task state.
fn state_letter(raw: i64) -> &'static str {
    match super::sched::report_state(raw, false) {
        0 => "R",
        1 => "S",
        2 => "D",
        4 => "T",
        8 => "t",
        0x10 => "X",
        0x20 => "Z",
        0x40 => "P",
        0x80 => "I",
        _ => "?",
    }
}

/// Writes every track event.
pub fn write(ctx: &Ctx<'_>, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let mut tracks = Tracks::default();
    let t = &mut tracks;
    let thread = |tgid: i32, tid: i32, comm: &Arc<str>, name| Place::OfThread { tgid, tid, comm: comm.clone(), name };
    if !ctx.no_cgroup("offcpu", summary) {
        let cols = ["ts", "pid", "tgid", "comm", "state", "duration_ns"];
        table_items(ctx, "offcpu", &cols, true, "offcpu", true, t, sink, summary, |ctx, unit, b| {
            let p = &unit.segment.path;
            let (ts, pid, tgid) = (columns::timestamps(b, "ts", p)?, columns::i32s(b, "pid", p)?, columns::i32s(b, "tgid", p)?);
            let (comm, state, dur) = (Strings::from_batch(b, "comm", p)?, columns::i64s(b, "state", p)?, columns::i64s(b, "duration_ns", p)?);
            Ok((0..b.num_rows())
                .filter_map(|i| {
                    let (start, end) = span(ctx, unit.recording, ts[i], dur[i])?;
                    Some((i, Item {
                        start,
                        end: Some(end),
                        place: thread(tgid[i], pid[i], comm.get(i), "off-CPU"),
                        name: format!("off-CPU ({})", state_letter(state[i])),
                        args: vec![DebugAnnotation::int("state", state[i]), DebugAnnotation::int("duration_ns", dur[i])],
                        order: (0, 0, 0, 0, 0),
                    }))
                })
                .collect())
        })?;
    }
    let cols = ["ts", "pid", "tgid", "comm", "op", "fs", "path", "offset", "bytes", "ret", "latency_ns"];
    table_items(ctx, "file_op", &cols, true, "file_op", true, t, sink, summary, |ctx, unit, b| {
        let p = &unit.segment.path;
        let (ts, pid, tgid) = (columns::timestamps(b, "ts", p)?, columns::i32s(b, "pid", p)?, columns::i32s(b, "tgid", p)?);
        let (comm, op, fs, path) = (Strings::from_batch(b, "comm", p)?, Strings::from_batch(b, "op", p)?, Strings::from_batch(b, "fs", p)?, Strings::from_batch(b, "path", p)?);
        let (off, bytes, ret, lat) = (columns::i64s(b, "offset", p)?, columns::i64s(b, "bytes", p)?, columns::i64s(b, "ret", p)?, columns::i64s(b, "latency_ns", p)?);
        Ok((0..b.num_rows())
            .filter_map(|i| {
                let (start, end) = span(ctx, unit.recording, ts[i], lat[i])?;
                Some((i, Item {
                    start,
                    end: Some(end),
                    place: thread(tgid[i], pid[i], comm.get(i), "file I/O"),
                    name: op.get(i).to_string(),
                    args: vec![
                        DebugAnnotation::str("path", path.get(i)),
                        DebugAnnotation::str("fs", fs.get(i)),
                        DebugAnnotation::int("offset", off[i]),
                        DebugAnnotation::int("bytes", bytes[i]),
                        DebugAnnotation::int("ret", ret[i]),
                        DebugAnnotation::int("latency_ns", lat[i]),
                    ],
                    order: (0, 0, 0, 0, 0),
                }))
            })
            .collect())
    })?;
    let cols = ["ts", "disk", "op", "sector", "bytes", "latency_ns", "queue_ns", "error", "pid", "tgid", "comm"];
    table_items(ctx, "bio", &cols, true, "bio", true, t, sink, summary, |ctx, unit, b| {
        let p = &unit.segment.path;
        let (ts, disk, op) = (columns::timestamps(b, "ts", p)?, Strings::from_batch(b, "disk", p)?, Strings::from_batch(b, "op", p)?);
        let (sector, bytes, lat) = (columns::i64s(b, "sector", p)?, columns::i64s(b, "bytes", p)?, columns::i64s(b, "latency_ns", p)?);
        let (queue, err) = (columns::i64_array(b, "queue_ns", p)?, columns::i32s(b, "error", p)?);
        let (pid, tgid, comm) = (columns::i32s(b, "pid", p)?, columns::i32s(b, "tgid", p)?, Strings::from_batch(b, "comm", p)?);
        Ok((0..b.num_rows())
            .filter_map(|i| {
                let (start, end) = span(ctx, unit.recording, ts[i], lat[i])?;
                let mut args = vec![
                    DebugAnnotation::int("sector", sector[i]),
                    DebugAnnotation::int("bytes", bytes[i]),
                    DebugAnnotation::int("latency_ns", lat[i]),
                ];
                if queue.is_valid(i) {
                    args.push(DebugAnnotation::int("queue_ns", queue.value(i)));
                }
                args.extend([
                    DebugAnnotation::int("error", err[i] as i64),
                    DebugAnnotation::int("pid", pid[i] as i64),
                    DebugAnnotation::int("tgid", tgid[i] as i64),
                    DebugAnnotation::str("comm", comm.get(i)),
                ]);
                Some((i, Item {
                    start,
                    end: Some(end),
                    place: Place::Lane { group: "Block I/O", lane: disk.get(i).clone() },
                    name: op.get(i).to_string(),
                    args,
                    order: (0, 0, 0, 0, 0),
                }))
            })
            .collect())
    })?;
    if !ctx.no_cgroup("tcp_state", summary) {
        tcp(ctx, t, sink, summary)?;
    }
    let cols = ["ts", "pid", "tgid", "comm", "filename", "ret"];
    table_items(ctx, "exec", &cols, true, "exec", false, t, sink, summary, |ctx, unit, b| {
        let p = &unit.segment.path;
        let (ts, pid, tgid, comm) = (columns::timestamps(b, "ts", p)?, columns::i32s(b, "pid", p)?, columns::i32s(b, "tgid", p)?, Strings::from_batch(b, "comm", p)?);
        let (file, ret) = (Strings::from_batch(b, "filename", p)?, columns::i32s(b, "ret", p)?);
        Ok((0..b.num_rows())
            .filter_map(|i| {
                Some((i, Item {
                    start: ctx.clocks.mono(unit.recording, ts[i])?,
                    end: None,
                    place: Place::Thread { tgid: tgid[i], tid: pid[i], comm: comm.get(i).clone() },
                    name: format!("exec {}", file.get(i)),
                    args: vec![DebugAnnotation::str("filename", file.get(i)), DebugAnnotation::int("ret", ret[i] as i64)],
                    order: (0, 0, 0, 0, 0),
                }))
            })
            .collect())
    })?;
    let cols = ["ts", "pid", "tgid", "comm", "exit_code", "signal", "lifetime_ns"];
    table_items(ctx, "exit", &cols, true, "exit", false, t, sink, summary, |ctx, unit, b| {
        let p = &unit.segment.path;
        let (ts, pid, tgid, comm) = (columns::timestamps(b, "ts", p)?, columns::i32s(b, "pid", p)?, columns::i32s(b, "tgid", p)?, Strings::from_batch(b, "comm", p)?);
        let (code, sig, life) = (columns::i32s(b, "exit_code", p)?, columns::i32s(b, "signal", p)?, columns::i64s(b, "lifetime_ns", p)?);
        Ok((0..b.num_rows())
            .filter_map(|i| {
                Some((i, Item {
                    start: ctx.clocks.mono(unit.recording, ts[i])?,
                    end: None,
                    place: Place::Thread { tgid: tgid[i], tid: pid[i], comm: comm.get(i).clone() },
                    name: "exit".into(),
                    args: vec![
                        DebugAnnotation::int("exit_code", code[i] as i64),
                        DebugAnnotation::int("signal", sig[i] as i64),
                        DebugAnnotation::int("lifetime_ns", life[i]),
                    ],
                    order: (0, 0, 0, 0, 0),
                }))
            })
            .collect())
    })?;
    loss(ctx, t, sink, summary)
}

/// Closed TCP connections: the transitions to CLOSE that carry a
/// lifetime, as slices over that lifetime; `-p`/`--comm` match the
/// socket's owner.
fn tcp(ctx: &Ctx<'_>, t: &mut Tracks, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let cols = ["ts", "saddr", "daddr", "sport", "dport", "newstate", "lifetime_ns", "rx_bytes", "tx_bytes", "sk_pid", "sk_tgid", "sk_comm"];
    table_items(ctx, "tcp_state", &cols, false, "tcp", true, t, sink, summary, |ctx, unit, b| {
        let p = &unit.segment.path;
        let f = &ctx.common.filter;
        let (ts, saddr, daddr) = (columns::timestamps(b, "ts", p)?, Strings::from_batch(b, "saddr", p)?, Strings::from_batch(b, "daddr", p)?);
        let (sport, dport, state) = (columns::i32s(b, "sport", p)?, columns::i32s(b, "dport", p)?, Strings::from_batch(b, "newstate", p)?);
        let (life, rx, tx) = (columns::i64_array(b, "lifetime_ns", p)?, columns::i64_array(b, "rx_bytes", p)?, columns::i64_array(b, "tx_bytes", p)?);
        let (pid, tgid, comm) = (columns::i32_array(b, "sk_pid", p)?, columns::i32_array(b, "sk_tgid", p)?, Strings::from_batch(b, "sk_comm", p)?);
        let closed = state.matching(|s| s == "CLOSE");
        Ok((0..b.num_rows())
            .filter(|&i| closed[state.codes[i] as usize] && life.is_valid(i))
            .filter(|&i| f.pid.is_none_or(|x| tgid.is_valid(i) && tgid.value(i) == x))
            .filter(|&i| f.comm.as_ref().is_none_or(|c| pid.is_valid(i) && **c == **comm.get(i)))
            .filter_map(|i| {
                let (start, end) = span(ctx, unit.recording, ts[i], life.value(i))?;
                let mut args = vec![
                    DebugAnnotation::str("saddr", saddr.get(i)),
                    DebugAnnotation::int("sport", sport[i] as i64),
                    DebugAnnotation::str("daddr", daddr.get(i)),
                    DebugAnnotation::int("dport", dport[i] as i64),
                    DebugAnnotation::int("lifetime_ns", life.value(i)),
                ];
                for (name, a) in [("rx_bytes", rx), ("tx_bytes", tx)] {
                    if a.is_valid(i) {
                        args.push(DebugAnnotation::int(name, a.value(i)));
                    }
                }
                if pid.is_valid(i) {
                    args.push(DebugAnnotation::int("pid", pid.value(i) as i64));
                    args.push(DebugAnnotation::str("comm", comm.get(i)));
                }
                Some((i, Item {
                    start,
                    end: Some(end),
                    place: Place::Lane { group: "TCP connections", lane: Arc::from("TCP") },
                    name: format!("{}:{}", daddr.get(i), dport[i]),
                    args,
                    order: (0, 0, 0, 0, 0),
                }))
            })
            .collect())
    })
}

/// Events lost per second, a counter track per family: 0 at the window's
/// start, each second's loss at its start, and 0 again after it.
fn loss(ctx: &Ctx<'_>, t: &mut Tracks, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let table = ktape_format::loss::TABLE.name;
    if !ctx.has(table) {
        return Ok(());
    }
    let range = ctx.window.range;
    let rows: Vec<(String, u64, u64)> = scan_rows(ctx.recordings, table, range, &["ts", "family", "lost"], |acc, unit, b| {
        let p = &unit.segment.path;
        let (ts, fam, lost) = (columns::timestamps(b, "ts", p)?, Strings::from_batch(b, "family", p)?, columns::i64s(b, "lost", p)?);
        for i in 0..b.num_rows() {
            if let (true, Some(m), Ok(n)) = (range.contains(ts[i]), ctx.clocks.mono(unit.recording, ts[i]), u64::try_from(lost[i])) {
                acc.push((fam.get(i).to_string(), m, n));
            }
        }
        Ok(())
    })?;
    let mut seconds: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for (f, m, n) in rows {
        let e = seconds.entry((f, m)).or_default();
        *e = e.saturating_add(n);
    }
    let mut families: BTreeSet<String> = ctx.recordings.iter().flat_map(|r| r.info.families.iter().cloned()).collect();
    families.extend(seconds.keys().map(|(f, _)| f.clone()));
    let start = ctx.clocks.mono(0, ctx.window.start_ns).unwrap_or(0);
    let end = ctx.clocks.mono(0, ctx.window.end_ns).unwrap_or(u64::MAX);
    for fam in families {
        let name = format!("lost {fam} events");
        let u = t.uuid(sink, Key::Counter(fam.clone()), |_, u| {
            Ok(TrackDescriptor {
                counter: Some(CounterDescriptor { unit: Some(proto::UNIT_COUNT), unit_name: Some("events/s".into()) }),
                ..Tracks::named(&name, u, None)
            })
        })?;
        let mut points: BTreeMap<u64, u64> = BTreeMap::new();
        points.insert(start, 0);
        for ((_, s), n) in seconds.range((fam.clone(), 0)..=(fam.clone(), u64::MAX)) {
            points.insert(*s, *n);
            summary.lost = summary.lost.saturating_add(*n);
        }
        // Back to 0 when a lossy second ends, but never past the window:
        // the recording's last second is usually cut short by its stop.
        let lossy: Vec<u64> = points.iter().filter(|(_, &n)| n > 0).map(|(&s, _)| s).collect();
        for s in lossy {
            let after = (s + NS_PER_SEC as u64).min(end);
            if after > s {
                points.entry(after).or_insert(0);
            }
        }
        for (ts, n) in points {
            let mut p = packet(ts, SEQ_TRACKS);
            p.track_event = Some(TrackEvent {
                r#type: Some(proto::TYPE_COUNTER),
                track_uuid: Some(u),
                counter_value: Some(n as i64),
                ..Default::default()
            });
            sink.put(&p)?;
            summary.loss_points += 1;
        }
    }
    if summary.lost > 0 {
        summary.warnings.push(format!(
            "WARNING: {} events were lost by the recorder in the window (the `lost … events` counter tracks show when)",
            summary.lost
        ));
    }
    Ok(())
}
