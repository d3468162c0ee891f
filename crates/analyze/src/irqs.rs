//! `hardirqs` and `softirqs`: time (or runs) per hard IRQ handler and per
//! softirq vector, like bcc's tools of those names, from the `irq` table of
//! `-e irq`.
//!
//! The kernel counted and timed every handler run per second, CPU and
//! handler, so the totals are exact whatever the interrupt rate; this
//! report adds the rows up by name (bcc's key: a hard IRQ's handler name,
//! a softirq's vector name). Layouts are bcc's: `HARDIRQ TOTAL_usecs`
//! (`%-26s %11s`; softirqs `%-16s`), `TOTAL_nsecs` with `-N`,
//! `TOTAL_count` with `-C`; `-d` prints a log2 histogram per handler headed
//! `hardirq = 'name'`. Lines are sorted by value, largest last, as bcc
//! prints them. With `--interval`, one table per interval (`-T` heads each
//! with its end time). `-d` uses the histogram the kernel kept in the unit
//! shown (µs, or ns with `-N`), so its buckets are exact too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use ktape_format::irq::{KIND_HARD, KIND_SOFT, TABLE};
use ktape_format::read::Recording;

use crate::columns::{self, Strings};
use crate::common::{interval_index, json_warnings, scan, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::hist::{Bucket, Log2Hist};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339};
use crate::window::{check_intervals, interval_bounds, interval_count};

/// Which of the two tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Which {
    /// `hardirqs`: device interrupt handlers.
    #[default]
    Hard,
    /// `softirqs`: softirq vectors.
    Soft,
}

impl Which {
    fn kind(self) -> &'static str {
        match self {
            Which::Hard => KIND_HARD,
            Which::Soft => KIND_SOFT,
        }
    }
    fn report(self) -> &'static str {
        match self {
            Which::Hard => "hardirqs",
            Which::Soft => "softirqs",
        }
    }
}

/// Options of `hardirqs` and `softirqs`. The default prints the total
/// time per handler over the whole window, in µs.
#[derive(Debug, Clone, Default)]
pub struct IrqsOptions {
    /// Common options (`--from/--to`, `--json`; rows are not per process).
    pub common: Options,
    /// Hard IRQs or softirqs.
    pub which: Which,
    /// `-C`: runs instead of time. Default: time.
    pub counts: bool,
    /// `-d`: a histogram per handler. Default: totals.
    pub dist: bool,
    /// `-N`: nanoseconds. Default: µs.
    pub nanos: bool,
    /// `-c`: only this CPU. Default: all.
    pub cpu: Option<i32>,
    /// `-T`: head each interval's table with its end time. Default: off.
    pub timestamp: bool,
    /// `--localtime` for `-T`. Default: UTC.
    pub localtime: bool,
    /// `--interval`: one table per interval, ns. Default: one table.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
}

/// One handler's sums in one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sum {
    /// Handler runs.
    pub count: u64,
    /// Their total time, ns.
    pub total_ns: u64,
    /// The longest run, ns.
    pub max_ns: u64,
    /// Runs per log2 slot of the unit shown.
    pub hist: Log2Hist,
}

impl Sum {
    fn merge(&mut self, o: &Sum) {
        self.count += o.count;
        self.total_ns += o.total_ns;
        self.max_ns = self.max_ns.max(o.max_ns);
        self.hist.merge(&o.hist);
    }
}

/// Sums per (interval, handler name).
type Acc = BTreeMap<(i64, Arc<str>), Sum>;

/// One interval's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// `[start, end)`, ns since the epoch.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Handlers by name.
    pub irqs: Vec<(Arc<str>, Sum)>,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Irqs {
    pub window: Window,
    pub intervals: Vec<Interval>,
    pub loss: Loss,
    pub warnings: Vec<String>,
}

