//! `biolatency`: block I/O latency as a log2 histogram, like bcc's
//! libbpf-tools `biolatency`.
//!
//! The value is `latency_ns` (issue → completion, the device's time), or
//! with `-Q` `queue_ns + latency_ns` (insert → completion; a null
//! `queue_ns`, a request that bypassed the scheduler queue, counts as 0),
//! divided (integer division, as bcc's BPF side does) into µs, or ms with
//! `-m`. Slot `i` holds `floor(log2(value))`, the same bucket DuckDB's
//! `floor(log2(latency_ns // 1000))` gives (0 for values below 1).
//!
//! Text output is bcc's block: for each interval a blank line, the time
//! (`-T`, or always when `--interval` is given) and for each histogram
//! bcc's header (`\ndisk = vda\t`, `flags = Sync-Write`, newline) and the
//! histogram. Groups print in sorted order (bcc prints in hash-map order).
//!
//! Memory is bounded: one 64-slot histogram per (interval, disk, flags)
//! and thread.
//!
//! `bitesize` is the same computation over another value (the request's
//! size in KiB, [`BioValue::Kib`]) grouped by command name (`per_comm`),
//! so it runs this one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::Array;
use ktape_format::read::Recording;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{
    group_labels, interval_bounds, interval_count, interval_index, scan, table_notes, Options,
    Window,
};
use crate::error::Result;
use crate::hist::{self, Bucket, Log2Hist, Slots};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_rfc3339, NS_PER_MS, NS_PER_US};

/// What a `bio` histogram counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BioValue {
    /// The request's latency (`-Q`, `-m` apply): biolatency.
    #[default]
    Latency,
    /// The request's size, `bytes / 1024` (integer division, as bcc
    /// divides `__data_len`): bitesize.
    Kib,
}

