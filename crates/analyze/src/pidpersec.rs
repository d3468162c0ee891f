//! `pidpersec`: new tasks per second, like bcc's `pidpersec`, from the
//! `fork` table of `-e exec`.
//!
//! bcc counts calls of the kernel's `sched_fork` and prints
//! `HH:MM:SS: PIDs/sec: N` once a second; every task counts, threads
//! included (each gets a PID of its own). ktape counts the recorded
//! `sched_process_fork` rows the same way by default; `--processes`
//! counts only new processes. Offline there is no "now", so a line is
//! printed for every interval of the window, zeros included, stamped with
//! the interval's end as bcc stamps the second it has just counted.
//! With `--interval` longer than a second the figure is still a rate (the
//! count divided by the interval's seconds), so lines stay comparable.

use ktape_format::exec::FORK_TABLE;
use ktape_format::read::Recording;
use serde::Serialize;

use crate::columns;
use crate::common::{json_warnings, scan, table_notes, Options, Window};
use crate::error::Result;
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339, NS_PER_SEC};
use crate::window::{check_intervals, interval_bounds, interval_count, interval_index};

/// bcc's interval: one line a second.
pub const DEFAULT_INTERVAL_NS: i64 = NS_PER_SEC;

/// Options of `pidpersec`.
#[derive(Debug, Clone, Default)]
pub struct PidpersecOptions {
    /// Common options (`--from/--to`, `-p` and `--comm` of the parent,
    /// `--json`).
    pub common: Options,
    /// `--interval`: length of one line, ns. Default
    /// [`DEFAULT_INTERVAL_NS`] (when `None`).
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many lines. Default: the whole window.
    pub count: Option<u64>,
    /// `--processes`: count new processes only, not new threads.
    /// Default: every new task, as bcc.
    pub processes: bool,
    /// `--localtime`: times in the local time zone. Default: UTC.
    pub localtime: bool,
}

/// One interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Start of the interval, ns since the epoch.
    pub start_ns: i64,
    /// End of the interval (what the line is stamped with).
    pub end_ns: i64,
    /// Tasks created in it.
    pub tasks: u64,
    /// Of which new processes (not threads).
    pub processes: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Pidpersec {
    /// The window covered.
    pub window: Window,
    /// Length of each line, ns.
    pub interval_ns: i64,
    /// One line per interval, in time order.
    pub lines: Vec<Line>,
    /// Forks the recorder lost in the window (exec family losses).
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

impl Pidpersec {
    /// The line's figure: new tasks (or processes) per second.
    pub fn rate(&self, l: &Line, processes: bool) -> f64 {
        let n = if processes { l.processes } else { l.tasks };
        n as f64 * NS_PER_SEC as f64 / self.interval_ns as f64
    }
}

/// Counts the forks per interval.
pub fn compute(recordings: &[Recording], opts: &PidpersecOptions) -> Result<Pidpersec> {
    let step = opts.interval_ns.unwrap_or(DEFAULT_INTERVAL_NS);
    // The interval has a default here, so --count alone is fine.
    check_intervals(Some(step), opts.count)?;
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(Some(step), opts.count);
    let n = interval_count(recordings, &window, step, opts.count)?;
    let range = window.range;
    let base = window.start_ns;
    let mut cols = vec!["ts", "child_pid", "child_tgid"];
    opts.common.filter.add_columns(&mut cols);
    // Per interval: (tasks, processes), added up across scan tasks.
    let counts: Vec<(u64, u64)> = scan(
        recordings,
        FORK_TABLE.name,
        range,
        &cols,
        || vec![(0, 0); n as usize],
        |acc: &mut Vec<(u64, u64)>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let child = columns::i32s(batch, "child_pid", path)?;
            let child_tgid = columns::i32s(batch, "child_tgid", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                let k = interval_index(ts[i], base, step);
                let Some(slot) = usize::try_from(k).ok().and_then(|k| acc.get_mut(k)) else {
                    continue;
                };
                slot.0 += 1;
                if child[i] == child_tgid[i] {
                    slot.1 += 1;
                }
            }
            Ok(())
        },
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.0 += y.0;
                x.1 += y.1;
            }
            a
        },
    )?;
    let lines = (0..n)
        .map(|k| {
            let (start_ns, end_ns) = interval_bounds(base, step, k);
            let (tasks, processes) = counts.get(k as usize).copied().unwrap_or((0, 0));
            Line {
                start_ns,
                end_ns,
                tasks,
                processes,
            }
        })
        .collect();
    let loss = Loss::read(recordings, FORK_TABLE.family, range)?;
    Ok(Pidpersec {
        window,
        interval_ns: step,
        lines,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs pidpersec and prints it.
pub fn run(recordings: &[Recording], opts: &PidpersecOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(FORK_TABLE.name))?;
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
    table_notes(out, recordings, &r.warnings, &[FORK_TABLE.name])
}

/// Prints bcc's lines: `HH:MM:SS: PIDs/sec: N`.
pub fn write_text(r: &Pidpersec, opts: &PidpersecOptions, out: &mut Out<'_>) -> Result<()> {
    let what = if opts.processes { "Processes" } else { "PIDs" };
    // bcc's one-second lines are whole counts; other intervals print a rate.
    let whole = r.interval_ns == NS_PER_SEC;
    for l in &r.lines {
        let t = format_hms(l.end_ns, opts.localtime);
        if whole {
            let n = if opts.processes { l.processes } else { l.tasks };
            writeln!(out.out, "{t}: {what}/sec: {n}")?;
        } else {
            writeln!(out.out, "{t}: {what}/sec: {:.1}", r.rate(l, opts.processes))?;
        }
    }
    Ok(())
}

/// Prints the report as one JSON object.
pub fn write_json(r: &Pidpersec, opts: &PidpersecOptions, out: &mut Out<'_>) -> Result<()> {
    let lines: Vec<serde_json::Value> = r
        .lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "from": format_rfc3339(l.start_ns),
                "to": format_rfc3339(l.end_ns),
                "tasks": l.tasks,
                "processes": l.processes,
                "threads": l.tasks - l.processes,
                "per_sec": r.rate(l, opts.processes),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "pidpersec",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "interval_ns": r.interval_ns,
        "counting": if opts.processes { "processes" } else { "tasks" },
        "lines": lines,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// `pidpersec` on the command line.
#[derive(clap::Args)]
pub struct PidpersecArgs {
    /// Count only new processes, not new threads (bcc counts both).
    #[arg(long)]
    processes: bool,
    /// Length of one line (plain numbers are seconds; 500ms, 1m …). Default: 1 s, as bcc.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many lines.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Print times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for PidpersecArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = PidpersecOptions {
            common: self.common.options(),
            interval_ns: self.interval,
            count: self.count,
            processes: self.processes,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("pidpersec")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