/// Adds the rows up per interval and handler.
pub fn compute(recordings: &[Recording], opts: &IrqsOptions) -> Result<Irqs> {
    check_intervals(opts.interval_ns, opts.count)?;
    if opts.counts && opts.dist {
        return Err(Error::Usage("-C and -d cannot be combined (as in bcc)".into()));
    }
    if !opts.common.filter.is_empty() {
        return Err(Error::Usage(format!(
            "{}: interrupts belong to no process, so -p, --comm and --cgroup do not apply (-c CPU selects a CPU)",
            opts.which.report()
        )));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let step = opts.interval_ns.unwrap_or(i64::MAX);
    let n = match opts.interval_ns {
        Some(iv) => interval_count(recordings, &window, iv, opts.count)?,
        None => 1,
    };
    let range = window.range;
    let base = window.start_ns;
    let hist_col = if opts.nanos { "ns_hist" } else { "us_hist" };
    let cols = ["ts", "cpu", "kind", "name", "count", "total_ns", "max_ns", hist_col];
    let kind = opts.which.kind();
    let acc: Acc = scan(
        recordings,
        TABLE.name,
        range,
        &cols,
        Acc::new,
        |acc: &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let cpu = columns::i32s(batch, "cpu", path)?;
            let kinds = Strings::from_batch(batch, "kind", path)?;
            let kind_ok = kinds.matching(|v| v == kind);
            let names = Strings::from_batch(batch, "name", path)?;
            let count = columns::i64s(batch, "count", path)?;
            let total = columns::i64s(batch, "total_ns", path)?;
            let max = columns::i64s(batch, "max_ns", path)?;
            let not_list =
                || Error::Usage(format!("{}: `{hist_col}` is not a list of int64", path.display()));
            let hist = batch
                .column_by_name(hist_col)
                .and_then(|c| c.as_list_opt::<i32>())
                .ok_or_else(not_list)?;
            // The list's items as one slice, cut by its offsets: no array
            // per row.
            let items = hist
                .values()
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(not_list)?
                .values();
            let offsets = hist.value_offsets();
            // Summed by dictionary code within the batch; names are
            // attached once per group.
            let mut local: HashMap<(i64, u32), Sum> = HashMap::new();
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i])
                    || !kind_ok[kinds.codes[i] as usize]
                    || opts.cpu.is_some_and(|c| c != cpu[i])
                {
                    continue;
                }
                let k = if opts.interval_ns.is_some() {
                    interval_index(ts[i], base, step)
                } else {
                    0
                };
                if k < 0 || k >= n {
                    continue;
                }
                let sum = local.entry((k, names.codes[i])).or_default();
                sum.count += count[i].max(0) as u64;
                sum.total_ns += total[i].max(0) as u64;
                sum.max_ns = sum.max_ns.max(max[i].max(0) as u64);
                let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
                for (slot, &c) in items[lo..hi].iter().enumerate() {
                    sum.hist.add_n(slot, c.max(0) as u64);
                }
            }
            for ((k, code), sum) in local {
                acc.entry((k, names.values[code as usize].clone()))
                    .or_default()
                    .merge(&sum);
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b {
                a.entry(k).or_default().merge(&v);
            }
            a
        },
    )?;
    let mut intervals: Vec<Interval> = (0..n)
        .map(|k| {
            let (start_ns, end_ns) = match opts.interval_ns {
                Some(iv) => interval_bounds(base, iv, k),
                None => (window.start_ns, window.end_ns),
            };
            Interval {
                start_ns,
                end_ns,
                irqs: Vec::new(),
            }
        })
        .collect();
    for ((k, name), sum) in acc {
        intervals[k as usize].irqs.push((name, sum));
    }
    for iv in &mut intervals {
        iv.irqs
            .sort_by(|a, b| value(&a.1, opts).cmp(&value(&b.1, opts)).then(a.0.cmp(&b.0)));
    }
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Irqs {
        window,
        intervals,
        loss,
        warnings: Vec::new(),
    })
}

/// The figure a totals line shows.
fn value(s: &Sum, opts: &IrqsOptions) -> u64 {
    if opts.counts {
        s.count
    } else if opts.nanos {
        s.total_ns
    } else {
        s.total_ns / 1000
    }
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &IrqsOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(TABLE.name))?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        write_json(&r, opts, out)?;
    } else {
        write_text(&r, opts, out)?;
        if let Some(w) = r.loss.warning() {
            out.warn(&w)?;
        }
    }
    table_notes(out, recordings, &r.warnings, &[TABLE.name])
}

