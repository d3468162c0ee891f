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
//! and the histogram labelled `Kbytes`. The histograms are biolatency's
//! computation over sizes instead of latencies (`biolatency::BioValue`),
//! so both reports read, filter and bucket `bio` rows the same way.

use ktape_format::read::Recording;
use serde::Serialize;

use crate::biolatency::{self, BioValue, Biolatency, BiolatencyOptions};
use crate::common::{table_notes, Options};
use crate::error::Result;
use crate::hist::{self, Bucket};
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

/// The computed report: biolatency's, one group per command name
/// (`Group::comm` is always set).
pub type Bitesize = Biolatency;

/// Computes the histograms: biolatency's computation over sizes, by name.
pub fn compute(recordings: &[Recording], opts: &BitesizeOptions) -> Result<Bitesize> {
    let bio = BiolatencyOptions {
        common: opts.common.clone(),
        timestamp: opts.timestamp,
        localtime: opts.localtime,
        disk: opts.disk.clone(),
        interval_ns: opts.interval_ns,
        count: opts.count,
        value: BioValue::Kib,
        per_comm: true,
        ..Default::default()
    };
    biolatency::compute(recordings, &bio)
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
            writeln!(out.out, "\nProcess Name = {}", g.comm.as_deref().unwrap_or(""))?;
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
                        comm: g.comm.as_deref().unwrap_or(""),
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
