//! `syscount`: system calls counted by syscall or by process, like bcc's
//! libbpf-tools `syscount`, from the `syscall` table of `-e syscall`.
//!
//! The kernel already counted every call per second × process × syscall
//! × errno, so this report only adds rows up: its totals are exact
//! whatever the syscall rate was. Columns and widths are libbpf-tools':
//! `SYSCALL COUNT` (`-P`: `PID    COMM` instead of SYSCALL; `-L` adds
//! `TIME (us)`, or `TIME (ms)` with `-m`, the calls' summed latency), the
//! top `-T` (default 10) by count, or by time with `-L`; ties by name. With
//! `--interval` each table is preceded by `[HH:MM:SS]`, the interval's end
//! (bcc prints the wall clock when it prints).
//!
//! Differences from bcc, all from recording ahead of time: time windows
//! and intervals are made of whole recorded seconds (a row counts where
//! its second starts); `-P`'s COMM is the thread name of the process's
//! first call in the window; `--cgroup` is refused (the counters are per
//! process).

use std::collections::HashMap;
use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::syscall::AGG_TABLE as TABLE;

use crate::columns::{self, Strings};
use crate::common::{interval_index, json_warnings, scan, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339};
use crate::window::{check_intervals, interval_bounds};

/// Default of `-T`, as bcc's.
pub const DEFAULT_TOP: usize = 10;