/// Prints bcc's layout.
pub fn write_text(r: &Irqs, opts: &IrqsOptions, out: &mut Out<'_>) -> Result<()> {
    let (label, width, section) = match opts.which {
        Which::Hard => ("HARDIRQ", 26, "hardirq"),
        Which::Soft => ("SOFTIRQ", 16, "softirq"),
    };
    let unit = if opts.nanos { "nsecs" } else { "usecs" };
    for (i, iv) in r.intervals.iter().enumerate() {
        if i > 0 {
            writeln!(out.out)?;
        }
        if opts.timestamp {
            writeln!(out.out, "{:<8}", format_hms(iv.end_ns, opts.localtime))?;
        }
        if opts.dist {
            for (name, s) in &iv.irqs {
                writeln!(out.out, "{section} = '{name}'")?;
                s.hist.write_text(&mut out.out, unit)?;
                writeln!(out.out)?;
            }
            continue;
        }
        let what = if opts.counts { "count" } else { unit };
        writeln!(out.out, "{label:<width$} {:>11}", format!("TOTAL_{what}"))?;
        for (name, s) in &iv.irqs {
            writeln!(out.out, "{name:<width$} {:>11}", value(s, opts))?;
        }
    }
    Ok(())
}

/// Prints the report as one JSON object.
pub fn write_json(r: &Irqs, opts: &IrqsOptions, out: &mut Out<'_>) -> Result<()> {
    let unit = if opts.nanos { "nsecs" } else { "usecs" };
    let intervals: Vec<serde_json::Value> = r
        .intervals
        .iter()
        .map(|iv| {
            let irqs: Vec<serde_json::Value> = iv
                .irqs
                .iter()
                .map(|(name, s)| {
                    let buckets: Vec<Bucket> = s.hist.buckets();
                    serde_json::json!({
                        "name": &**name,
                        "count": s.count,
                        "total_ns": s.total_ns,
                        "max_ns": s.max_ns,
                        "hist_unit": unit,
                        "hist": buckets,
                    })
                })
                .collect();
            serde_json::json!({
                "from": format_rfc3339(iv.start_ns),
                "to": format_rfc3339(iv.end_ns),
                "irqs": irqs,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": opts.which.report(),
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "cpu": opts.cpu,
        "intervals": intervals,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// The flags both tools take.
#[derive(clap::Args)]
pub struct IrqsCli {
    /// Count handler runs instead of their time.
    #[arg(short = 'C', long)]
    counts: bool,
    /// A log2 histogram of run times per handler.
    #[arg(short = 'd', long)]
    dist: bool,
    /// Times in nanoseconds instead of microseconds.
    #[arg(short = 'N', long)]
    nanoseconds: bool,
    /// Only runs on this CPU.
    #[arg(short = 'c', long, value_name = "CPU")]
    cpu: Option<i32>,
    /// Head each table with the time (HH:MM:SS, UTC unless --localtime) its interval ends.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    interval: crate::cli::IntervalArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl IrqsCli {
    fn run_as(self, which: Which, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = IrqsOptions {
            common: self.common.options(),
            which,
            counts: self.counts,
            dist: self.dist,
            nanos: self.nanoseconds,
            cpu: self.cpu,
            timestamp: self.timestamp,
            localtime: self.localtime,
            interval_ns: self.interval.interval,
            count: self.interval.count,
        };
        run(&recs, &opts, out).context(which.report())?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// `hardirqs` on the command line.
#[derive(clap::Args)]
pub struct HardirqsArgs {
    #[command(flatten)]
    cli: IrqsCli,
}

impl crate::cli::Run for HardirqsArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        self.cli.run_as(Which::Hard, out)
    }
}

/// `softirqs` on the command line.
#[derive(clap::Args)]
pub struct SoftirqsArgs {
    #[command(flatten)]
    cli: IrqsCli,
}

impl crate::cli::Run for SoftirqsArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        self.cli.run_as(Which::Soft, out)
    }
}
