//! `cpuunclaimed`: idle CPUs while tasks wait on other CPUs' run queues,
//! like bcc's `cpuunclaimed`, from the `runqlen` samples of `-e runqlen`.
//!
//! bcc's method, kept here: every CPU's timer fires at the same rate and
//! at about the same moment, so the samples fall into groups, one sample
//! per CPU; a new group starts when a sample comes more than 0.8 of a
//! period after the group's first. In each group a CPU "runs" when it has
//! a task (nr_running > 0) and "queues" the tasks beyond the one running;
//! the idle CPUs that could have taken queued tasks are the minimum of the
//! idle CPUs and the queued tasks. Per interval (1 s by default):
//!
//! ```text
//! %CPU  83.00%, unclaimed idle 0.12%
//! ```
//!
//! where %CPU is the running CPU-samples over all CPU-samples and
//! "unclaimed idle" the idle-but-claimable ones over all.
//!
//! Where this differs from bcc, and why:
//!
//! * `nr_running` is the CPU's run queue (every scheduling class) rather
//!   than the sampled task's CFS group queue, which with cgroups is not
//!   the CPU's; the `idle` column tells an idle CPU from one running a
//!   single task, which `len` alone cannot;
//! * the period is measured from the samples (the median step between a
//!   CPU's consecutive samples), so any `-F` works;
//! * a CPU without a sample in a group is idle, as in bcc (idle CPUs are
//!   sampled rarely or never on some kernels: their timer does not fire
//!   until they wake), except in a second in which the recorder lost
//!   runqlen samples: there a missing sample may be a busy CPU's, and the
//!   group is left out rather than guessed. A group that holds a CPU twice
//!   or spans more than half a period (bcc exits there; a CPU woken from
//!   idle fires its late timer out of step) is left out too. Left-out
//!   groups are counted and the count printed. The CPUs are those online
//!   when the recording started (`ktape.online_cpus`) and any other
//!   sampled.

use std::collections::BTreeSet;

use ktape_format::read::Recording;
use ktape_format::runqlen::TABLE as RUNQLEN;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns;
use crate::common::{json_warnings, scan, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339, NS_PER_SEC};
use crate::window::{check_intervals, interval_bounds, interval_count, interval_index};

/// bcc's interval: one line a second.
pub const DEFAULT_INTERVAL_NS: i64 = NS_PER_SEC;

/// Options of `cpuunclaimed`.
#[derive(Debug, Clone, Default)]
pub struct CpuunclaimedOptions {
    /// Common options (`--from/--to`, `--json`); the task filters do not
    /// apply (a sample is of a CPU).
    pub common: Options,
    /// `--interval`: length of one line, ns. Default
    /// [`DEFAULT_INTERVAL_NS`] (when `None`).
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many lines. Default: the whole window.
    pub count: Option<u64>,
    /// `-T`: prefix each line with its time of day.
    pub time: bool,
    /// `--localtime`: that time in the local time zone. Default: UTC.
    pub localtime: bool,
}

/// One interval's counts, in CPU-samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Start of the interval, ns since the epoch.
    pub start_ns: i64,
    /// End of the interval.
    pub end_ns: i64,
    /// Sample groups counted (each one sample of every CPU).
    pub groups: u64,
    /// CPU-samples in those groups (groups times CPUs).
    pub samples: u64,
    /// CPU-samples with a task on the CPU.
    pub running: u64,
    /// Idle CPU-samples that a task queued elsewhere could have used.
    pub unclaimed: u64,
    /// Groups left out (a CPU's sample missing or doubled, or skewed).
    pub skipped: u64,
}

impl Line {
    /// %CPU, or `None` without a counted group.
    pub fn cpu_pct(&self) -> Option<f64> {
        (self.samples > 0).then(|| 100.0 * self.running as f64 / self.samples as f64)
    }

    /// Unclaimed idle, % of all CPU-samples.
    pub fn unclaimed_pct(&self) -> Option<f64> {
        (self.samples > 0).then(|| 100.0 * self.unclaimed as f64 / self.samples as f64)
    }
}

