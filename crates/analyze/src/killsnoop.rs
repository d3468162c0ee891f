//! `killsnoop`: one line per signal sent, like bcc's killsnoop, in time
//! order, from the `signal` table of `-e signal`.
//!
//! Columns and widths are libbpf-tools killsnoop's:
//! `[TIME    ]PID     COMM             SIG  TPID   RESULT`, where PID and
//! COMM are the sender's process id and thread name, TPID the id the call
//! named (kill's pid argument as passed, tkill's and tgkill's thread id)
//! and RESULT the call's return (0 or -errno). Unlike bcc it also shows
//! the signals the kernel generated outside kill/tkill/tgkill (a fault's
//! SIGSEGV, SIGPIPE, SIGCHLD, the OOM killer's SIGKILL), with `kernel` as
//! their RESULT, TPID the thread the signal was for and PID/COMM the task
//! that was running; `--no-kernel` hides them, giving bcc's output. `-x`
//! prints failed calls only, `-s` one signal (number or name), `-T` the
//! time of day (UTC unless `--localtime`; bcc always prints it).

use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::signal::{SOURCE_KERNEL, TABLE};
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between};

/// Options of `killsnoop`. The default prints every signal, the kernel's
/// included.
#[derive(Debug, Clone, Default)]
pub struct KillsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-x`: only failed calls. Default: all.
    pub failed: bool,
    /// `-s`: only this signal number. Default: all.
    pub signal: Option<i32>,
    /// `--no-kernel`: hide signals the kernel generated outside kill,
    /// tkill and tgkill. Default: shown.
    pub no_kernel: bool,
    /// `-T`: print the time of day. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
}

/// One signal, with what killsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRow {
    /// Return of the call (or generation), ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Sender's process id.
    pub pid: i32,
    /// Sender's thread id.
    pub tid: i32,
    /// Sender's thread name.
    pub comm: Arc<str>,
    /// `kill`, `tkill`, `tgkill` or `kernel`.
    pub source: Arc<str>,
    /// Signal number.
    pub sig: i32,
    /// The id the call named (TPID).
    pub target: i32,
    /// Process id of the task reached, when known.
    pub target_tgid: Option<i32>,
    /// Its thread name, when known.
    pub target_comm: Option<Arc<str>>,
    /// The call's return; None for the kernel's signals.
    pub ret: Option<i32>,
    /// si_code of the generated signal, when one was.
    pub code: Option<i32>,
    /// The kernel's verdict (`delivered` ...; `none`).
    pub result: Arc<str>,
    /// Signals generated.
    pub generated: i32,
}

/// The computed killsnoop report.
pub type Killsnoop = Listing<SignalRow>;

/// Collects and sorts the signals.
pub fn compute(recordings: &[Recording], opts: &KillsnoopOptions) -> Result<Killsnoop> {
    let window = crate::common::Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "pid",
        "tgid",
        "comm",
        "source",
        "sig",
        "target",
        "target_tgid",
        "target_comm",
        "ret",
        "code",
        "result",
        "generated",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<SignalRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<SignalRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let sig = columns::i32s(batch, "sig", path)?;
            let ret = columns::i32_array(batch, "ret", path)?;
            let source = Strings::from_batch(batch, "source", path)?;
            let kernel = source.matching(|s| s == SOURCE_KERNEL);
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    let is_kernel = kernel[source.codes[i] as usize];
                    range.contains(ts[i])
                        && !(opts.no_kernel && is_kernel)
                        && (!opts.failed || (!is_kernel && !ret.is_null(i) && ret.value(i) < 0))
                        && opts.signal.is_none_or(|s| s == sig[i])
                        && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let target = columns::i32s(batch, "target", path)?;
            let target_tgid = columns::i32_array(batch, "target_tgid", path)?;
            let target_comm = Strings::from_batch(batch, "target_comm", path)?;
            let target_comm_a = batch.column_by_name("target_comm").expect("read above");
            let code = columns::i32_array(batch, "code", path)?;
            let result = Strings::from_batch(batch, "result", path)?;
            let generated = columns::i32s(batch, "generated", path)?;
            let opt = |a: &arrow_array::Int32Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
            use arrow_array::Array;
            for i in keep {
                acc.push(SignalRow {
                    ts: ts[i],
                    recording: unit.recording,
                    pid: tgid[i],
                    tid: pid[i],
                    comm: comm.get(i).clone(),
                    source: source.get(i).clone(),
                    sig: sig[i],
                    target: target[i],
                    target_tgid: opt(target_tgid, i),
                    target_comm: (!target_comm_a.is_null(i)).then(|| target_comm.get(i).clone()),
                    ret: opt(ret, i),
                    code: opt(code, i),
                    result: result.get(i).clone(),
                    generated: generated[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Killsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs killsnoop and prints it.
pub fn run(recordings: &[Recording], opts: &KillsnoopOptions, out: &mut Out<'_>) -> Result<()> {
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

/// Prints the rows as libbpf-tools `killsnoop` does.
pub fn write_text(r: &Killsnoop, opts: &KillsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.time {
        write!(out.out, "{:<8} ", "TIME")?;
    }
    writeln!(
        out.out,
        "{:<7} {:<16} {:<4} {:<6} {:<6}",
        "PID", "COMM", "SIG", "TPID", "RESULT"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        if opts.time {
            write!(out.out, "{:<8} ", format_hms(row.ts, opts.localtime))?;
        }
        let result = match row.ret {
            Some(ret) => ret.to_string(),
            None => SOURCE_KERNEL.to_string(),
        };
        writeln!(
            out.out,
            "{:<7} {:<16} {:<4} {:<6} {:<6}",
            row.pid, row.comm, row.sig, row.target, result
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct SignalJson<'a> {
    ts: String,
    time_s: f64,
    pid: i32,
    tid: i32,
    comm: &'a str,
    source: &'a str,
    sig: i32,
    signal: Option<&'static str>,
    target: i32,
    target_tgid: Option<i32>,
    target_comm: Option<&'a str>,
    ret: Option<i32>,
    code: Option<i32>,
    result: &'a str,
    generated: i32,
    in_loss_second: bool,
}

/// Prints killsnoop as JSON.
pub fn write_json(r: &Killsnoop, opts: &KillsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "killsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "failed": opts.failed,
        "signal": opts.signal,
        "kernel": !opts.no_kernel,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&SignalJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            pid: row.pid,
            tid: row.tid,
            comm: &row.comm,
            source: &row.source,
            sig: row.sig,
            signal: signal_abbrev(row.sig),
            target: row.target,
            target_tgid: row.target_tgid,
            target_comm: row.target_comm.as_deref(),
            ret: row.ret,
            code: row.code,
            result: &row.result,
            generated: row.generated,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// Signal names without `SIG`, by number (Linux's generic numbering, that
/// of x86 and arm64).
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// `SIGUSR1` for 10 ...; None for a number without a classic name.
pub fn signal_abbrev(sig: i32) -> Option<&'static str> {
    const FULL: [&str; 31] = [
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
        "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
        "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
        "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];
    usize::try_from(sig)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| FULL.get(i).copied())
}

/// Parses `-s`: a number (0 to 64) or a name, with or without `SIG`, in
/// any case (`9`, `KILL`, `sigterm`; `IOT`, `POLL`, `CLD` as aliases).
pub fn parse_signal(s: &str) -> std::result::Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        return if (0..=64).contains(&n) {
            Ok(n)
        } else {
            Err(format!("signal {n} is out of range (0 to 64)"))
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let alias = match name {
        "IOT" => "ABRT",
        "POLL" => "IO",
        "CLD" => "CHLD",
        n => n,
    };
    NAMES
        .iter()
        .position(|n| *n == alias)
        .map(|i| i as i32 + 1)
        .ok_or_else(|| format!("unknown signal `{s}` (a number, or a name such as TERM or SIGKILL)"))
}

/// `killsnoop` on the command line.
#[derive(clap::Args)]
pub struct KillsnoopArgs {
    /// Only failed kill/tkill/tgkill calls (RESULT < 0).
    #[arg(short = 'x', long)]
    failed: bool,
    /// Only this signal: a number or a name (9, KILL, SIGKILL).
    #[arg(short = 's', long, value_name = "SIG", value_parser = parse_signal)]
    signal: Option<i32>,
    /// Hide the signals the kernel sent outside kill/tkill/tgkill (faults' SIGSEGV, SIGPIPE, SIGCHLD, OOM kills; RESULT `kernel`), which are shown by default; bcc's killsnoop never shows them.
    #[arg(long)]
    no_kernel: bool,
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for KillsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = KillsnoopOptions {
            common: self.common.options(),
            failed: self.failed,
            signal: self.signal,
            no_kernel: self.no_kernel,
            time: self.clock.time,
            localtime: self.clock.localtime,
        };
        run(&recs, &opts, out).context("killsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_number_and_name() {
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("sigusr1"), Ok(10));
        assert_eq!(parse_signal("SIGSYS"), Ok(31));
        assert_eq!(parse_signal("iot"), Ok(6));
        assert!(parse_signal("65").is_err() && parse_signal("FOO").is_err());
        assert_eq!(signal_abbrev(10), Some("SIGUSR1"));
        assert_eq!(signal_abbrev(0), None);
        assert_eq!(signal_abbrev(40), None);
    }
}
