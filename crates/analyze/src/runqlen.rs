//! `runqlen`: run-queue length as a linear histogram, like bcc's
//! libbpf-tools `runqlen`, from the `runqlen` table (`-e runqlen`: each
//! CPU sampled at `-F` Hz, default 99).
//!
//! Each row is one sample of one CPU: how many tasks waited on its run
//! queue besides the one running. `-C` prints one histogram per CPU, `-O`
//! the run-queue occupancy instead (the share of samples in which at least
//! one task waited), both as bcc prints them. The scan folds samples into
//! per-CPU histograms in parallel, so memory is a few slots per CPU.

use std::collections::BTreeMap;

use ktape_format::read::Recording;
use ktape_format::runqlen::TABLE as RUNQLEN;
use serde::Serialize;

use crate::columns;
use crate::common::{scan, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::hist::{Bucket, LinearHist};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339};

/// Options of `runqlen`. Default: one histogram over all CPUs.
#[derive(Debug, Clone, Default)]
pub struct RunqlenOptions {
    /// `--from/--to`, `--json` (`-p`, `--comm`, `--cgroup` do not apply:
    /// a sample is of a CPU, not a task).
    pub common: Options,
    /// `-C`: one histogram (or occupancy) per CPU.
    pub per_cpu: bool,
    /// `-O`: print run-queue occupancy instead of histograms.
    pub occupancy: bool,
    /// `-T`: print the time (end of the window) before the output.
    pub timestamp: bool,
    /// `-T` in local time instead of UTC.
    pub localtime: bool,
}

/// One CPU's (or, without `-C`, every CPU's) samples.
#[derive(Debug, Clone)]
pub struct CpuHist {
    /// The CPU with `-C`.
    pub cpu: Option<i32>,
    pub hist: LinearHist,
    /// Sum of the sampled lengths, for the mean.
    pub sum: u64,
}

impl CpuHist {
    fn new(cpu: Option<i32>) -> Self {
        CpuHist {
            cpu,
            hist: LinearHist::new(0, 1),
            sum: 0,
        }
    }

    /// Samples.
    pub fn samples(&self) -> u64 {
        self.hist.total()
    }

