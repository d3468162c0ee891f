//! `runqlat`: run-queue (scheduler) latency as a log2 histogram, like
//! bcc's libbpf-tools `runqlat`, computed from the raw `sched_switch` and
//! `sched_wakeup` rows.
//!
//! The pairing of queue events with switch-ins, and the time slices that
//! keep its memory bounded, are [`crate::pairing`]'s (cpudist and
//! runqslower pair through it too).
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

use ktape_format::read::Recording;
use ktape_format::sched::{SWITCH_TABLE, WAKEUP_TABLE};
use serde::Serialize;

use crate::common::{
    interval_bounds, interval_count, interval_index, table_notes, Options, Window,
};
use crate::error::{Error, Result};
use crate::hist::{self, Bucket, Log2Hist, Slots};
use crate::loss::Loss;
use crate::output::Out;
use crate::pairing::{collect, collect_comms, pair_slices, slices, Comms};
pub use crate::pairing::{latencies, latencies_where, Latency};
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
    /// How values map to slots. Default: log2 (what the text and JSON
    /// print); heatmap's linear rows set `Linear`.
    pub slots: Slots,
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

/// Checks the options and resolves the window (cut to `--count`
/// intervals). Shared with cpudist.
pub(crate) fn prepare(recordings: &[Recording], opts: &RunqlatOptions) -> Result<Window> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    if opts.per_process && opts.per_thread {
        return Err(Error::Usage("-P and -L cannot be combined".into()));
    }
    if opts.common.filter.cgroup_id.is_some() {
        return Err(Error::Usage(
            "--cgroup: the sched tables have no cgroup column".into(),
        ));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
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
                h.entry(k)
                    .or_default()
                    .add_in(opts.slots, (l.latency_ns / scale) as u64);
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
    let loss = Loss::read(recordings, SWITCH_TABLE.family, window.range)?;

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

/// Checks what runqlat and runqslower read (`sched_switch`, its loss, and
/// `sched_wakeup`, without which only the waits of preempted tasks pair):
/// the warnings for what is missing.
pub(crate) fn check_tables(recordings: &[Recording]) -> Result<Vec<String>> {
    tables::check(
        recordings,
        &Needs {
            table: SWITCH_TABLE.name,
            also: &[(WAKEUP_TABLE.name, WITHOUT_WAKEUPS)],
            loss: true,
        },
    )
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &RunqlatOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = check_tables(recordings)?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        out.json(&to_json(&r, opts))?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[SWITCH_TABLE.name, WAKEUP_TABLE.name])?;
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

/// `runqlat` on the command line (cpudist flattens it too).
#[derive(clap::Args)]
pub struct RunqlatArgs {
    /// Millisecond histogram.
    #[arg(short = 'm', long = "milliseconds")]
    millis: bool,
    /// A histogram per process.
    #[arg(short = 'P', long = "pids")]
    per_process: bool,
    /// A histogram per thread.
    #[arg(short = 'L', long = "tids")]
    per_thread: bool,
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    window: crate::cli::IntervalArgs,
    #[command(flatten)]
    pub(crate) common: crate::cli::CommonArgs,
}

impl RunqlatArgs {
    /// The library's options.
    pub fn options(&self) -> RunqlatOptions {
        RunqlatOptions {
            common: self.common.options(),
            millis: self.millis,
            per_process: self.per_process,
            per_thread: self.per_thread,
            timestamp: self.timestamp,
            localtime: self.localtime,
            interval_ns: self.window.interval,
            count: self.window.count,
            slots: Slots::Log2,
        }
    }
}

impl crate::cli::Run for RunqlatArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        run(&recs, &self.options(), out).context("runqlat")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