/// Options of `biolatency`. The default prints one µs histogram of device
/// latency over the whole recording.
#[derive(Debug, Clone, Default)]
pub struct BiolatencyOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-m`: milliseconds instead of microseconds. Default: µs.
    pub millis: bool,
    /// `-Q`: include the time queued in the OS (`queue_ns + latency_ns`).
    /// Default: device time only.
    pub queued: bool,
    /// `-D`: one histogram per disk. Default: all disks together.
    pub per_disk: bool,
    /// `-F`: one histogram per set of I/O flags. Default: all together.
    pub per_flag: bool,
    /// `-T`: print the time (`HH:MM:SS`, end of the interval) before each
    /// histogram set. Default: off, but always on with `interval_ns`.
    pub timestamp: bool,
    /// Print `-T` times in the analyzing machine's local time zone.
    /// Default: UTC (the recording's host may be anywhere).
    pub localtime: bool,
    /// `-d`: only this disk. Default: every disk.
    pub disk: Option<String>,
    /// `--interval`: one histogram set per interval of recorded time, ns.
    /// Default: one for the whole window.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
    /// `--by KEY`: one histogram per value of a fleet partition
    /// (`host=web1` folders) or, for `host`, per recorded host. Default:
    /// all recordings together.
    pub by: Option<String>,
    /// What the histograms count. Default: latency.
    pub value: BioValue,
    /// One histogram per submitter command name (bitesize's key).
    /// Default: all names together.
    pub per_comm: bool,
    /// How values map to slots. Default: log2 (what the text and JSON
    /// print); heatmap's linear rows set `Linear`.
    pub slots: Slots,
}

/// One histogram of one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The `--by` value (e.g. the host).
    pub by: Option<Arc<str>>,
    /// Disk name with `-D`.
    pub disk: Option<Arc<str>>,
    /// Flag set name with `-F`.
    pub flags: Option<Arc<str>>,
    /// Submitter command name with `per_comm`.
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
    /// Histograms, sorted by disk then flags.
    pub groups: Vec<Group>,
    /// Events of the `bio` family lost in seconds overlapping the interval.
    pub lost: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Biolatency {
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// Lost `bio` events overlapping the window.
    pub loss: Loss,
    /// What the input made different (damaged values left out), for
    /// stderr and the JSON.
    pub warnings: Vec<String>,
}

/// (interval, --by value, disk, flags, comm): the groups, in print order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    iv: i64,
    by: Option<Arc<str>>,
    disk: Option<Arc<str>>,
    flags: Option<Arc<str>>,
    comm: Option<Arc<str>>,
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &BiolatencyOptions) -> Result<Biolatency> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let base = window.start_ns;
    let range = window.range;

    let sizes = opts.value == BioValue::Kib;
    let mut cols = vec!["ts", if sizes { "bytes" } else { "latency_ns" }];
    if opts.queued && !sizes {
        cols.push("queue_ns");
    }
    if opts.per_comm {
        cols.push("comm");
    }
    if opts.per_disk || opts.disk.is_some() {
        cols.push("disk");
    }
    if opts.per_flag {
        cols.push("flags");
    }
    opts.common.filter.add_columns(&mut cols);
    let scale = match (opts.value, opts.millis) {
        (BioValue::Kib, _) => 1024,
        (BioValue::Latency, true) => NS_PER_MS,
        (BioValue::Latency, false) => NS_PER_US,
    };
    let table = ktape_format::bio::TABLE.name;
    let labels = match &opts.by {
        Some(key) => Some(group_labels(recordings, key)?),
        None => None,
    };

    // The histograms, and the rows left out for a negative latency.
    type Acc = (BTreeMap<Key, Log2Hist>, u64);
    let (acc, negative): Acc = scan(
        recordings,
        table,
        range,
        &cols,
        || (BTreeMap::new(), 0),
        |(acc, negative): &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let vals = columns::i64s(batch, cols[1], path)?;
            let queue = if opts.queued && !sizes {
                Some(columns::i64_array(batch, "queue_ns", path)?)
            } else {
                None
            };
            let disk = if opts.per_disk || opts.disk.is_some() {
                Some(Strings::from_batch(batch, "disk", path)?)
            } else {
                None
            };
            let disk_ok = match (&disk, &opts.disk) {
                (Some(d), Some(want)) => Some(d.matching(|v| v == want)),
                _ => None,
            };
            let flags = if opts.per_flag {
                Some(Strings::from_batch(batch, "flags", path)?)
            } else {
                None
            };
            let comm = if opts.per_comm {
                Some(Strings::from_batch(batch, "comm", path)?)
            } else {
                None
            };
            let filter = opts.common.filter.prepare(batch, path)?;
            // Group by dictionary codes within the batch; strings are
            // attached once per group when merging into the accumulator.
            let mut local: HashMap<(i64, u32, u32, u32), Log2Hist> = HashMap::new();
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                if let (Some(ok), Some(d)) = (&disk_ok, &disk) {
                    if !ok[d.codes[i] as usize] {
                        continue;
                    }
                }
                // A negative time is a damaged row, not a 0 µs request:
                // it is left out and counted, and the report says so.
                let mut v = vals[i];
                if let Some(q) = queue {
                    if !q.is_null(i) {
                        v = if q.value(i) < 0 {
                            -1
                        } else {
                            v.saturating_add(q.value(i))
                        };
                    }
                }
                if v < 0 {
                    *negative += 1;
                    continue;
                }
                let iv = opts
                    .interval_ns
                    .map_or(0, |n| interval_index(ts[i], base, n));
                let dc = if opts.per_disk {
                    disk.as_ref().map_or(0, |d| d.codes[i])
                } else {
                    0
                };
                let fc = flags.as_ref().map_or(0, |f| f.codes[i]);
                let cc = comm.as_ref().map_or(0, |c| c.codes[i]);
                local
                    .entry((iv, dc, fc, cc))
                    .or_default()
                    .add_in(opts.slots, (v / scale) as u64);
            }
            let by = labels.as_ref().map(|l| l[unit.recording].clone());
            for ((iv, dc, fc, cc), h) in local {
                let d = if opts.per_disk {
                    disk.as_ref().map(|d| d.values[dc as usize].clone())
                } else {
                    None
                };
                let key = Key {
                    iv,
                    by: by.clone(),
                    disk: d,
                    flags: flags.as_ref().map(|f| f.values[fc as usize].clone()),
                    comm: comm.as_ref().map(|c| c.values[cc as usize].clone()),
                };
                acc.entry(key).or_default().merge(&h);
            }
            Ok(())
        },
        |(mut a, na), (b, nb)| {
            for (k, h) in b {
                a.entry(k).or_default().merge(&h);
            }
            (a, na + nb)
        },
    )?;

    let loss = Loss::read(recordings, ktape_format::bio::TABLE.family, range)?;
    let mut warnings = Vec::new();
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} bio rows with {} were left out of the histograms (damaged rows)",
            match (opts.value, opts.queued) {
                (BioValue::Kib, _) => "negative bytes",
                (BioValue::Latency, true) => "a negative latency_ns or queue_ns",
                (BioValue::Latency, false) => "a negative latency_ns",
            }
        ));
    }

    // Every interval of the window is shown, empty ones too (bcc prints
    // its blank line and time even when nothing happened).
    let mut by_iv: BTreeMap<i64, Vec<Group>> = BTreeMap::new();
    let n = match opts.interval_ns {
        Some(iv) => interval_count(recordings, &window, iv, opts.count)?,
        None => 1,
    };
    for k in 0..n {
        by_iv.insert(k, Vec::new());
    }
    for (k, hist) in acc {
        by_iv.entry(k.iv).or_default().push(Group {
            by: k.by,
            disk: k.disk,
            flags: k.flags,
            comm: k.comm,
            hist,
        });
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
            Interval {
                start_ns,
                end_ns,
                groups,
                lost,
            }
        })
        .collect();
    Ok(Biolatency {
        window,
        intervals,
        loss,
        warnings,
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &BiolatencyOptions, out: &mut Out<'_>) -> Result<()> {
    let table = ktape_format::bio::TABLE.name;
    let mut warnings = tables::check(recordings, &Needs::one(table))?;
    let mut r = compute(recordings, opts)?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    if opts.common.json {
        out.json(&to_json(&r, opts))?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[table])?;
    if r.intervals.iter().all(|i| i.groups.is_empty()) {
        out.warn("note: no block I/O matches the window and filters")?;
    }
    Ok(())
}

/// Prints the report as libbpf-tools `biolatency` does.
pub fn write_text(r: &Biolatency, opts: &BiolatencyOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "Block device I/O recorded {} .. {} (UTC).",
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
            if let (Some(key), Some(v)) = (&opts.by, &g.by) {
                write!(out.out, "\n{key} = {v}")?;
                if !opts.per_disk {
                    writeln!(out.out)?;
                }
            }
            if opts.per_disk {
                write!(
                    out.out,
                    "\ndisk = {}\t",
                    g.disk.as_deref().unwrap_or("Unknown")
                )?;
            }
            if opts.per_flag {
                write!(
                    out.out,
                    "flags = {}",
                    g.flags.as_deref().unwrap_or("Unknown")
                )?;
            }
            writeln!(out.out)?;
            g.hist.write_text(out.out, hist::unit_label(opts.millis))?;
        }
        if iv.lost > 0 && opts.interval_ns.is_some() {
            out.warn(&hist::interval_loss_warning(
                "bio",
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
    /// The `--by` value (omitted without `--by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    disk: Option<&'a str>,
    flags: Option<&'a str>,
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
    value: &'static str,
    from: String,
    to: String,
    /// The `--by` key, when given: each histogram's `by` is its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    /// Without `--interval`: the histograms of the whole window.
    #[serde(skip_serializing_if = "Option::is_none")]
    histograms: Option<Vec<JsonHist<'a>>>,
    /// Without `--interval`: events lost in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<bool>,
    /// With `--interval`: one entry per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intervals: Option<Vec<JsonInterval<'a>>>,
    loss: serde_json::Value,
    /// What the input made different (missing tables, damaged rows).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

