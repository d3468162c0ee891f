//! `exitsnoop`: one line per process exit with its age, like libbpf-tools
//! `exitsnoop`, from the `exit` table of `-e exec`. It shares execsnoop's
//! loss warning and JSON streaming, but none of its rows, so it has a
//! module of its own.
//!
//! exitsnoop prints `[TIME(s) ]PCOMM PID PPID TID AGE(s) EXIT_CODE`, where
//! EXIT_CODE is `0`, `code N` or `signal N (NAME)[, core dumped]`; by
//! default only processes (thread-group leaders), `-T` every thread, `-x`
//! only failed exits.

use std::sync::Arc;

use ktape_format::exec::EXIT_TABLE;
use ktape_format::read::Recording;
use rayon::prelude::*;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, NS_PER_SEC};

use crate::execsnoop::{loss_warning, stream_json};

/// Options of `exitsnoop`. The default prints every process exit.
#[derive(Debug, Clone, Default)]
pub struct ExitsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-t`: print the time of day (bcc's `TIME(s)` column). Default: off.
    pub time: bool,
    /// `--localtime`: `-t` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-x`: only exits with a non-zero status or a signal. Default: all.
    pub failed: bool,
    /// `-T`: every thread, not only thread-group leaders. Default: off.
    pub threads: bool,
}

/// One exit, with what exitsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRow {
    /// Exit time, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Thread name.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Thread id.
    pub tid: i32,
    /// Start → exit, ns.
    pub lifetime_ns: i64,
    /// Exit status.
    pub exit_code: i32,
    /// Terminating signal, 0 if none.
    pub signal: i32,
    /// Whether the signal dumped core.
    pub core_dumped: bool,
}

/// The computed exitsnoop report.
pub type Exitsnoop = Listing<ExitRow>;

/// Collects and sorts the exits.
pub fn compute_exits(recordings: &[Recording], opts: &ExitsnoopOptions) -> Result<Exitsnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "pid",
        "tgid",
        "ppid",
        "comm",
        "exit_code",
        "signal",
        "core_dumped",
        "lifetime_ns",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<ExitRow> = scan_rows(
        recordings,
        EXIT_TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<ExitRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let ppid = columns::i32s(batch, "ppid", path)?;
            let code = columns::i32s(batch, "exit_code", path)?;
            let sig = columns::i32s(batch, "signal", path)?;
            let core = columns::bools(batch, "core_dumped", path)?;
            let life = columns::i64s(batch, "lifetime_ns", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i])
                    || (!opts.threads && pid[i] != tgid[i])
                    || (opts.failed && code[i] == 0 && sig[i] == 0)
                    || !filter.keep(i)
                {
                    continue;
                }
                acc.push(ExitRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    ppid: ppid[i],
                    tid: pid[i],
                    lifetime_ns: life[i],
                    exit_code: code[i],
                    signal: sig[i],
                    core_dumped: core.value(i),
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, EXIT_TABLE.family, range)?;
    Ok(Exitsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs exitsnoop and prints it.
pub fn run_exits(
    recordings: &[Recording],
    opts: &ExitsnoopOptions,
    out: &mut Out<'_>,
) -> Result<()> {
    run_listing(
        recordings,
        EXIT_TABLE.name,
        opts.common.json,
        out,
        || compute_exits(recordings, opts),
        |r, out| write_exits_json(r, opts, out),
        |r, out| write_exits_text(r, opts, out),
    )
}

/// Writes exitsnoop as JSON: a head, then one object per exit.
fn write_exits_json(r: &Exitsnoop, opts: &ExitsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "exitsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "failed": opts.failed,
        "threads": opts.threads,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&serde_json::json!({
            "ts": format_rfc3339(row.ts),
            "comm": &*row.comm,
            "pid": row.pid,
            "ppid": row.ppid,
            "tid": row.tid,
            "lifetime_ns": row.lifetime_ns,
            "age_s": row.lifetime_ns as f64 / NS_PER_SEC as f64,
            "exit_code": row.exit_code,
            "signal": row.signal,
            "core_dumped": row.core_dumped,
            "in_loss_second": r.loss.affects(row.recording, row.ts),
        }))
    })
}

/// The signal's name as glibc's `strsignal` gives it.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "Hangup",
        2 => "Interrupt",
        3 => "Quit",
        4 => "Illegal instruction",
        5 => "Trace/breakpoint trap",
        6 => "Aborted",
        7 => "Bus error",
        8 => "Floating point exception",
        9 => "Killed",
        10 => "User defined signal 1",
        11 => "Segmentation fault",
        12 => "User defined signal 2",
        13 => "Broken pipe",
        14 => "Alarm clock",
        15 => "Terminated",
        16 => "Stack fault",
        17 => "Child exited",
        18 => "Continued",
        19 => "Stopped (signal)",
        20 => "Stopped",
        21 => "Stopped (tty input)",
        22 => "Stopped (tty output)",
        23 => "Urgent I/O condition",
        24 => "CPU time limit exceeded",
        25 => "File size limit exceeded",
        26 => "Virtual timer expired",
        27 => "Profiling timer expired",
        28 => "Window changed",
        29 => "I/O possible",
        30 => "Power failure",
        31 => "Bad system call",
        n if (34..=64).contains(&n) => return format!("Real-time signal {}", n - 34),
        n => return format!("Unknown signal {n}"),
    };
    name.to_string()
}

/// exitsnoop's EXIT_CODE column.
pub fn exit_text(code: i32, signal: i32, core: bool) -> String {
    if signal == 0 && !core {
        if code == 0 {
            "0".into()
        } else {
            format!("code {code}")
        }
    } else {
        let mut s = String::new();
        if signal != 0 {
            s = format!("signal {signal} ({})", signal_name(signal));
        }
        if core {
            s.push_str(", core dumped");
        }
        s
    }
}

/// Prints the exits as libbpf-tools `exitsnoop` does.
pub fn write_exits_text(r: &Exitsnoop, opts: &ExitsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.time {
        write!(out.out, "{:<8} ", "TIME(s)")?;
    }
    writeln!(
        out.out,
        "{:<16} {:<7} {:<7} {:<7} {:<7} EXIT_CODE",
        "PCOMM", "PID", "PPID", "TID", "AGE(s)"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        if opts.time {
            write!(out.out, "{:>8} ", format_hms(row.ts, opts.localtime))?;
        }
        writeln!(
            out.out,
            "{:<16} {:<7} {:<7} {:<7} {:<7.2} {}",
            row.comm,
            row.pid,
            row.ppid,
            row.tid,
            row.lifetime_ns as f64 / NS_PER_SEC as f64,
            exit_text(row.exit_code, row.signal, row.core_dumped)
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

/// `exitsnoop` on the command line.
#[derive(clap::Args)]
pub struct ExitsnoopArgs {
    /// Print the time of day (bcc's TIME(s) column: HH:MM:SS, UTC unless --localtime).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Print -t times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Only exits with a non-zero status or a signal.
    #[arg(short = 'x', long)]
    failed: bool,
    /// Every thread's exit, not only processes'.
    #[arg(short = 'T', long)]
    threads: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for ExitsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = ExitsnoopOptions {
            common: self.common.options(),
            time: self.timestamp,
            localtime: self.localtime,
            failed: self.failed,
            threads: self.threads,
        };
        run_exits(&recs, &opts, out).context("exitsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
