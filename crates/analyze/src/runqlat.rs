//! `runqlat`: run-queue (scheduler) latency as a log2 histogram, like
//! bcc's libbpf-tools `runqlat`, computed from the raw `sched_switch` and
//! `sched_wakeup` rows.
//!
//! # Pairing
//!
//! A thread becomes *queued* at a `sched_wakeup` row for it (`new` or not)
//! or when it is switched out while still runnable (`sched_switch` with
//! `prev_pid` = it and `preempt OR prev_state = 0`). Its latency ends at
//! its next switch-in (`next_pid` = it): latency = switch-in `ts` − the
//! latest queue event since its previous switch-in, the same as bcc, whose
//! map entry is overwritten by each queue event and deleted at switch-in.
//! The idle task (pid 0) is never counted. Events at the same `ts` order a
//! queue event before a switch-in. A switch-in with no queue event in the
//! window (the thread was queued before `--from` or before recording
//! started) has no latency. `formats/sql/runqlat.sql` is the same pairing
//! as window functions; the end-to-end test checks that both count the same
//! pairs.
//!
//! # Parallelism and memory
//!
//! The window is cut into time slices of about two million rows
//! ([`crate::common::time_slices`], from the row groups' footers), taken
//! one after the other. A slice's rows are scanned in parallel (rayon,
//! over row groups) into compact 16-byte events (`ts`, `pid`, `tgid`,
//! kind), sorted in parallel by (pid, ts, kind) and split at pid
//! boundaries, so each task pairs whole threads' histories independently.
//! A thread still queued at the end of a slice carries its queue event
//! into the next, so the pairs are exactly those of one pass over the
//! whole window. Memory is one slice's events (at most 64 MiB), one
//! carried event per thread and one 512-byte histogram per group and
//! interval: about 130 MiB peak for 11.6 million `sched_switch` and 6.8
//! million `sched_wakeup` rows (520 MiB before slicing). With `-P`, `-L`
//! or `--comm` a first pass reads each thread's comm (one entry per
//! thread).
//!
//! # Filters and groups
//!
//! `-p` (tgid) and `--comm` select latencies by the switched-in thread
//! (`next_tgid`, `next_comm`); pairing itself always sees every thread, so
//! a filter never changes which events pair. `-L` groups by thread, `-P` by
//! process; the comm shown is the thread's name at its last switch-in in
//! the window (with `-P`: of the process's thread switched in last), so a
//! thread that exec'd shows its new name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ktape_format::read::{Recording, TimeRange};
use ktape_format::sched::{SWITCH, WAKEUP};
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{
    interval_bounds, interval_count, interval_index, scan, slice_rows, table_notes, time_slices,
    Options, Window,
};
use crate::error::{Error, Result};
use crate::hist::{self, Bucket, Log2Hist};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs, WITHOUT_WAKEUPS};
use crate::time::{format_rfc3339, NS_PER_MS, NS_PER_US};

