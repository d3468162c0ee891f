//! `fsslower`: file operations slower than a threshold, one line each,
//! like bcc's libbpf-tools `fsslower` (and ext4slower, xfsslower …), from
//! the `file_op` table of `-e fileio`.
//!
//! Columns and printf widths are libbpf-tools':
//! `TIME     COMM             PID     T BYTES   OFF_KB   LAT(ms) FILENAME`
//! where T is R (read, pread64, readv), W (write, pwrite64, writev) or F
//! (fsync, fdatasync), BYTES the bytes done, OFF_KB the starting offset in
//! KiB. bcc traces one filesystem's functions, so it also shows opens (O);
//! ktape sees system calls, so opens are in `opensnoop` instead. `-t FS`
//! keeps one filesystem type (as the kernel names it: ext4, xfs, btrfs …),
//! which is what choosing between ext4slower and xfsslower did. The
//! threshold is `-m` milliseconds (default 10, as bcc; 0 prints every
//! recorded operation); the recorder may have dropped faster ones already
//! (`--min-latency`).

use std::sync::Arc;

use ktape_format::fileio::{op_letter, TABLE};
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::{Error, Result};
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between, NS_PER_MS};

/// bcc's default threshold, in `-m`'s unit (a plain number is ms).
pub const DEFAULT_MIN_MS: i64 = 10;
/// [`DEFAULT_MIN_MS`] in ns, as [`FsslowerOptions`] holds it.
pub const DEFAULT_MIN_NS: i64 = DEFAULT_MIN_MS * NS_PER_MS;

/// Options of `fsslower`.
#[derive(Debug, Clone)]
pub struct FsslowerOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-m`: only operations at least this long, ns. Default: 10 ms.
    pub min_latency_ns: i64,
    /// `-t`: only this filesystem type. Default: all.
    pub fs: Option<String>,
    /// `--localtime`: TIME in the local time zone. Default: UTC.
    pub localtime: bool,
}

impl Default for FsslowerOptions {
    fn default() -> Self {
        FsslowerOptions {
            common: Options::default(),
            min_latency_ns: DEFAULT_MIN_NS,
            fs: None,
            localtime: false,
        }
    }
}

/// One slow operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowOp {
    /// Return of the call, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Command name.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// System call name.
    pub op: Arc<str>,
    /// Filesystem type.
    pub fs: Arc<str>,
    /// Bytes done.
    pub bytes: i64,
    /// Starting offset, bytes.
    pub offset: i64,
    /// Entry → return, ns.
    pub latency_ns: i64,
    /// File name.
    pub path: Arc<str>,
    /// Return value.
    pub ret: i64,
}

/// The computed report.
pub type Fsslower = Listing<SlowOp>;

/// Collects and sorts the slow operations.
pub fn compute(recordings: &[Recording], opts: &FsslowerOptions) -> Result<Fsslower> {
    if opts.min_latency_ns < 0 {
        return Err(Error::Usage("-m must not be negative".into()));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "pid",
        "tgid",
        "comm",
        "op",
        "fs",
        "path",
        "offset",
        "bytes",
        "ret",
        "latency_ns",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<SlowOp> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<SlowOp>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let fs = Strings::from_batch(batch, "fs", path)?;
            let fs_ok = opts
                .fs
                .as_ref()
                .map(|want| fs.matching(|f| f == want.as_str()));
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    range.contains(ts[i])
                        && lat[i] >= opts.min_latency_ns
                        && fs_ok.as_ref().is_none_or(|ok| ok[fs.codes[i] as usize])
                        && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let op = Strings::from_batch(batch, "op", path)?;
            let file = Strings::from_batch(batch, "path", path)?;
            let offset = columns::i64s(batch, "offset", path)?;
            let bytes = columns::i64s(batch, "bytes", path)?;
            let ret = columns::i64s(batch, "ret", path)?;
            for i in keep {
                acc.push(SlowOp {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    tid: pid[i],
                    op: op.get(i).clone(),
                    fs: fs.get(i).clone(),
                    bytes: bytes[i],
                    offset: offset[i],
                    latency_ns: lat[i],
                    path: file.get(i).clone(),
                    ret: ret[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording, r.tid));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Fsslower {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs fsslower and prints it.
pub fn run(recordings: &[Recording], opts: &FsslowerOptions, out: &mut Out<'_>) -> Result<()> {
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

/// Prints the rows as libbpf-tools `fsslower` does.
pub fn write_text(r: &Fsslower, opts: &FsslowerOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "{:<8} {:<16} {:<7} {:1} {:<7} {:<8} {:>7} FILENAME",
        "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        writeln!(
            out.out,
            "{:<8} {:<16} {:<7} {} {:<7} {:<8} {:>7.2} {}",
            format_hms(row.ts, opts.localtime),
            row.comm,
            row.pid,
            op_letter(&row.op),
            row.bytes,
            row.offset >> 10,
            row.latency_ns as f64 / 1e6,
            row.path
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
    op: &'a str,
    t: String,
    fs: &'a str,
    bytes: i64,
    offset: i64,
    latency_ns: i64,
    ret: i64,
    path: &'a str,
    in_loss_second: bool,
}

/// Prints fsslower as JSON.
pub fn write_json(r: &Fsslower, opts: &FsslowerOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "fsslower",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "min_latency_ns": opts.min_latency_ns,
        "fs": opts.fs,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&SlowJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            tid: row.tid,
            op: &row.op,
            t: op_letter(&row.op).to_string(),
            fs: &row.fs,
            bytes: row.bytes,
            offset: row.offset,
            latency_ns: row.latency_ns,
            ret: row.ret,
            path: &row.path,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `fsslower` on the command line.
#[derive(clap::Args)]
pub struct FsslowerArgs {
    /// Only operations at least this long (plain numbers are milliseconds, as bcc; 0 prints all; 500us, 1s …).
    #[arg(short = 'm', long = "min", value_name = "MS", value_parser = crate::cli::parse_ms_arg, default_value_t = DEFAULT_MIN_MS)]
    min: i64,
    /// Only this filesystem type (as the kernel names it: ext4, xfs, btrfs …).
    #[arg(short = 't', long = "type", value_name = "FS")]
    fs: Option<String>,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for FsslowerArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = FsslowerOptions {
            common: self.common.options(),
            min_latency_ns: self.min,
            fs: self.fs,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("fsslower")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