/// What one recording's samples showed about their timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// The recording's directory.
    pub recording: String,
    /// CPUs sampled.
    pub cpus: usize,
    /// The sampling period measured, ns (0 with too few samples).
    pub period_ns: i64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Cpuunclaimed {
    /// The window covered.
    pub window: Window,
    /// Length of each line, ns.
    pub interval_ns: i64,
    /// One line per interval, in time order.
    pub lines: Vec<Line>,
    /// Per recording: CPUs and period.
    pub timing: Vec<Timing>,
    /// Samples the recorder lost in the window (runqlen family).
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

impl Cpuunclaimed {
    /// Groups left out over the whole window.
    pub fn skipped(&self) -> u64 {
        self.lines.iter().map(|l| l.skipped).sum()
    }

    /// Groups counted over the whole window.
    pub fn groups(&self) -> u64 {
        self.lines.iter().map(|l| l.groups).sum()
    }
}

/// One sample: (ts, cpu, tasks on the CPU: bcc's nr_running).
type Sample = (i64, i32, u32);

/// Tasks on the CPU (the running one included) from a row: an idle CPU
/// runs nothing, so its `len` is all there is.
fn on_cpu(len: i32, idle: bool) -> u32 {
    let len = len.max(0) as u32;
    if idle {
        len
    } else {
        len + 1
    }
}

/// The median step between consecutive samples of each CPU (the samples
/// sorted by time), 0 when no CPU has two samples.
fn period(samples: &[Sample]) -> i64 {
    let mut last: std::collections::HashMap<i32, i64> = Default::default();
    let mut steps = Vec::new();
    for &(ts, cpu, _) in samples {
        if let Some(prev) = last.insert(cpu, ts) {
            steps.push(ts - prev);
        }
    }
    if steps.is_empty() {
        return 0;
    }
    let mid = steps.len() / 2;
    *steps.select_nth_unstable(mid).1
}

/// Folds one recording's time-sorted samples into the lines; `lossy(ts)`
/// tells whether the recorder lost samples in the second holding `ts`.
fn fold_groups(
    samples: &[Sample],
    ncpus: usize,
    period_ns: i64,
    lines: &mut [Line],
    base: i64,
    step: i64,
    lossy: impl Fn(i64) -> bool,
) {
    if period_ns <= 0 || ncpus == 0 {
        return;
    }
    let trigger = period_ns * 8 / 10;
    let mut seen: Vec<i32> = Vec::with_capacity(ncpus);
    let mut start = 0;
    while start < samples.len() {
        let first = samples[start].0;
        let mut end = start;
        while end < samples.len() && samples[end].0 - first <= trigger {
            end += 1;
        }
        let group = &samples[start..end];
        let k = interval_index(first, base, step);
        start = end;
        let Some(line) = usize::try_from(k).ok().and_then(|k| lines.get_mut(k)) else {
            continue;
        };
        seen.clear();
        seen.extend(group.iter().map(|s| s.1));
        seen.sort_unstable();
        seen.dedup();
        let span = group.last().map_or(0, |l| l.0) - first;
        let doubled = group.len() != seen.len();
        let missing = seen.len() < ncpus;
        if doubled || span > trigger / 2 || (missing && lossy(first)) {
            line.skipped += 1;
            continue;
        }
        // A CPU without a sample here ran nothing (see the module notes).
        let running = group.iter().filter(|s| s.2 > 0).count() as u64;
        let queued: u64 = group.iter().map(|s| s.2.saturating_sub(1) as u64).sum();
        let idle = ncpus as u64 - running;
        line.groups += 1;
        line.samples += ncpus as u64;
        line.running += running;
        line.unclaimed += idle.min(queued);
    }
}

/// Computes the lines.
pub fn compute(recordings: &[Recording], opts: &CpuunclaimedOptions) -> Result<Cpuunclaimed> {
    let f = &opts.common.filter;
    if f.pid.is_some() || f.comm.is_some() || f.cgroup_id.is_some() {
        return Err(Error::Usage(
            "-p, --comm and --cgroup do not apply to cpuunclaimed: a sample is of a CPU's run queue, not of a task".into(),
        ));
    }
    for r in recordings {
        for seg in r.tables.get(RUNQLEN.name).into_iter().flatten() {
            if seg.schema().index_of("idle").is_err() {
                return Err(Error::Usage(format!(
                    "{}: this runqlen table has no `idle` column (recorded by an older ktape-record), \
                     so an idle CPU cannot be told from one running a single task; \
                     record again with `ktape-record -e runqlen` to use cpuunclaimed (runqlen works on it)",
                    seg.path.display()
                )));
            }
        }
    }
    let step = opts.interval_ns.unwrap_or(DEFAULT_INTERVAL_NS);
    check_intervals(Some(step), opts.count)?;
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(Some(step), opts.count);
    let n = interval_count(recordings, &window, step, opts.count)?;
    let range = window.range;
    let base = window.start_ns;
    // Samples per recording: groups never mix recordings (their clocks
    // and CPUs are their own).
    let mut per_rec: Vec<Vec<Sample>> = scan(
        recordings,
        RUNQLEN.name,
        range,
        &["ts", "cpu", "len", "idle"],
        || vec![Vec::new(); recordings.len()],
        |acc: &mut Vec<Vec<Sample>>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let cpu = columns::i32s(batch, "cpu", path)?;
            let len = columns::i32s(batch, "len", path)?;
            let idle = columns::bools(batch, "idle", path)?;
            let out = &mut acc[unit.recording];
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) {
                    out.push((ts[i], cpu[i], on_cpu(len[i], idle.value(i))));
                }
            }
            Ok(())
        },
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.extend(y);
            }
            a
        },
    )?;
    let mut lines: Vec<Line> = (0..n)
        .map(|k| {
            let (start_ns, end_ns) = interval_bounds(base, step, k);
            Line {
                start_ns,
                end_ns,
                ..Line::default()
            }
        })
        .collect();
    let mut timing = Vec::new();
    let loss = Loss::read(recordings, RUNQLEN.family, range)?;
    for (k, (r, samples)) in recordings.iter().zip(per_rec.iter_mut()).enumerate() {
        samples.par_sort_unstable();
        // The CPUs online at the start (each had a timer), and any seen
        // besides (brought online later, or a recording that predates
        // `ktape.online_cpus`).
        let mut cpus: BTreeSet<i32> = samples.iter().map(|s| s.1).collect();
        cpus.extend(r.info.online_cpus.iter().map(|&c| c as i32));
        let period_ns = period(samples);
        let lossy = |ts| loss.affects(k, ts);
        fold_groups(samples, cpus.len(), period_ns, &mut lines, base, step, lossy);
        timing.push(Timing {
            recording: r.root.display().to_string(),
            cpus: cpus.len(),
            period_ns,
        });
    }
    Ok(Cpuunclaimed {
        window,
        interval_ns: step,
        lines,
        timing,
        loss,
        warnings: Vec::new(),
    })
}