/// Options of `runqlat`. The default prints one µs histogram over the
/// whole recording.
#[derive(Debug, Clone, Default)]
pub struct RunqlatOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-m`: milliseconds instead of microseconds. Default: µs.
    pub millis: bool,
    /// `-P`: one histogram per process (tgid). Default: all together.
    pub per_process: bool,
    /// `-L`: one histogram per thread (pid). Default: all together.
    pub per_thread: bool,
    /// `-T`: print the time before each histogram set. Default: off, but
    /// always on with `interval_ns`.
    pub timestamp: bool,
    /// Print `-T` times in local time instead of UTC. Default: UTC.
    pub localtime: bool,
    /// `--interval`: one histogram set per interval of recorded time, ns.
    /// Default: one for the whole window.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
}

/// Kind bit of [`Ev::tgid_kind`]: the event that ends a pair (runqlat: a
/// switch-in; cpudist -O: a switch-in; else it starts one).
pub(crate) const SWITCH_IN: u32 = 1 << 31;

/// One event of a thread that starts a pair (runqlat: a queue event;
/// cpudist -O: a switch-out) or ends one (a switch-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ev {
    pub(crate) ts: i64,
    pub(crate) pid: i32,
    /// tgid of an ending event, with [`SWITCH_IN`] set; 0 for a starting one.
    pub(crate) tgid_kind: u32,
}

impl Ev {
    #[inline]
    fn key(&self) -> (i32, i64, u32) {
        // Queue events (kind 0) sort before a switch-in at the same ts.
        (self.pid, self.ts, self.tgid_kind >> 31)
    }
}

/// Per thread or process: (ts of the last switch-in seen, comm then).
pub(crate) type Comms = HashMap<i32, (i64, Arc<str>)>;

/// Keeps the comm of `key`'s latest switch-in.
#[inline]
pub(crate) fn note_comm(comms: &mut Comms, key: i32, ts: i64, comm: &Arc<str>) {
    let e = comms.entry(key).or_insert_with(|| (ts, comm.clone()));
    if ts > e.0 {
        *e = (ts, comm.clone());
    }
}

/// Merges two comm maps, the latest switch-in winning.
pub(crate) fn merge_comms(a: &mut Comms, b: Comms) {
    for (k, (ts, c)) in b {
        note_comm(a, k, ts, &c);
    }
}

/// Each thread's comm at its last switch-in in `range` (with `by_tgid`:
/// each process's, from its thread switched in last): one pass over
/// `sched_switch` that holds one entry per thread. Shared with cpudist.
pub(crate) fn collect_comms(
    recordings: &[Recording],
    range: TimeRange,
    by_tgid: bool,
) -> Result<Comms> {
    scan(
        recordings,
        SWITCH.name,
        range,
        &["ts", "next_pid", "next_tgid", "next_comm"],
        Comms::new,
        |comms: &mut Comms, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let next = columns::i32s(batch, "next_pid", path)?;
            let ntgid = columns::i32s(batch, "next_tgid", path)?;
            let comm = Strings::from_batch(batch, "next_comm", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) && next[i] != 0 {
                    let key = if by_tgid { ntgid[i] } else { next[i] };
                    note_comm(comms, key, ts[i], comm.get(i));
                }
            }
            Ok(())
        },
        |mut a, b| {
            merge_comms(&mut a, b);
            a
        },
    )
}

fn append<T>(mut a: Vec<T>, mut b: Vec<T>) -> Vec<T> {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    a.append(&mut b);
    a
}

/// One histogram of one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// pid with `-L` (thread id), tgid with `-P`.
    pub id: Option<i32>,
    /// Comm of the thread at its last switch-in (with `-P`: of the
    /// process's thread switched in last).
    pub comm: Option<Arc<str>>,
    /// The histogram.
    pub hist: Log2Hist,
}

/// One interval's histograms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End (exclusive), ns since the epoch.
    pub end_ns: i64,
    /// Histograms, sorted by id.
    pub groups: Vec<Group>,
    /// `sched` events lost in seconds overlapping the interval.
    pub lost: u64,
}

/// The computed report (also cpudist's: the same histogram sets).
#[derive(Debug, Clone)]
pub struct Runqlat {
    /// What the histograms measure, for the title line and JSON
    /// (`Run queue latency`, `On-CPU time` …).
    pub what: &'static str,
    /// Report name for JSON (`runqlat`, `cpudist`).
    pub report: &'static str,
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// Lost `sched` events overlapping the window.
    pub loss: Loss,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

/// One run-queue latency: the thread, its process, when it was switched
/// in and how long it waited (ns). Used by runqslower and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub pid: i32,
    pub tgid: i32,
    pub ts: i64,
    pub latency_ns: i64,
}

/// Collects the queue and switch-in events of `range` (one time slice).
fn collect(recordings: &[Recording], range: TimeRange) -> Result<Vec<Ev>> {
    let cols = [
        "ts",
        "prev_pid",
        "prev_state",
        "preempt",
        "next_pid",
        "next_tgid",
    ];
    let switches = scan(
        recordings,
        SWITCH.name,
        range,
        &cols,
        Vec::new,
        |evs: &mut Vec<Ev>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let prev = columns::i32s(batch, "prev_pid", path)?;
            let state = columns::i64s(batch, "prev_state", path)?;
            let preempt = columns::bools(batch, "preempt", path)?;
            let next = columns::i32s(batch, "next_pid", path)?;
            let ntgid = columns::i32s(batch, "next_tgid", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) {
                    continue;
                }
                if prev[i] != 0
                    && (state[i] == ktape_format::sched::TASK_RUNNING || preempt.value(i))
                {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: prev[i],
                        tgid_kind: 0,
                    });
                }
                if next[i] != 0 {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: next[i],
                        tgid_kind: ntgid[i] as u32 | SWITCH_IN,
                    });
                }
            }
            Ok(())
        },
        append,
    )?;
    let wakeups = scan(
        recordings,
        WAKEUP.name,
        range,
        &["ts", "pid"],
        Vec::new,
        |evs: &mut Vec<Ev>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) && pid[i] != 0 {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: pid[i],
                        tgid_kind: 0,
                    });
                }
            }
            Ok(())
        },
        append,
    )?;
    Ok(append(switches, wakeups))
}

/// The time slices runqlat's pairing walks through (see the module docs).
pub(crate) fn slices(recordings: &[Recording], range: TimeRange) -> Vec<TimeRange> {
    time_slices(recordings, &[SWITCH.name, WAKEUP.name], range, slice_rows())
}

/// Pairs the events of one time slice: calls `f` with every latency, in
/// parallel over threads (so `f` folds into a per-task accumulator). A
/// pair is the latest starting event of a thread since its previous
/// ending event, and that ending event. Returns the accumulator and the
/// starting events still waiting for their end, one per thread at most,
/// for the next slice.
pub(crate) fn pair<A, I, F, M>(mut evs: Vec<Ev>, init: &I, f: &F, merge: &M) -> (A, Vec<Ev>)
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, Latency) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    evs.par_sort_unstable_by_key(Ev::key);
    // Split into chunks that never cut a thread's history.
    let n = evs.len();
    let target = (n / (rayon::current_num_threads() * 4)).max(64 * 1024);
    let mut bounds = vec![0];
    let mut at = target;
    while at < n {
        let pid = evs[at].pid;
        while at < n && evs[at].pid == pid {
            at += 1;
        }
        bounds.push(at);
        at += target;
    }
    if *bounds.last().unwrap() != n {
        bounds.push(n);
    }
    bounds
        .par_windows(2)
        .fold(
            || (init(), Vec::new()),
            |(mut acc, mut waiting), w| {
                let mut queued: Option<Ev> = None;
                for e in &evs[w[0]..w[1]] {
                    if let Some(q) = queued {
                        if q.pid != e.pid {
                            waiting.push(q);
                            queued = None;
                        }
                    }
                    if e.tgid_kind & SWITCH_IN == 0 {
                        queued = Some(*e);
                        continue;
                    }
                    if let Some(q) = queued.take() {
                        f(
                            &mut acc,
                            Latency {
                                pid: e.pid,
                                tgid: (e.tgid_kind & !SWITCH_IN) as i32,
                                ts: e.ts,
                                // Sorted by ts, so never negative; saturating
                                // for a damaged ts at each end of the clock.
                                latency_ns: e.ts.saturating_sub(q.ts),
                            },
                        );
                    }
                }
                waiting.extend(queued);
                (acc, waiting)
            },
        )
        .reduce(
            || (init(), Vec::new()),
            |(a, wa), (b, wb)| (merge(a, b), append(wa, wb)),
        )
}

/// [`pair`] over consecutive time slices, each collected by `collect`
/// only when its turn comes, with the waiting events carried from one
/// slice to the next: the same pairs as one pass over everything, in the
/// memory of one slice.
pub(crate) fn pair_slices<A, C, I, F, M>(
    slices: &[TimeRange],
    collect: C,
    init: I,
    f: F,
    merge: M,
) -> Result<A>
where
    A: Send,
    C: Fn(TimeRange) -> Result<Vec<Ev>>,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, Latency) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    let mut acc = init();
    let mut waiting = Vec::new();
    for &slice in slices {
        let evs = append(collect(slice)?, waiting);
        let (a, w) = pair(evs, &init, &f, &merge);
        acc = merge(acc, a);
        waiting = w;
    }
    Ok(acc)
}

/// Every run-queue latency of the window (unfiltered), for callers that
/// need the rows themselves, sorted by (ts, pid).
pub fn latencies(recordings: &[Recording], window: &Window) -> Result<Vec<Latency>> {
    latencies_where(recordings, window, |_| true)
}

/// The run-queue latencies of the window that `keep` selects, sorted by
/// (ts, pid): only those are held (runqslower keeps the slow ones).
pub fn latencies_where(
    recordings: &[Recording],
    window: &Window,
    keep: impl Fn(&Latency) -> bool + Sync + Send,
) -> Result<Vec<Latency>> {
    let mut v = pair_slices(
        &slices(recordings, window.range),
        |range| collect(recordings, range),
        Vec::new,
        |v: &mut Vec<Latency>, l| {
            if keep(&l) {
                v.push(l)
            }
        },
        append,
    )?;
    v.par_sort_unstable_by_key(|l| (l.ts, l.pid));
    Ok(v)
}

/// Checks the options and resolves the window (cut to `--count`
/// intervals). Shared with cpudist.
pub(crate) fn prepare(recordings: &[Recording], opts: &RunqlatOptions) -> Result<Window> {
    if matches!(opts.interval_ns, Some(i) if i <= 0) {
        return Err(Error::Usage("--interval must be positive".into()));
    }
    if opts.count.is_some() && opts.interval_ns.is_none() {
        return Err(Error::Usage("--count needs --interval".into()));
    }
    if opts.per_process && opts.per_thread {
        return Err(Error::Usage("-P and -L cannot be combined".into()));
    }
    if opts.common.filter.cgroup_id.is_some() {
        return Err(Error::Usage(
            "--cgroup: the sched tables have no cgroup column".into(),
        ));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    let base = window.start_ns;
    if let (Some(iv), Some(n)) = (opts.interval_ns, opts.count) {
        let limit = base.saturating_add(iv.saturating_mul(n as i64));
        window.range.to_ns = Some(window.range.to_ns.map_or(limit, |t| t.min(limit)));
        window.end_ns = window.end_ns.min(limit);
    }
    Ok(window)
}

/// Where a value measured at `ts` of thread `pid` (process `tgid`) goes:
/// (interval index, group id), or None when `-p`/`--comm` drop it.
/// Shared with cpudist.
#[inline]
pub(crate) fn bin(
    opts: &RunqlatOptions,
    base: i64,
    comms: &Comms,
    pid: i32,
    tgid: i32,
    ts: i64,
) -> Option<(i64, i32)> {
    let filter = &opts.common.filter;
    if filter.pid.is_some_and(|p| p != tgid) {
        return None;
    }
    if let Some(c) = &filter.comm {
        let key = if opts.per_process { tgid } else { pid };
        if comms.get(&key).is_none_or(|(_, have)| **have != **c) {
            return None;
        }
    }
    let iv = opts.interval_ns.map_or(0, |n| interval_index(ts, base, n));
    let id = if opts.per_thread {
        pid
    } else if opts.per_process {
        tgid
    } else {
        0
    };
    Some((iv, id))
}

/// Merges per-task histogram maps.
pub(crate) fn merge_hists(
    mut a: HashMap<(i64, i32), Log2Hist>,
    b: HashMap<(i64, i32), Log2Hist>,
) -> HashMap<(i64, i32), Log2Hist> {
    for (k, h) in b {
        a.entry(k).or_default().merge(&h);
    }
    a
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &RunqlatOptions) -> Result<Runqlat> {
    let window = prepare(recordings, opts)?;
    let base = window.start_ns;
    let grouped = opts.per_process || opts.per_thread;
    let filter = &opts.common.filter;
    let want_comms = grouped || filter.comm.is_some();
    let comms = if want_comms {
        collect_comms(recordings, window.range, opts.per_process)?
    } else {
        Comms::new()
    };
    let scale = if opts.millis { NS_PER_MS } else { NS_PER_US };

    let hists: HashMap<(i64, i32), Log2Hist> = pair_slices(
        &slices(recordings, window.range),
        |range| collect(recordings, range),
        HashMap::new,
        |h: &mut HashMap<(i64, i32), Log2Hist>, l| {
            if let Some(k) = bin(opts, base, &comms, l.pid, l.tgid, l.ts) {
                h.entry(k).or_default().add((l.latency_ns / scale) as u64);
            }
        },
        merge_hists,
    )?;
    assemble(
        recordings,
        opts,
        window,
        hists,
        &comms,
        ("Run queue latency", "runqlat"),
    )
}

/// Builds the report from the binned histograms. Shared with cpudist.
pub(crate) fn assemble(
    recordings: &[Recording],
    opts: &RunqlatOptions,
    window: Window,
    hists: HashMap<(i64, i32), Log2Hist>,
    comms: &Comms,
    (what, report): (&'static str, &'static str),
) -> Result<Runqlat> {
    let base = window.start_ns;
    let grouped = opts.per_process || opts.per_thread;
    let loss = Loss::read(recordings, SWITCH.family, window.range)?;

    let n = match opts.interval_ns {
        Some(iv) => interval_count(recordings, &window, iv, opts.count)?,
        None => 1,
    };
    let mut by_iv: BTreeMap<i64, BTreeMap<i32, Log2Hist>> =
        (0..n).map(|k| (k, BTreeMap::new())).collect();
    for ((iv, id), h) in hists {
        by_iv.entry(iv).or_default().insert(id, h);
    }
    let intervals = by_iv
        .into_iter()
        .map(|(k, groups)| {
            let (start_ns, end_ns) = match opts.interval_ns {
                Some(iv) => interval_bounds(base, iv, k),
                None => (window.start_ns, window.end_ns),
            };
            let lost = if loss.total() > 0 {
                loss.lost_between(start_ns, end_ns)
            } else {
                0
            };
            let groups = groups
                .into_iter()
                .map(|(id, hist)| Group {
                    id: grouped.then_some(id),
                    comm: grouped.then(|| {
                        comms
                            .get(&id)
                            .map(|(_, c)| c.clone())
                            .unwrap_or_else(|| Arc::from(""))
                    }),
                    hist,
                })
                .collect();
            Interval {
                start_ns,
                end_ns,
                groups,
                lost,
            }
        })
        .collect();
    Ok(Runqlat {
        what,
        report,
        window,
        intervals,
        loss,
        warnings: Vec::new(),
    })
}

/// What runqlat and runqslower read: without `sched_wakeup`, only the
/// waits of preempted tasks pair.
pub(crate) fn needs() -> [(&'static str, &'static str); 1] {
    [(WAKEUP.name, WITHOUT_WAKEUPS)]
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &RunqlatOptions, out: &mut Out<'_>) -> Result<()> {
    let also = needs();
    let warnings = tables::check(
        recordings,
        &Needs {
            table: SWITCH.name,
            also: &also,
            loss: true,
        },
    )?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        out.json(&to_json(&r, opts))?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[SWITCH.name, WAKEUP.name])?;
    if r.intervals.iter().all(|i| i.groups.is_empty()) {
        out.warn("note: no run-queue latency matches the window and filters")?;
    }
    Ok(())
}

/// Prints the report as libbpf-tools `runqlat` (or `cpudist`) does.
pub fn write_text(r: &Runqlat, opts: &RunqlatOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "{} recorded {} .. {} (UTC).",
        r.what,
        format_rfc3339(r.window.start_ns),
        format_rfc3339(r.window.end_ns)
    )?;
    let label_times = opts.timestamp || opts.interval_ns.is_some();
    for iv in &r.intervals {
        writeln!(out.out)?;
        if label_times {
            hist::write_interval_time(
                out.out,
                (iv.start_ns, iv.end_ns),
                r.window.end_ns,
                opts.localtime,
            )?;
        }
        for g in &iv.groups {
            let comm = g.comm.as_deref().unwrap_or("");
            if opts.per_process {
                writeln!(out.out, "\npid = {} {}", g.id.unwrap_or(0), comm)?;
            } else if opts.per_thread {
                writeln!(out.out, "\ntid = {} {}", g.id.unwrap_or(0), comm)?;
            }
            g.hist.write_text(out.out, hist::unit_label(opts.millis))?;
        }
        if iv.lost > 0 && opts.interval_ns.is_some() {
            out.warn(&hist::interval_loss_warning(
                "sched",
                (iv.start_ns, iv.end_ns),
                iv.lost,
            ))?;
        }
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonHist<'a> {
    /// Thread id with -L.
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<i32>,
    /// Process id with -P.
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm: Option<&'a str>,
    total: u64,
    buckets: Vec<Bucket>,
}

#[derive(Serialize)]
struct JsonInterval<'a> {
    start: String,
    end: String,
    lost_events: u64,
    incomplete: bool,
    histograms: Vec<JsonHist<'a>>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    report: &'static str,
    unit: &'static str,
    from: String,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    histograms: Option<Vec<JsonHist<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intervals: Option<Vec<JsonInterval<'a>>>,
    loss: serde_json::Value,
    /// What the input made different (missing tables).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

fn json_hists<'a>(iv: &'a Interval, opts: &RunqlatOptions) -> Vec<JsonHist<'a>> {
    iv.groups
        .iter()
        .map(|g| JsonHist {
            tid: if opts.per_thread { g.id } else { None },
            pid: if opts.per_process { g.id } else { None },
            comm: g.comm.as_deref(),
            total: g.hist.total(),
            buckets: g.hist.buckets(),
        })
        .collect()
}

/// The JSON form: like biolatency's, with histograms
/// `{tid (-L) | pid (-P), comm, total, buckets}`.
pub fn to_json<'a>(r: &'a Runqlat, opts: &'a RunqlatOptions) -> impl Serialize + 'a {
    let whole = opts.interval_ns.is_none().then(|| &r.intervals[0]);
    JsonReport {
        report: r.report,
        unit: hist::unit_label(opts.millis),
        from: format_rfc3339(r.window.start_ns),
        to: format_rfc3339(r.window.end_ns),
        histograms: whole.map(|iv| json_hists(iv, opts)),
        lost_events: whole.map(|iv| iv.lost),
        incomplete: whole.map(|iv| iv.lost > 0),
        interval_ns: opts.interval_ns,
        intervals: opts.interval_ns.map(|_| {
            r.intervals
                .iter()
                .map(|iv| JsonInterval {
                    start: format_rfc3339(iv.start_ns),
                    end: format_rfc3339(iv.end_ns),
                    lost_events: iv.lost,
                    incomplete: iv.lost > 0,
                    histograms: json_hists(iv, opts),
                })
                .collect()
        }),
        loss: r.loss.to_json(),
        warnings: &r.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pid: i32, ts: i64) -> Ev {
        Ev {
            ts,
            pid,
            tgid_kind: 0,
        }
    }
    fn s(pid: i32, ts: i64) -> Ev {
        Ev {
            ts,
            pid,
            tgid_kind: 7 | SWITCH_IN,
        }
    }

    type Lats = Vec<(i32, i64, i64)>;

    fn push(v: &mut Lats, l: Latency) {
        v.push((l.pid, l.ts, l.latency_ns))
    }

    /// The pairs of one pass, sorted, and the events left waiting.
    fn pairs(evs: Vec<Ev>) -> (Lats, Vec<Ev>) {
        let (mut v, mut waiting) = pair(evs, &Vec::new, &push, &append);
        v.sort();
        waiting.sort_by_key(Ev::key);
        (v, waiting)
    }

    fn lats(evs: Vec<Ev>) -> Lats {
        pairs(evs).0
    }

    #[test]
    fn latest_queue_event_pairs_with_the_next_switch_in() {
        let evs = vec![
            s(1, 5),  // switch-in without a queue event: nothing
            q(1, 10), // wakeup
            q(1, 12), // a second wakeup overwrites the first (bcc)
            s(1, 20), // 8
            s(1, 30), // no queue event since the last switch-in
            q(2, 40),
            s(2, 40), // same ts: the queue event comes first → 0
            q(1, 50),
            s(2, 60), // another thread's switch-in does not pair with 1's queue event
            s(1, 70), // 20
            q(3, 80), // never switched in: nothing
        ];
        let (got, waiting) = pairs(evs.clone());
        assert_eq!(got, vec![(1, 20, 8), (1, 70, 20), (2, 40, 0)]);
        // Thread 3 is still queued at the end: carried to the next slice.
        assert_eq!(waiting, vec![q(3, 80)]);
        // Cut anywhere, with the waiting events carried, the pairs are the
        // same.
        for cut in 0..=evs.len() {
            let (mut a, waiting) = pairs(evs[..cut].to_vec());
            let (b, _) = pairs(evs[cut..].iter().copied().chain(waiting).collect());
            a.extend(b);
            a.sort();
            assert_eq!(a, got, "cut at {cut}");
        }
    }

    #[test]
    fn chunks_never_split_a_thread() {
        // Enough events to be cut into several chunks.
        let mut evs = Vec::new();
        for pid in 1..=50 {
            for k in 0..5000i64 {
                evs.push(q(pid, k * 100));
                evs.push(s(pid, k * 100 + pid as i64));
            }
        }
        let got = lats(evs);
        assert_eq!(got.len(), 50 * 5000);
        assert!(got.iter().all(|&(pid, _, l)| l == pid as i64));
    }
}
