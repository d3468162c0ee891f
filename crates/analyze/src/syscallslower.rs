//! `syscallslower`: one line per system call slower than a threshold, from
//! the `syscall_slow` table of `-e syscall`, in time order.
//!
//! bcc has no such tool (its syscount only sums; `perf trace --duration`
//! is the nearest); the layout follows runqslower and fsslower:
//! `TIME     COMM             PID     TID     SYSCALL              RET  LAT(ms)`.
//! The table holds the calls at least as slow as the recorder's
//! `--syscall-slow` (default 10 ms); `--min-latency` can only raise that.
//! Calls that block by design (epoll_wait, poll, futex, nanosleep) are slow
//! by this measure: `-s` keeps one syscall, `--exclude-waits` drops the
//! waiting ones.

use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::syscall::SLOW_TABLE as TABLE;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between};

/// Syscalls whose purpose is to wait: `--exclude-waits` drops them.
pub const WAITS: &[&str] = &[
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
    "futex", "futex_wait", "futex_waitv", "nanosleep", "clock_nanosleep", "wait4", "waitid",
    "pause", "rt_sigsuspend", "rt_sigtimedwait", "io_getevents", "io_pgetevents",
    "io_uring_enter", "accept", "accept4", "msgrcv", "semtimedop", "mq_timedreceive",
];

/// Options of `syscallslower`. The default prints every recorded slow call.
#[derive(Debug, Clone, Default)]
pub struct SyscallslowerOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--cgroup`, `--json`).
    pub common: Options,
    /// `--min-latency`: only calls at least this slow, ns. Default: every
    /// row (the recorder's threshold).
    pub min_latency_ns: i64,
    /// `-x`: only failed calls. Default: all.
    pub failed: bool,
    /// `-s`: only this syscall. Default: all.
    pub syscall: Option<String>,
    /// `--exclude-waits`: leave out [`WAITS`]. Default: keep them.
    pub exclude_waits: bool,
    /// `--localtime`: TIME in the local time zone. Default: UTC.
    pub localtime: bool,
}

/// One slow call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowRow {
    /// Return of the call, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Thread name.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Syscall name.
    pub syscall: Arc<str>,
    /// Return value (-errno on failure).
    pub ret: i64,
    /// Entry → return, ns.
    pub latency_ns: i64,
}

/// The computed report.
pub type Syscallslower = Listing<SlowRow>;

/// Collects and sorts the slow calls.
pub fn compute(recordings: &[Recording], opts: &SyscallslowerOptions) -> Result<Syscallslower> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec!["ts", "pid", "tgid", "comm", "syscall", "ret", "latency_ns"];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<SlowRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<SlowRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let ret = columns::i64s(batch, "ret", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let name = Strings::from_batch(batch, "syscall", path)?;
            let name_ok = name.matching(|n| {
                opts.syscall.as_deref().is_none_or(|s| s == n)
                    && !(opts.exclude_waits && WAITS.contains(&n))
            });
            let filter = opts.common.filter.prepare(batch, path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i])
                    && lat[i] >= opts.min_latency_ns
                    && (!opts.failed || (-4095..0).contains(&ret[i]))
                    && name_ok[name.codes[i] as usize]
                    && filter.keep(i)
                {
                    acc.push(SlowRow {
                        ts: ts[i],
                        recording: unit.recording,
                        comm: comm.get(i).clone(),
                        pid: tgid[i],
                        tid: pid[i],
                        syscall: name.get(i).clone(),
                        ret: ret[i],
                        latency_ns: lat[i],
                    });
                }
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording, r.tid));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Syscallslower {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs syscallslower and prints it.
pub fn run(recordings: &[Recording], opts: &SyscallslowerOptions, out: &mut Out<'_>) -> Result<()> {
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

/// Prints one line per slow call.
pub fn write_text(r: &Syscallslower, opts: &SyscallslowerOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "{:<8} {:<16} {:<7} {:<7} {:<20} {:>6} {:>10}",
        "TIME", "COMM", "PID", "TID", "SYSCALL", "RET", "LAT(ms)"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        writeln!(
            out.out,
            "{:<8} {:<16} {:<7} {:<7} {:<20} {:>6} {:>10.3}",
            format_hms(row.ts, opts.localtime),
            row.comm,
            row.pid,
            row.tid,
            row.syscall,
            row.ret,
            row.latency_ns as f64 / 1e6
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct SlowJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    tid: i32,
    syscall: &'a str,
    ret: i64,
    latency_ns: i64,
    in_loss_second: bool,
}

/// Prints syscallslower as JSON.
pub fn write_json(r: &Syscallslower, opts: &SyscallslowerOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "syscallslower",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "min_latency_ns": opts.min_latency_ns,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&SlowJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            tid: row.tid,
            syscall: &row.syscall,
            ret: row.ret,
            latency_ns: row.latency_ns,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `syscallslower` on the command line.
#[derive(clap::Args)]
pub struct SyscallslowerArgs {
    /// Only calls at least this slow, in milliseconds (decimals allowed); the recording holds those at least as slow as its --syscall-slow (default 10).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    min_latency: f64,
    /// Only failed calls.
    #[arg(short = 'x', long)]
    failed: bool,
    /// Only this syscall (by name: read, fsync …).
    #[arg(short = 's', long, value_name = "NAME")]
    syscall: Option<String>,
    /// Leave out the syscalls whose purpose is to wait (epoll_wait, poll, futex, nanosleep …).
    #[arg(long)]
    exclude_waits: bool,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for SyscallslowerArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        if !(self.min_latency.is_finite() && self.min_latency >= 0.0) {
            anyhow::bail!("--min-latency must be a number of milliseconds, 0 or more");
        }
        let recs = self.common.open()?;
        let opts = SyscallslowerOptions {
            common: self.common.options(),
            min_latency_ns: (self.min_latency * 1e6) as i64,
            failed: self.failed,
            syscall: self.syscall,
            exclude_waits: self.exclude_waits,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("syscallslower")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