/// The warning about left-out groups, if any were.
fn skipped_warning(r: &Cpuunclaimed) -> Option<String> {
    let skipped = r.skipped();
    (skipped > 0).then(|| {
        format!(
            "WARNING: {skipped} of {} sample groups were left out: a CPU's sample was doubled, \
             or the CPUs' samples were more than half a period apart (timers out of step after idle), \
             or a sample was missing in a second with lost samples",
            skipped + r.groups()
        )
    })
}

/// Runs cpuunclaimed and prints it.
pub fn run(recordings: &[Recording], opts: &CpuunclaimedOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(RUNQLEN.name))?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if let Some(w) = skipped_warning(&r) {
        r.warnings.push(w);
    }
    if opts.common.json {
        write_json(&r, out)?;
    } else {
        write_text(&r, opts, out)?;
        if let Some(w) = r.loss.warning() {
            out.warn(&w)?;
        }
    }
    table_notes(out, recordings, &r.warnings, &[RUNQLEN.name])
}

/// Prints bcc's lines: `%CPU  83.00%, unclaimed idle 0.12%`, each with
/// `HH:MM:SS ` before it with `-T`; an interval without a complete sample
/// group prints `-` rather than a made-up 0.
pub fn write_text(r: &Cpuunclaimed, opts: &CpuunclaimedOptions, out: &mut Out<'_>) -> Result<()> {
    for l in &r.lines {
        if opts.time {
            write!(out.out, "{:<8} ", format_hms(l.end_ns, opts.localtime))?;
        }
        match (l.cpu_pct(), l.unclaimed_pct()) {
            (Some(c), Some(u)) => writeln!(out.out, "%CPU {c:6.2}%, unclaimed idle {u:0.2}%")?,
            _ => writeln!(out.out, "%CPU       -, unclaimed idle -")?,
        }
    }
    Ok(())
}