fn json_hists(iv: &Interval) -> Vec<JsonHist<'_>> {
    iv.groups
        .iter()
        .map(|g| JsonHist {
            by: g.by.as_deref(),
            disk: g.disk.as_deref(),
            flags: g.flags.as_deref(),
            total: g.hist.total(),
            buckets: g.hist.buckets(),
        })
        .collect()
}

/// The JSON form. Histograms are `{disk, flags, total, buckets}` with
/// buckets `{slot, low, high, count}` (the rows bcc prints; `disk`/`flags`
/// are null unless `-D`/`-F`). Without `--interval` they sit in a top-level
/// `histograms` array beside `lost_events`; with it, in `intervals[]`
/// (`start`, `end`, `lost_events`, `incomplete`, `histograms`). `loss`
/// lists the lossy seconds of the window.
pub fn to_json<'a>(r: &'a Biolatency, opts: &'a BiolatencyOptions) -> impl Serialize + 'a {
    let whole = opts.interval_ns.is_none().then(|| &r.intervals[0]);
    JsonReport {
        report: "biolatency",
        unit: hist::unit_label(opts.millis),
        value: if opts.queued {
            "queue_ns + latency_ns"
        } else {
            "latency_ns"
        },
        from: format_rfc3339(r.window.start_ns),
        to: format_rfc3339(r.window.end_ns),
        by: opts.by.as_deref(),
        histograms: whole.map(json_hists),
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
                    histograms: json_hists(iv),
                })
                .collect()
        }),
        loss: r.loss.to_json(),
        warnings: &r.warnings,
    }
}

/// `biolatency` on the command line.
#[derive(clap::Args)]
pub struct BiolatencyArgs {
    /// Millisecond histogram.
    #[arg(short = 'm', long = "milliseconds")]
    millis: bool,
    /// Include OS queued time (queue_ns + latency_ns).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// A histogram per disk.
    #[arg(short = 'D', long = "disks")]
    per_disk: bool,
    /// A histogram per set of I/O flags.
    #[arg(short = 'F', long = "flags")]
    per_flag: bool,
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Only this disk (e.g. vda).
    #[arg(short = 'd', long, value_name = "DISK")]
    disk: Option<String>,
    #[command(flatten)]
    window: crate::cli::IntervalArgs,
    /// One histogram per value of KEY across a fleet: a `KEY=VALUE` folder above each recording (fleet/host=web1/out.parquet), or for `host` the recorded host name.
    #[arg(long, value_name = "KEY")]
    by: Option<String>,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for BiolatencyArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = BiolatencyOptions {
            common: self.common.options(),
            millis: self.millis,
            queued: self.queued,
            per_disk: self.per_disk,
            per_flag: self.per_flag,
            timestamp: self.timestamp,
            localtime: self.localtime,
            disk: self.disk,
            interval_ns: self.window.interval,
            count: self.window.count,
            by: self.by,
            ..Default::default()
        };
        run(&recs, &opts, out).context("biolatency")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
