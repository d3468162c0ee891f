//! `statsnoop`: one line per statfs, stat, lstat, fstat, newfstatat or
//! statx call, like bcc's `statsnoop`, in time order, from the `stat`
//! table of `-e stat`.
//!
//! Columns and printf widths are bcc's (tools/statsnoop.py):
//! `[TIME(s)       ]PID    COMM             FD ERR PATH`, where PID is the
//! process id, FD the return value (0, or -1 for a failed call, as bcc
//! shows it) and ERR the errno. `-x` prints only failed calls, `-t` the
//! seconds since the start of the window (bcc: since its first event);
//! `-s` adds the syscall's name, which bcc does not show. fstat calls,
//! which bcc does not trace, have an empty PATH (the table has their fd).
//! A recording made with `--stat-failed-only` holds only failed calls, so
//! `-x` changes nothing on it.

use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::stat::TABLE;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_rfc3339, secs_between};

/// Options of `statsnoop`. The default prints every call.
#[derive(Debug, Clone, Default)]
pub struct StatsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-x`: only failed calls. Default: all.
    pub failed: bool,
    /// `-t`: print seconds since the window's start. Default: off.
    pub timestamp: bool,
    /// `-s`: print the syscall's name. Default: off.
    pub syscall: bool,
}

/// One stat, with what statsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    /// Return of the call, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Command name of the caller.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// The syscall.
    pub call: Arc<str>,
    /// Directory fd (newfstat: the file's).
    pub dfd: i32,
    /// errno, 0 on success.
    pub errno: i32,
    /// Path as passed.
    pub path: Arc<str>,
    /// Entry → return, ns.
    pub latency_ns: i64,
}

/// The computed statsnoop report.
pub type Statsnoop = Listing<StatRow>;

/// Collects and sorts the stats.
pub fn compute(recordings: &[Recording], opts: &StatsnoopOptions) -> Result<Statsnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "pid",
        "tgid",
        "comm",
        "call",
        "dfd",
        "path",
        "errno",
        "latency_ns",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<StatRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<StatRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let errno = columns::i32s(batch, "errno", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    range.contains(ts[i]) && (!opts.failed || errno[i] != 0) && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let dfd = columns::i32s(batch, "dfd", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let call = Strings::from_batch(batch, "call", path)?;
            let file = Strings::from_batch(batch, "path", path)?;
            for i in keep {
                acc.push(StatRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    tid: pid[i],
                    call: call.get(i).clone(),
                    dfd: dfd[i],
                    errno: errno[i],
                    path: file.get(i).clone(),
                    latency_ns: lat[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Statsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs statsnoop and prints it.
pub fn run(recordings: &[Recording], opts: &StatsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        |r, out| write_json(r, opts, out),
        |r, out| write_text(r, opts, out),
    )
}

/// bcc's FD column: the return value, 0 or -1.
fn fd(row: &StatRow) -> i32 {
    if row.errno == 0 {
        0
    } else {
        -1
    }
}

/// Prints the rows as bcc's `statsnoop` does.
pub fn write_text(r: &Statsnoop, opts: &StatsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.timestamp {
        write!(out.out, "{:<14}", "TIME(s)")?;
    }
    write!(out.out, "{:<6} {:<16} {:>4} {:>3} ", "PID", "COMM", "FD", "ERR")?;
    if opts.syscall {
        write!(out.out, "{:<10} ", "SYSCALL")?;
    }
    writeln!(out.out, "PATH")?;
    let mut flagged = 0u64;
    for row in &r.rows {
        if opts.timestamp {
            write!(
                out.out,
                "{:<14.9}",
                secs_between(r.window.start_ns, row.ts)
            )?;
        }
        write!(
            out.out,
            "{:<6} {:<16} {:>4} {:>3} ",
            row.pid,
            row.comm,
            fd(row),
            row.errno
        )?;
        if opts.syscall {
            write!(out.out, "{:<10} ", row.call)?;
        }
        writeln!(out.out, "{}", row.path)?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct StatJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    tid: i32,
    call: &'a str,
    dfd: i32,
    fd: i32,
    errno: i32,
    path: &'a str,
    latency_ns: i64,
    in_loss_second: bool,
}

/// Prints statsnoop as JSON.
pub fn write_json(r: &Statsnoop, opts: &StatsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "statsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "failed": opts.failed,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&StatJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            tid: row.tid,
            call: &row.call,
            dfd: row.dfd,
            fd: fd(row),
            errno: row.errno,
            path: &row.path,
            latency_ns: row.latency_ns,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `statsnoop` on the command line.
#[derive(clap::Args)]
pub struct StatsnoopArgs {
    /// Only failed stats.
    #[arg(short = 'x', long)]
    failed: bool,
    /// Include a TIME(s) column: seconds since the start of the window.
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Include a SYSCALL column (newstat, newfstatat, statx …).
    #[arg(short = 's', long)]
    syscall: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for StatsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = StatsnoopOptions {
            common: self.common.options(),
            failed: self.failed,
            timestamp: self.timestamp,
            syscall: self.syscall,
        };
        run(&recs, &opts, out).context("statsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