/// Prints the report as one JSON object.
pub fn write_json(r: &Cpuunclaimed, out: &mut Out<'_>) -> Result<()> {
    let lines: Vec<serde_json::Value> = r
        .lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "from": format_rfc3339(l.start_ns),
                "to": format_rfc3339(l.end_ns),
                "groups": l.groups,
                "cpu_samples": l.samples,
                "running": l.running,
                "unclaimed": l.unclaimed,
                "skipped_groups": l.skipped,
                "cpu_pct": l.cpu_pct(),
                "unclaimed_pct": l.unclaimed_pct(),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "cpuunclaimed",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "interval_ns": r.interval_ns,
        "recordings": r.timing,
        "lines": lines,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// `cpuunclaimed` on the command line.
#[derive(clap::Args)]
pub struct CpuunclaimedArgs {
    /// Length of one line (plain numbers are seconds; 500ms, 1m …). Default: 1 s, as bcc.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many lines.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for CpuunclaimedArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = CpuunclaimedOptions {
            common: self.common.options(),
            interval_ns: self.interval,
            count: self.count,
            time: self.clock.time,
            localtime: self.clock.localtime,
        };
        run(&recs, &opts, out).context("cpuunclaimed")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_count_idle_cpus_that_queued_tasks_could_use() {
        let p = 10_000_000;
        // Four CPUs sampled 100 µs apart in each group. Group 0: CPU 0
        // has 3 tasks (2 queued), CPU 1 one, CPUs 2 and 3 idle: 2
        // unclaimed. Group 1: CPU 0 has 2 tasks, the others idle: 1 (one
        // queued task, three idle CPUs). Group 2: CPU 3's sample is
        // missing, so it was idle: 3 running, 0 queued. Group 3: all busy,
        // none queued. Group 4 (in a second with loss) lacks CPU 1: left
        // out.
        let mut s: Vec<Sample> = Vec::new();
        let g = |k: i64, n: [u32; 4], s: &mut Vec<Sample>| {
            for (cpu, &t) in n.iter().enumerate() {
                s.push((k * p + cpu as i64 * 100_000, cpu as i32, t));
            }
        };
        g(0, [3, 1, 0, 0], &mut s);
        g(1, [2, 0, 0, 0], &mut s);
        g(2, [1, 1, 1, 1], &mut s);
        s.pop();
        g(3, [1, 1, 1, 1], &mut s);
        g(100, [2, 1, 0, 0], &mut s);
        s.retain(|x| !(x.0 >= 100 * p && x.1 == 1));
        s.sort_unstable();
        assert_eq!(period(&s), p);
        let mut lines = vec![Line::default(); 2];
        fold_groups(&s, 4, p, &mut lines, 0, 1_000_000_000, |ts| ts >= 1_000_000_000);
        let l = lines[0];
        assert_eq!((l.groups, l.samples, l.skipped), (4, 16, 0));
        assert_eq!(l.running, 2 + 1 + 3 + 4);
        assert_eq!(l.unclaimed, 2 + 1);
        assert_eq!(l.cpu_pct(), Some(100.0 * 10.0 / 16.0));
        assert_eq!((lines[1].groups, lines[1].skipped), (0, 1));
    }

    #[test]
    fn skewed_groups_are_left_out() {
        let p = 10_000_000;
        // The second CPU fires 6 ms after the first: within 0.8 of a
        // period, so one group, but wider than half the trigger.
        let s: Vec<Sample> = vec![(0, 0, 2), (6_000_000, 1, 0), (p, 0, 2), (p + 6_000_000, 1, 0)];
        let mut lines = vec![Line::default(); 1];
        fold_groups(&s, 2, p, &mut lines, 0, 1_000_000_000, |_| false);
        assert_eq!((lines[0].groups, lines[0].skipped), (0, 2));
        assert_eq!(lines[0].cpu_pct(), None);
    }

    #[test]
    fn an_idle_cpu_runs_nothing() {
        assert_eq!(on_cpu(0, true), 0);
        assert_eq!(on_cpu(0, false), 1);
        assert_eq!(on_cpu(2, false), 3);
        assert_eq!(on_cpu(1, true), 1);
    }
}
