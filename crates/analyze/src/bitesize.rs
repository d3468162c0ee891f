//! `bitesize`: block I/O sizes as a log2 histogram per process name, like
//! bcc's libbpf-tools `bitesize`, from the `bio` table.
//!
//! The value is `bytes / 1024` (integer division, KiB, as bcc divides the
//! request's `__data_len`), so a 64 KiB request falls in `64 -> 127`.
//! Requests are grouped by the submitter's command name, bcc's key
//! (`Process Name = dd`); bcc takes the name of whatever task issues the
//! request to the driver (often a kworker), ktape the submitter's
//! (`comm` of the `bio` row, empty when the submission was not seen).
//! `-p` keeps one process, `--comm` one name (bcc's `-c`), `-d` one disk.
//! Groups print in name order (bcc prints in hash-map order).
//!
//! Text output is bcc's: for each interval a blank line, the time (`-T`,
//! or always with `--interval`), then per name `\nProcess Name = NAME`
//! and the histogram labelled `Kbytes`. Memory is one 64-slot histogram
//! per (interval, name) and thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ktape_format::read::Recording;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{
    interval_bounds, interval_count, interval_index, scan, table_notes, Options, Window,
};
use crate::error::Result;
use crate::hist::{self, Bucket, Log2Hist};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::format_rfc3339;

/// Options of `bitesize`. The default prints one histogram per process
/// name over the whole recording.
#[derive(Debug, Clone, Default)]
pub struct BitesizeOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-T`: print the time before each histogram set. Default: off,
    /// always on with `interval_ns`.
    pub timestamp: bool,
    /// `-T` times in local time. Default: UTC.
    pub localtime: bool,
    /// `-d`: only this disk. Default: every disk.
    pub disk: Option<String>,
    /// `--interval`: one histogram set per interval, ns. Default: one.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
}

/// One process name's histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Command name of the submitter.
    pub comm: Arc<str>,
    /// Sizes in KiB.
    pub hist: Log2Hist,
}

/// One interval's histograms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End (exclusive), ns since the epoch.
    pub end_ns: i64,
    /// By name.
    pub groups: Vec<Group>,
    /// `bio` events lost in seconds overlapping the interval.
    pub lost: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Bitesize {
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// Lost `bio` events overlapping the window.
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &BitesizeOptions) -> Result<Bitesize> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let base = window.start_ns;
    let range = window.range;
    let mut cols = vec!["ts", "bytes", "comm"];
    if opts.disk.is_some() {
        cols.push("disk");
    }
    opts.common.filter.add_columns(&mut cols);
    let table = ktape_format::bio::TABLE.name;

    type Acc = (BTreeMap<(i64, Arc<str>), Log2Hist>, u64);
    let (acc, negative): Acc = scan(
        recordings,
        table,
        range,
        &cols,
        || (BTreeMap::new(), 0),
        |(acc, negative): &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let bytes = columns::i64s(batch, "bytes", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let disk_ok = match &opts.disk {
                Some(want) => {
                    let d = Strings::from_batch(batch, "disk", path)?;
                    let ok = d.matching(|v| v == want);
                    Some((d, ok))
                }
                None => None,
            };
            let filter = opts.common.filter.prepare(batch, path)?;
            let mut local: HashMap<(i64, u32), Log2Hist> = HashMap::new();
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                if let Some((d, ok)) = &disk_ok {
                    if !ok[d.codes[i] as usize] {
                        continue;
                    }
                }
                // A negative size is a damaged row: left out, counted, said.
                if bytes[i] < 0 {
                    *negative += 1;
                    continue;
                }
                let iv = opts
                    .interval_ns
                    .map_or(0, |n| interval_index(ts[i], base, n));
                local
                    .entry((iv, comm.codes[i]))
                    .or_default()
                    .add(bytes[i] as u64 / 1024);
            }
            for ((iv, c), h) in local {
                acc.entry((iv, comm.values[c as usize].clone()))
                    .or_default()
                    .merge(&h);
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
            "WARNING: {negative} bio rows with negative bytes were left out of the histograms (damaged rows)"
        ));
    }
    let n = match opts.interval_ns {
        Some(iv) => interval_count(recordings, &window, iv, None)?,
        None => 1,
    };
    let mut by_iv: BTreeMap<i64, Vec<Group>> = (0..n).map(|k| (k, Vec::new())).collect();
    for ((iv, comm), hist) in acc {
        by_iv.entry(iv).or_default().push(Group { comm, hist });
    }
    let intervals = by_iv
        .into_iter()
        .map(|(k, groups)| {
            let (start_ns, end_ns) = match opts.interval_ns {
                Some(iv) => interval_bounds(base, iv, k),
                None => (window.start_ns, window.end_ns),
            };
            Interval {
                start_ns,
                end_ns,
                groups,
                lost: loss.lost_between(start_ns, end_ns),
            }
        })
        .collect();
    Ok(Bitesize {
        window,
        intervals,
        loss,
        warnings,
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &BitesizeOptions, out: &mut Out<'_>) -> Result<()> {
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

/// Prints the report as libbpf-tools `bitesize` does.
pub fn write_text(r: &Bitesize, opts: &BitesizeOptions, out: &mut Out<'_>) -> Result<()> {
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
            writeln!(out.out, "\nProcess Name = {}", g.comm)?;
            g.hist.write_text(out.out, "Kbytes")?;
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
    comm: &'a str,
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
    interval_ns: Option<i64>,
    intervals: Vec<JsonInterval<'a>>,
    loss: serde_json::Value,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The JSON form: `intervals[]` (one without `--interval`), each with
/// `histograms[]` of `{comm, total, buckets}`, buckets `{slot, low, high,
/// count}` in KiB.
pub fn to_json<'a>(r: &'a Bitesize, opts: &BitesizeOptions) -> impl Serialize + 'a {
    JsonReport {
        report: "bitesize",
        unit: "Kbytes",
        from: format_rfc3339(r.window.start_ns),
        to: format_rfc3339(r.window.end_ns),
        interval_ns: opts.interval_ns,
        intervals: r
            .intervals
            .iter()
            .map(|iv| JsonInterval {
                start: format_rfc3339(iv.start_ns),
                end: format_rfc3339(iv.end_ns.min(r.window.end_ns)),
                lost_events: iv.lost,
                incomplete: iv.lost > 0,
                histograms: iv
                    .groups
                    .iter()
                    .map(|g| JsonHist {
                        comm: &g.comm,
                        total: g.hist.total(),
                        buckets: g.hist.buckets(),
                    })
                    .collect(),
            })
            .collect(),
        loss: r.loss.to_json(),
        warnings: &r.warnings,
    }
}

/// `bitesize` on the command line.
#[derive(clap::Args)]
pub struct BitesizeArgs {
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram set.
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
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for BitesizeArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = BitesizeOptions {
            common: self.common.options(),
            timestamp: self.timestamp,
            localtime: self.localtime,
            disk: self.disk,
            interval_ns: self.window.interval,
            count: self.window.count,
        };
        run(&recs, &opts, out).context("bitesize")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