    /// Mean queue length over the samples.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / self.samples().max(1) as f64
    }

    /// Share of samples with a task waiting, 0..1 (bcc's runqocc).
    pub fn occupancy(&self) -> f64 {
        let idle = self
            .hist
            .buckets()
            .iter()
            .find(|b| b.low == 0)
            .map_or(0, |b| b.count);
        (self.samples() - idle) as f64 / self.samples().max(1) as f64
    }
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Runqlen {
    pub window: Window,
    /// By CPU with `-C`, else one.
    pub hists: Vec<CpuHist>,
    pub loss: Loss,
    /// What the input made different (missing tables, damaged samples),
    /// for stderr and the JSON.
    pub warnings: Vec<String>,
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &RunqlenOptions) -> Result<Runqlen> {
    let f = &opts.common.filter;
    if f.pid.is_some() || f.comm.is_some() || f.cgroup_id.is_some() {
        return Err(Error::Usage(
            "-p, --comm and --cgroup do not apply to runqlen: a sample is of a CPU's run queue, not of a task".into(),
        ));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    // Histograms by CPU, and the samples left out for a negative length.
    type Acc = (BTreeMap<i32, CpuHist>, u64);
    let (by_cpu, negative) = scan(
        recordings,
        RUNQLEN.name,
        range,
        &["ts", "cpu", "len"],
        || (BTreeMap::new(), 0),
        |(acc, negative): &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let cpu = columns::i32s(batch, "cpu", path)?;
            let len = columns::i32s(batch, "len", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) {
                    continue;
                }
                // A negative queue length is a damaged sample, not an
                // empty queue: left out and counted, and said.
                if len[i] < 0 {
                    *negative += 1;
                    continue;
                }
                let h = acc
                    .entry(cpu[i])
                    .or_insert_with(|| CpuHist::new(Some(cpu[i])));
                let v = len[i] as u64;
                h.hist.add(v);
                h.sum = h.sum.saturating_add(v);
            }
            Ok(())
        },
        |(mut a, na), (b, nb)| {
            for (c, h) in b {
                let e = a.entry(c).or_insert_with(|| CpuHist::new(Some(c)));
                e.hist.merge(&h.hist);
                e.sum = e.sum.saturating_add(h.sum);
            }
            (a, na + nb)
        },
    )?;
    let hists = if opts.per_cpu {
        by_cpu.into_values().collect()
    } else {
        let mut all = CpuHist::new(None);
        for h in by_cpu.values() {
            all.hist.merge(&h.hist);
            all.sum = all.sum.saturating_add(h.sum);
        }
        vec![all]
    };
    let loss = Loss::read(recordings, RUNQLEN.family, range)?;
    let mut warnings = Vec::new();
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} runqlen samples with a negative len were left out (damaged rows)"
        ));
    }
    Ok(Runqlen {
        window,
        hists,
        loss,
        warnings,
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &RunqlenOptions, out: &mut Out<'_>) -> Result<()> {
    let mut warnings = tables::check(recordings, &Needs::one(RUNQLEN.name))?;
    let mut r = compute(recordings, opts)?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    if opts.common.json {
        out.json(&to_json(&r))?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[RUNQLEN.name])?;
    if r.hists.iter().all(|h| h.samples() == 0) {
        out.warn("note: no run-queue sample in the window")?;
    }
    Ok(())
}

/// Prints the report as libbpf-tools `runqlen` does.
pub fn write_text(r: &Runqlen, opts: &RunqlenOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "Run queue length sampled {} .. {} (UTC).",
        format_rfc3339(r.window.start_ns),
        format_rfc3339(r.window.end_ns)
    )?;
    writeln!(out.out)?;
    if opts.timestamp {
        writeln!(
            out.out,
            "{:<8}",
            format_hms(r.window.end_ns, opts.localtime)
        )?;
    }
    for h in &r.hists {
        if opts.occupancy {
            match h.cpu {
                Some(c) => writeln!(
                    out.out,
                    "runqocc, CPU {c:<3} {:6.2}%",
                    100.0 * h.occupancy()
                )?,
                None => writeln!(out.out, "runqocc: {:0.2}%", 100.0 * h.occupancy())?,
            }
        } else {
            if let Some(c) = h.cpu {
                writeln!(out.out, "cpu = {c}")?;
            }
            h.hist.write_text(out.out, "runqlen")?;
        }
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonHist {
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<i32>,
    samples: u64,
    mean: f64,
    occupancy: f64,
    buckets: Vec<Bucket>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    report: &'static str,
    from: String,
    to: String,
    histograms: Vec<JsonHist>,
    loss: serde_json::Value,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The JSON form: per histogram `{cpu (-C), samples, mean, occupancy,
/// buckets}` (buckets: the non-empty lengths).
pub fn to_json(r: &Runqlen) -> impl Serialize + '_ {
    JsonReport {
        report: "runqlen",
        from: format_rfc3339(r.window.start_ns),
        to: format_rfc3339(r.window.end_ns),
        histograms: r
            .hists
            .iter()
            .map(|h| JsonHist {
                cpu: h.cpu,
                samples: h.samples(),
                mean: h.mean(),
                occupancy: h.occupancy(),
                buckets: h.hist.buckets(),
            })
            .collect(),
        loss: r.loss.to_json(),
        warnings: &r.warnings,
    }
}

/// `runqlen` on the command line.
#[derive(clap::Args)]
pub struct RunqlenArgs {
    /// A histogram (or occupancy) per CPU.
    #[arg(short = 'C', long = "cpus")]
    per_cpu: bool,
    /// Run-queue occupancy: the share of samples with a task waiting.
    #[arg(short = 'O', long = "runqocc")]
    occupancy: bool,
    /// Print the time (HH:MM:SS, end of the window) before the output.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for RunqlenArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = RunqlenOptions {
            common: self.common.options(),
            per_cpu: self.per_cpu,
            occupancy: self.occupancy,
            timestamp: self.timestamp,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("runqlen")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