/// Options of `syscount`. The default prints the 10 most frequent
/// syscalls of the whole window.
#[derive(Debug, Clone)]
pub struct SyscountOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-P`: count by process instead of by syscall. Default: by syscall.
    pub per_process: bool,
    /// `-L`: also the calls' total latency, and sort by it. Default: off.
    pub latency: bool,
    /// `-m`: latency in ms. Default: µs.
    pub millis: bool,
    /// `-x`: only failed calls. Default: all.
    pub failed: bool,
    /// `-e`: only calls that failed with this errno. Default: any.
    pub errno: Option<i32>,
    /// `-s`: only this syscall. Default: all.
    pub syscall: Option<String>,
    /// `-T`: lines per table. Default: [`DEFAULT_TOP`].
    pub top: usize,
    /// `--interval`: one table per interval, ns. Default: one table.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
    /// `--localtime`: interval times in the local zone. Default: UTC.
    pub localtime: bool,
}

impl Default for SyscountOptions {
    fn default() -> Self {
        SyscountOptions {
            common: Options::default(),
            per_process: false,
            latency: false,
            millis: false,
            failed: false,
            errno: None,
            syscall: None,
            top: DEFAULT_TOP,
            interval_ns: None,
            count: None,
            localtime: false,
        }
    }
}

/// What a line counts: a syscall, or a process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// By syscall name.
    Syscall(Arc<str>),
    /// By process id (`-P`).
    Process(i32),
}

/// One line of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What it counts.
    pub key: Key,
    /// With `-P`: the process's thread name at its first call.
    pub comm: Arc<str>,
    /// Calls.
    pub count: u64,
    /// Their summed latency, ns.
    pub total_ns: u64,
}

/// One table: an interval (the whole window without `--interval`).
#[derive(Debug, Clone)]
pub struct Table {
    /// `[start, end)` of the interval, ns.
    pub span: (i64, i64),
    /// The top lines, sorted.
    pub lines: Vec<Line>,
    /// Calls counted in the interval (all of them, not only the top).
    pub total_calls: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Syscount {
    /// The window covered.
    pub window: Window,
    /// Tables in time order (intervals without calls are left out).
    pub tables: Vec<Table>,
    /// Lost calls of the syscall family in the window.
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

/// The errno names `-e` accepts besides numbers (Linux's, as strerror
/// names them in errno.h).
const ERRNO_NAMES: &[(&str, i32)] = &[
    ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6),
    ("E2BIG", 7), ("ENOEXEC", 8), ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11),
    ("EWOULDBLOCK", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14), ("ENOTBLK", 15),
    ("EBUSY", 16), ("EEXIST", 17), ("EXDEV", 18), ("ENODEV", 19), ("ENOTDIR", 20),
    ("EISDIR", 21), ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24), ("ENOTTY", 25),
    ("ETXTBSY", 26), ("EFBIG", 27), ("ENOSPC", 28), ("ESPIPE", 29), ("EROFS", 30),
    ("EMLINK", 31), ("EPIPE", 32), ("EDOM", 33), ("ERANGE", 34), ("EDEADLK", 35),
    ("ENAMETOOLONG", 36), ("ENOLCK", 37), ("ENOSYS", 38), ("ENOTEMPTY", 39), ("ELOOP", 40),
    ("ENOMSG", 42), ("ENODATA", 61), ("ETIME", 62), ("EOVERFLOW", 75), ("ENOTSOCK", 88),
    ("EMSGSIZE", 90), ("EPROTONOSUPPORT", 93), ("EOPNOTSUPP", 95), ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98), ("EADDRNOTAVAIL", 99), ("ENETDOWN", 100), ("ENETUNREACH", 101),
    ("ECONNABORTED", 103), ("ECONNRESET", 104), ("ENOBUFS", 105), ("EISCONN", 106),
    ("ENOTCONN", 107), ("ETIMEDOUT", 110), ("ECONNREFUSED", 111), ("EHOSTUNREACH", 113),
    ("EALREADY", 114), ("EINPROGRESS", 115), ("EDQUOT", 122), ("ECANCELED", 125),
];

/// The name of a positive errno (`ENOENT` for 2), as mountsnoop prints
/// failed calls; `None` for a number without one here.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    ERRNO_NAMES.iter().find(|&&(_, v)| v == errno).map(|&(n, _)| n)
}

/// `-e` values: a number or a name such as `ENOENT`.
pub fn parse_errno(s: &str) -> std::result::Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 {
            return Ok(n);
        }
        return Err(format!("an errno is positive, not {n}"));
    }
    let up = s.to_ascii_uppercase();
    ERRNO_NAMES
        .iter()
        .find(|(n, _)| *n == up)
        .map(|&(_, v)| v)
        .ok_or_else(|| format!("unknown errno {s:?}: give a number or a name such as ENOENT, EAGAIN"))
}

/// One line being added up.
struct Sum {
    count: u64,
    total_ns: u64,
    /// The earliest row's time and command: a process's name is the one it
    /// had first in the window, whichever order the scan threads finish in.
    first_ts: i64,
    comm: Arc<str>,
}

impl Sum {
    fn merge(&mut self, count: u64, total_ns: u64, ts: i64, comm: impl FnOnce() -> Arc<str>) {
        self.count = self.count.saturating_add(count);
        self.total_ns = self.total_ns.saturating_add(total_ns);
        if ts < self.first_ts {
            self.first_ts = ts;
            self.comm = comm();
        }
    }
}

#[derive(Default)]
struct Acc {
    /// (interval, key) → its sum.
    lines: HashMap<(i64, Key), Sum>,
}

/// Adds up the rows.
pub fn compute(recordings: &[Recording], opts: &SyscountOptions) -> Result<Syscount> {
    check_intervals(opts.interval_ns, opts.count)?;
    if opts.top == 0 {
        return Err(Error::Usage("-T must be at least 1".into()));
    }
    if opts.common.filter.cgroup_id.is_some() {
        return Err(Error::Usage(
            "syscount: the syscall table counts calls per process, not per cgroup; use -p PID or --comm".into(),
        ));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let range = window.range;
    let mut cols = vec!["ts", "tgid", "comm", "syscall", "errno", "count", "total_ns"];
    opts.common.filter.add_columns(&mut cols);
    let step = opts.interval_ns;
    let acc = scan(
        recordings,
        TABLE.name,
        range,
        &cols,
        Acc::default,
        |acc: &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let name = Strings::from_batch(batch, "syscall", path)?;
            let errno = columns::i32s(batch, "errno", path)?;
            let count = columns::i64s(batch, "count", path)?;
            let total = columns::i64s(batch, "total_ns", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let name_ok = opts
                .syscall
                .as_ref()
                .map(|s| name.matching(|n| n == s.as_str()));
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i])
                    || (opts.failed && errno[i] == 0)
                    || opts.errno.is_some_and(|e| e != errno[i])
                    || !name_ok.as_ref().is_none_or(|ok| ok[name.codes[i] as usize])
                    || !filter.keep(i)
                {
                    continue;
                }
                let bin = step.map_or(0, |s| interval_index(ts[i], window.start_ns, s));
                let key = if opts.per_process {
                    Key::Process(tgid[i])
                } else {
                    Key::Syscall(name.get(i).clone())
                };
                // Damaged rows cannot make a negative count.
                let (n, t) = (count[i].max(0) as u64, total[i].max(0) as u64);
                acc.lines
                    .entry((bin, key))
                    .or_insert_with(|| Sum {
                        count: 0,
                        total_ns: 0,
                        first_ts: ts[i],
                        comm: comm.get(i).clone(),
                    })
                    .merge(n, t, ts[i], || comm.get(i).clone());
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b.lines {
                match a.lines.entry(k) {
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(v);
                    }
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        let Sum { count, total_ns, first_ts, comm } = v;
                        e.get_mut().merge(count, total_ns, first_ts, || comm);
                    }
                }
            }
            a
        },
    )?;
    let mut by_bin: std::collections::BTreeMap<i64, Vec<Line>> = Default::default();
    for ((bin, key), Sum { count, total_ns, comm, .. }) in acc.lines {
        by_bin.entry(bin).or_default().push(Line {
            key,
            comm,
            count,
            total_ns,
        });
    }
    let tables = by_bin
        .into_iter()
        .map(|(bin, mut lines)| {
            let total_calls = lines.iter().map(|l| l.count).sum();
            if opts.latency {
                lines.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then_with(|| a.key.cmp(&b.key)));
            } else {
                lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            }
            lines.truncate(opts.top);
            let span = match step {
                Some(s) => interval_bounds(window.start_ns, s, bin),
                None => (window.start_ns, window.end_ns),
            };
            Table {
                span,
                lines,
                total_calls,
            }
        })
        .collect();
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Syscount {
        window,
        tables,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs syscount and prints it.
pub fn run(recordings: &[Recording], opts: &SyscountOptions, out: &mut Out<'_>) -> Result<()> {
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

fn label(l: &Line) -> String {
    match &l.key {
        Key::Syscall(s) => s.to_string(),
        Key::Process(p) => format!("{p:<6} {:<15}", l.comm),
    }
}

/// Prints the tables as libbpf-tools `syscount` does.
pub fn write_text(r: &Syscount, opts: &SyscountOptions, out: &mut Out<'_>) -> Result<()> {
    let agg = if opts.per_process { "PID    COMM" } else { "SYSCALL" };
    let (time_col, div) = if opts.millis {
        ("TIME (ms)", 1e6)
    } else {
        ("TIME (us)", 1e3)
    };
    for t in &r.tables {
        if opts.interval_ns.is_some() {
            let end = t.span.1.min(r.window.end_ns).max(t.span.0);
            writeln!(out.out, "[{}]", format_hms(end, opts.localtime))?;
        }
        if opts.latency {
            writeln!(out.out, "{agg:<22} {:>8} {time_col:>16}", "COUNT")?;
            for l in &t.lines {
                writeln!(
                    out.out,
                    "{:<22} {:>8} {:>16.3}",
                    label(l),
                    l.count,
                    l.total_ns as f64 / div
                )?;
            }
        } else {
            writeln!(out.out, "{agg:<22} {:>8}", "COUNT")?;
            for l in &t.lines {
                writeln!(out.out, "{:<22} {:>8}", label(l), l.count)?;
            }
        }
        writeln!(out.out)?;
    }
    if r.tables.is_empty() {
        writeln!(out.out, "{agg:<22} {:>8}", "COUNT")?;
        writeln!(out.out)?;
    }
    Ok(())
}

/// Prints syscount as JSON: every table with its top lines.
pub fn write_json(r: &Syscount, opts: &SyscountOptions, out: &mut Out<'_>) -> Result<()> {
    let tables: Vec<serde_json::Value> = r
        .tables
        .iter()
        .map(|t| {
            let lines: Vec<serde_json::Value> = t
                .lines
                .iter()
                .map(|l| {
                    let mut v = serde_json::json!({
                        "count": l.count,
                        "total_ns": l.total_ns,
                    });
                    match &l.key {
                        Key::Syscall(s) => v["syscall"] = s.as_ref().into(),
                        Key::Process(p) => {
                            v["pid"] = (*p).into();
                            v["comm"] = l.comm.as_ref().into();
                        }
                    }
                    v
                })
                .collect();
            serde_json::json!({
                "from": format_rfc3339(t.span.0),
                "to": format_rfc3339(t.span.1),
                "calls": t.total_calls,
                "lines": lines,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "syscount",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "by": if opts.per_process { "process" } else { "syscall" },
        "sort": if opts.latency { "total_ns" } else { "count" },
        "tables": tables,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// `syscount` on the command line.
#[derive(clap::Args)]
pub struct SyscountArgs {
    /// Count by process (PID and COMM) instead of by syscall.
    #[arg(short = 'P', long)]
    process: bool,
    /// Also show the calls' total time, and sort by it.
    #[arg(short = 'L', long)]
    latency: bool,
    /// With -L: milliseconds instead of microseconds.
    #[arg(short = 'm', long)]
    milliseconds: bool,
    /// Only failed calls.
    #[arg(short = 'x', long)]
    failures: bool,
    /// Only calls that failed with this errno (a number or a name: ENOENT, EAGAIN …).
    #[arg(short = 'e', long, value_name = "ERRNO", value_parser = parse_errno)]
    errno: Option<i32>,
    /// Only this syscall (by name: read, openat …).
    #[arg(short = 's', long, value_name = "NAME")]
    syscall: Option<String>,
    /// Lines per table.
    #[arg(short = 'T', long, value_name = "N", default_value_t = DEFAULT_TOP)]
    top: usize,
    /// One table per interval of recorded time (plain numbers are seconds; 10s, 1m …), each after its [HH:MM:SS] time.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many intervals (needs --interval).
    #[arg(long, value_name = "N", requires = "interval")]
    count: Option<u64>,
    /// Print interval times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for SyscountArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = SyscountOptions {
            common: self.common.options(),
            per_process: self.process,
            latency: self.latency,
            millis: self.milliseconds,
            failed: self.failures,
            errno: self.errno,
            syscall: self.syscall,
            top: self.top,
            interval_ns: self.interval,
            count: self.count,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("syscount")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_parse_by_number_and_name() {
        assert_eq!(parse_errno("2"), Ok(2));
        assert_eq!(parse_errno("enoent"), Ok(2));
        assert_eq!(parse_errno("EAGAIN"), Ok(11));
        assert!(parse_errno("0").is_err());
        assert!(parse_errno("EBOGUS").unwrap_err().contains("ENOENT"));
    }
}
