//! `syncsnoop`: one line per sync, fsync, fdatasync, msync,
//! sync_file_range or syncfs call, like bcc's `syncsnoop`, in time order,
//! from the `sync` table of `-e sync`.
//!
//! bcc prints `TIME(s) CALL` with `sync()`; this report adds the caller
//! (PID, the process id, and COMM, as the libbpf-tools version does) and
//! writes the other calls with their arguments: `fsync(3)`,
//! `msync(0x7f00c0de0000, 4096, MS_SYNC)`, `sync_file_range(3, 0, 4096,
//! SYNC_FILE_RANGE_WRITE)`. TIME(s) is seconds since the start of the
//! window (bcc: the kernel's monotonic clock).

use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::sync::TABLE;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::mountsnoop::flag_names;
use crate::output::Out;
use crate::time::{format_rfc3339, secs_between};

/// Options of `syncsnoop`. The default prints every call.
#[derive(Debug, Clone, Default)]
pub struct SyncsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
}

/// One sync call, with what syncsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRow {
    /// Entry of the call, ns since the epoch.
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
    /// The fd argument, -1 when none.
    pub fd: i32,
    /// sync_file_range's offset, msync's address.
    pub offset: i64,
    /// sync_file_range's and msync's length.
    pub nbytes: i64,
    /// msync's and sync_file_range's flags.
    pub flags: i64,
}

/// The computed syncsnoop report.
pub type Syncsnoop = Listing<SyncRow>;

/// Collects and sorts the calls.
pub fn compute(recordings: &[Recording], opts: &SyncsnoopOptions) -> Result<Syncsnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts", "pid", "tgid", "comm", "call", "fd", "offset", "nbytes", "flags",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<SyncRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<SyncRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| range.contains(ts[i]) && filter.keep(i))
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let fd = columns::i32s(batch, "fd", path)?;
            let offset = columns::i64s(batch, "offset", path)?;
            let nbytes = columns::i64s(batch, "nbytes", path)?;
            let flags = columns::i64s(batch, "flags", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let call = Strings::from_batch(batch, "call", path)?;
            for i in keep {
                acc.push(SyncRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    tid: pid[i],
                    call: call.get(i).clone(),
                    fd: fd[i],
                    offset: offset[i],
                    nbytes: nbytes[i],
                    flags: flags[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Syncsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

const MSYNC_FLAGS: &[(i64, &str)] = &[(1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC")];
const RANGE_FLAGS: &[(i64, &str)] = &[
    (1, "SYNC_FILE_RANGE_WAIT_BEFORE"),
    (2, "SYNC_FILE_RANGE_WRITE"),
    (4, "SYNC_FILE_RANGE_WAIT_AFTER"),
];

/// The CALL column: `sync()`, `fsync(3)` …
pub fn call_text(r: &SyncRow) -> String {
    match &*r.call {
        "sync" => "sync()".into(),
        "msync" => format!(
            "msync({:#x}, {}, {})",
            r.offset,
            r.nbytes,
            flag_names(r.flags, MSYNC_FLAGS)
        ),
        "sync_file_range" => format!(
            "sync_file_range({}, {}, {}, {})",
            r.fd,
            r.offset,
            r.nbytes,
            flag_names(r.flags, RANGE_FLAGS)
        ),
        other => format!("{other}({})", r.fd),
    }
}

/// Runs syncsnoop and prints it.
pub fn run(recordings: &[Recording], opts: &SyncsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        write_json,
        write_text,
    )
}

/// Prints the rows as bcc's `syncsnoop` does, with PID and COMM.
pub fn write_text(r: &Syncsnoop, out: &mut Out<'_>) -> Result<()> {
    writeln!(out.out, "{:<18} {:<7} {:<16} CALL", "TIME(s)", "PID", "COMM")?;
    let mut flagged = 0u64;
    for row in &r.rows {
        writeln!(
            out.out,
            "{:<18.9} {:<7} {:<16} {}",
            secs_between(r.window.start_ns, row.ts),
            row.pid,
            row.comm,
            call_text(row)
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct SyncJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    tid: i32,
    call: &'a str,
    fd: i32,
    offset: i64,
    nbytes: i64,
    flags: i64,
    text: String,
    in_loss_second: bool,
}

/// Prints syncsnoop as JSON.
pub fn write_json(r: &Syncsnoop, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "syncsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&SyncJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            tid: row.tid,
            call: &row.call,
            fd: row.fd,
            offset: row.offset,
            nbytes: row.nbytes,
            flags: row.flags,
            text: call_text(row),
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `syncsnoop` on the command line.
#[derive(clap::Args)]
pub struct SyncsnoopArgs {
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for SyncsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = SyncsnoopOptions {
            common: self.common.options(),
        };
        run(&recs, &opts, out).context("syncsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
