//! `opensnoop`: one line per open/openat/openat2 call, like bcc's
//! libbpf-tools `opensnoop`, in time order, from the `open` table of
//! `-e open`.
//!
//! Columns and printf widths are bcc's:
//! `[TIME     ][UID     ]PID    COMM             FD ERR [FLAGS    MODE ]PATH`
//! where PID is the process id (bcc's tgid), FD is -1 and ERR the errno
//! for a failed call. `-x` prints only failed calls, `-e` adds the flags
//! (octal, `%08o`) and the mode (`%04o`), `-T` the time of day (UTC unless
//! `--localtime`), `-U` the user id, `-n` keeps commands whose name
//! contains the text.

use std::sync::Arc;

use ktape_format::open::TABLE;
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between};

/// Options of `opensnoop`. The default prints every open.
#[derive(Debug, Clone, Default)]
pub struct OpensnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-x`: only failed opens. Default: all.
    pub failed: bool,
    /// `-T`: print the time of day. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-U`: print the UID column. Default: off.
    pub uid: bool,
    /// `-e`: print the FLAGS and MODE columns. Default: off.
    pub extended: bool,
    /// `-n`: only commands whose name contains this. Default: all.
    pub name: Option<String>,
}

/// One open, with what opensnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRow {
    /// Return of the call, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Command name of the caller.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Real user id.
    pub uid: i64,
    /// File descriptor, -1 on failure.
    pub fd: i32,
    /// errno, 0 on success.
    pub errno: i32,
    /// O_* flags.
    pub flags: i64,
    /// Mode as passed.
    pub mode: i32,
    /// Path as passed.
    pub path: Arc<str>,
    /// Entry → return, ns.
    pub latency_ns: i64,
}

/// The computed opensnoop report.
pub type Opensnoop = Listing<OpenRow>;

/// Collects and sorts the opens.
pub fn compute(recordings: &[Recording], opts: &OpensnoopOptions) -> Result<Opensnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "tgid",
        "uid",
        "comm",
        "path",
        "flags",
        "mode",
        "fd",
        "errno",
        "latency_ns",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<OpenRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<OpenRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let errno = columns::i32s(batch, "errno", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let name_ok = opts
                .name
                .as_ref()
                .map(|n| comm.matching(|c| c.contains(n.as_str())));
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    range.contains(ts[i])
                        && (!opts.failed || errno[i] != 0)
                        && name_ok.as_ref().is_none_or(|ok| ok[comm.codes[i] as usize])
                        && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let tgid = columns::i32s(batch, "tgid", path)?;
            let uid = columns::i64s(batch, "uid", path)?;
            let flags = columns::i64s(batch, "flags", path)?;
            let mode = columns::i32s(batch, "mode", path)?;
            // Null (failed) fds read as their placeholder; errno decides.
            let fd = columns::i32s(batch, "fd", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let file = Strings::from_batch(batch, "path", path)?;
            for i in keep {
                acc.push(OpenRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    uid: uid[i],
                    fd: if errno[i] == 0 { fd[i] } else { -1 },
                    errno: errno[i],
                    flags: flags[i],
                    mode: mode[i],
                    path: file.get(i).clone(),
                    latency_ns: lat[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Opensnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs opensnoop and prints it.
pub fn run(recordings: &[Recording], opts: &OpensnoopOptions, out: &mut Out<'_>) -> Result<()> {
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

/// Prints the rows as libbpf-tools `opensnoop` does.
pub fn write_text(r: &Opensnoop, opts: &OpensnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.time {
        write!(out.out, "{:<8} ", "TIME")?;
    }
    if opts.uid {
        write!(out.out, "{:<7} ", "UID")?;
    }
    write!(
        out.out,
        "{:<6} {:<16} {:>3} {:>3} ",
        "PID", "COMM", "FD", "ERR"
    )?;
    if opts.extended {
        write!(out.out, "{:<8} {:<4} ", "FLAGS", "MODE")?;
    }
    writeln!(out.out, "PATH")?;
    let mut flagged = 0u64;
    for row in &r.rows {
        if opts.time {
            write!(out.out, "{:<8} ", format_hms(row.ts, opts.localtime))?;
        }
        if opts.uid {
            write!(out.out, "{:<7} ", row.uid)?;
        }
        write!(
            out.out,
            "{:<6} {:<16} {:>3} {:>3} ",
            row.pid, row.comm, row.fd, row.errno
        )?;
        if opts.extended {
            write!(out.out, "{:08o} {:04o} ", row.flags, row.mode)?;
        }
        writeln!(out.out, "{}", row.path)?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct OpenJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    uid: i64,
    fd: i32,
    errno: i32,
    flags: i64,
    mode: i32,
    path: &'a str,
    latency_ns: i64,
    in_loss_second: bool,
}

/// Prints opensnoop as JSON.
pub fn write_json(r: &Opensnoop, opts: &OpensnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "opensnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "failed": opts.failed,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&OpenJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            uid: row.uid,
            fd: row.fd,
            errno: row.errno,
            flags: row.flags,
            mode: row.mode,
            path: &row.path,
            latency_ns: row.latency_ns,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `opensnoop` on the command line.
#[derive(clap::Args)]
pub struct OpensnoopArgs {
    /// Only failed opens.
    #[arg(short = 'x', long)]
    failed: bool,
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    /// Print the UID column.
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// Extended fields: FLAGS (octal O_* flags) and MODE.
    #[arg(short = 'e', long)]
    extended: bool,
    /// Only commands whose name contains NAME.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for OpensnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = OpensnoopOptions {
            common: self.common.options(),
            failed: self.failed,
            time: self.clock.time,
            localtime: self.clock.localtime,
            uid: self.print_uid,
            extended: self.extended,
            name: self.name,
        };
        run(&recs, &opts, out).context("opensnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
