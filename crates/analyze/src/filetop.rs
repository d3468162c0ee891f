//! `filetop`: the files read and written the most, by thread and file,
//! like bcc's `filetop`, from the `file_op` table of `-e fileio`.
//!
//! Columns and widths are libbpf-tools':
//! `TID     COMM             READS  WRITES R_Kb    W_Kb    T FILE`.
//! READS counts read, pread64 and readv calls, WRITES write, pwrite64 and
//! writev (fsync moves no data and is in neither, as bcc's vfs_read/
//! vfs_write hooks would have it); R_Kb/W_Kb are the bytes done in KiB.
//! Rows are keyed by thread, command, and file (device and inode, so two
//! files of the same name stay apart) and sorted by `-s` (default `all`:
//! reads + writes + bytes, as libbpf-tools), at most `-r` rows (default
//! 20). T is always R (regular file): the recorder sees nothing else.
//! Without `--interval` there is one table for the whole window; with it,
//! one per interval, each after its `HH:MM:SS` line (bcc also prints the
//! load average there, which a recording does not have). A recording made
//! with `--min-latency` holds only the slower operations: filetop then
//! counts those only (it warns).

use std::collections::HashMap;
use std::sync::Arc;

use ktape_format::fileio::TABLE;
use ktape_format::read::Recording;

use crate::columns::{self, Strings};
use crate::common::{
    interval_bounds, interval_count, interval_index, json_warnings, scan, table_notes, Options,
    Window,
};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339};

/// How rows are ordered (`-s`), largest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SortBy {
    /// reads + writes + read bytes + write bytes.
    #[default]
    All,
    /// Read calls.
    Reads,
    /// Write calls.
    Writes,
    /// Bytes read.
    Rbytes,
    /// Bytes written.
    Wbytes,
}

/// `-r`: rows per table unless told otherwise.
pub const DEFAULT_MAX_ROWS: usize = 20;

/// Options of `filetop`.
#[derive(Debug, Clone)]
pub struct FiletopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-s`: sort order. Default: all.
    pub sort: SortBy,
    /// `-r`: rows per table. Default: 20.
    pub max_rows: usize,
    /// `--interval`: one table per interval, ns. Default: one table.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals. Default: all.
    pub count: Option<u64>,
    /// `--localtime`: interval times in the local time zone. Default: UTC.
    pub localtime: bool,
}

impl Default for FiletopOptions {
    fn default() -> Self {
        FiletopOptions {
            common: Options::default(),
            sort: SortBy::All,
            max_rows: DEFAULT_MAX_ROWS,
            interval_ns: None,
            count: None,
            localtime: false,
        }
    }
}

/// One thread's traffic to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Thread id.
    pub tid: i32,
    /// Process id.
    pub pid: i32,
    /// Command name.
    pub comm: Arc<str>,
    /// Read calls.
    pub reads: u64,
    /// Write calls.
    pub writes: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// File name.
    pub file: Arc<str>,
    /// Filesystem type.
    pub fs: Arc<str>,
    /// Filesystem device number.
    pub dev: i64,
    /// Inode number.
    pub inode: i64,
}

/// One interval's table.
#[derive(Debug, Clone)]
pub struct Interval {
    /// `[start, end)` ns.
    pub range: (i64, i64),
    /// Rows sorted, cut to `max_rows`.
    pub rows: Vec<FileRow>,
    /// How many (thread, file) rows there were before the cut.
    pub total_rows: usize,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Filetop {
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// Lost `fileio` events overlapping the window.
    pub loss: Loss,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

type Key = (i64, i32, i32, Arc<str>, Arc<str>, Arc<str>, i64, i64);
type Acc = HashMap<Key, [u64; 4]>;

fn sort_key(r: &FileRow, by: SortBy) -> u64 {
    match by {
        SortBy::All => r
            .reads
            .saturating_add(r.writes)
            .saturating_add(r.read_bytes)
            .saturating_add(r.write_bytes),
        SortBy::Reads => r.reads,
        SortBy::Writes => r.writes,
        SortBy::Rbytes => r.read_bytes,
        SortBy::Wbytes => r.write_bytes,
    }
}

/// Sums the operations per interval, thread and file.
pub fn compute(recordings: &[Recording], opts: &FiletopOptions) -> Result<Filetop> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    if opts.max_rows == 0 {
        return Err(Error::Usage("-r must be at least 1".into()));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let base = window.start_ns;
    let range = window.range;
    let mut cols = vec![
        "ts", "pid", "tgid", "comm", "op", "fs", "dev", "inode", "path", "bytes",
    ];
    opts.common.filter.add_columns(&mut cols);
    let acc: Acc = scan(
        recordings,
        TABLE.name,
        range,
        &cols,
        Acc::new,
        |acc: &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let op = Strings::from_batch(batch, "op", path)?;
            // 0: read, 1: write, 2: neither (fsync), per dictionary code.
            let kind: Vec<u8> = op
                .matching(|o| matches!(o, "read" | "pread64" | "readv"))
                .iter()
                .zip(op.matching(|o| matches!(o, "write" | "pwrite64" | "writev")))
                .map(|(&r, w)| {
                    if r {
                        0
                    } else if w {
                        1
                    } else {
                        2
                    }
                })
                .collect();
            let fs = Strings::from_batch(batch, "fs", path)?;
            let dev = columns::i64s(batch, "dev", path)?;
            let inode = columns::i64s(batch, "inode", path)?;
            let file = Strings::from_batch(batch, "path", path)?;
            let bytes = columns::i64s(batch, "bytes", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                let k = kind[op.codes[i] as usize];
                if k == 2 {
                    continue;
                }
                let iv = opts
                    .interval_ns
                    .map_or(0, |n| interval_index(ts[i], base, n));
                let key = (
                    iv,
                    pid[i],
                    tgid[i],
                    comm.get(i).clone(),
                    file.get(i).clone(),
                    fs.get(i).clone(),
                    dev[i],
                    inode[i],
                );
                let e = acc.entry(key).or_default();
                e[k as usize] += 1;
                // Bytes done are never negative (a failed call has 0);
                // a damaged value adds nothing rather than wrapping.
                e[2 + k as usize] = e[2 + k as usize].saturating_add(bytes[i].max(0) as u64);
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b {
                let e = a.entry(k).or_default();
                for j in 0..4 {
                    e[j] = e[j].saturating_add(v[j]);
                }
            }
            a
        },
    )?;
    let mut by_iv: std::collections::BTreeMap<i64, Vec<FileRow>> = Default::default();
    for ((iv, tid, pid, comm, file, fs, dev, inode), v) in acc {
        by_iv.entry(iv).or_default().push(FileRow {
            tid,
            pid,
            comm,
            reads: v[0],
            writes: v[1],
            read_bytes: v[2],
            write_bytes: v[3],
            file,
            fs,
            dev,
            inode,
        });
    }
    let n = match opts.interval_ns {
        None => 1,
        // --count already cut the window.
        Some(iv) => interval_count(recordings, &window, iv, None)?,
    };
    let mut intervals = Vec::new();
    for i in 0..n {
        let mut rows = by_iv.remove(&i).unwrap_or_default();
        // Largest first; ties in a fixed order so output is stable.
        rows.sort_by(|a, b| {
            sort_key(b, opts.sort)
                .cmp(&sort_key(a, opts.sort))
                .then(a.tid.cmp(&b.tid))
                .then(a.file.cmp(&b.file))
                .then(a.inode.cmp(&b.inode))
        });
        let total_rows = rows.len();
        rows.truncate(opts.max_rows);
        let range = match opts.interval_ns {
            None => (window.start_ns, window.end_ns),
            Some(iv) => interval_bounds(base, iv, i),
        };
        intervals.push(Interval {
            range,
            rows,
            total_rows,
        });
    }
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Filetop {
        window,
        intervals,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs filetop and prints it.
pub fn run(recordings: &[Recording], opts: &FiletopOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(TABLE.name))?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        write_json(&r, opts, out)?;
    } else {
        write_text(&r, opts, out)?;
    }
    if recordings
        .iter()
        .any(|rec| rec.info.command_line.contains("--min-latency"))
    {
        out.warn(
            "note: recorded with --min-latency: only operations at least that long are counted",
        )?;
    }
    table_notes(out, recordings, &r.warnings, &[TABLE.name])
}

/// Prints the tables as libbpf-tools `filetop` does.
pub fn write_text(r: &Filetop, opts: &FiletopOptions, out: &mut Out<'_>) -> Result<()> {
    for (n, iv) in r.intervals.iter().enumerate() {
        if opts.interval_ns.is_some() {
            if n > 0 {
                writeln!(out.out)?;
            }
            let t = iv.range.1.min(r.window.end_ns);
            writeln!(out.out, "{}", format_hms(t, opts.localtime))?;
            writeln!(out.out)?;
        }
        writeln!(
            out.out,
            "{:<7} {:<16} {:<6} {:<6} {:<7} {:<7} {:1} FILE",
            "TID", "COMM", "READS", "WRITES", "R_Kb", "W_Kb", "T"
        )?;
        for row in &iv.rows {
            writeln!(
                out.out,
                "{:<7} {:<16} {:<6} {:<6} {:<7} {:<7} R {}",
                row.tid,
                row.comm,
                row.reads,
                row.writes,
                row.read_bytes / 1024,
                row.write_bytes / 1024,
                row.file
            )?;
        }
        let lost = r.loss.lost_between(iv.range.0, iv.range.1);
        if opts.interval_ns.is_some() && lost > 0 {
            out.warn(&crate::hist::interval_loss_warning(
                TABLE.family,
                iv.range,
                lost,
            ))?;
        }
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
    }
    Ok(())
}

/// Prints filetop as JSON.
pub fn write_json(r: &Filetop, opts: &FiletopOptions, out: &mut Out<'_>) -> Result<()> {
    let intervals: Vec<serde_json::Value> = r
        .intervals
        .iter()
        .map(|iv| {
            serde_json::json!({
                "from": format_rfc3339(iv.range.0),
                "to": format_rfc3339(iv.range.1.min(r.window.end_ns)),
                "rows": iv.rows.iter().map(|row| serde_json::json!({
                    "tid": row.tid,
                    "pid": row.pid,
                    "comm": &*row.comm,
                    "reads": row.reads,
                    "writes": row.writes,
                    "read_bytes": row.read_bytes,
                    "write_bytes": row.write_bytes,
                    "file": &*row.file,
                    "fs": &*row.fs,
                    "dev": row.dev,
                    "inode": row.inode,
                })).collect::<Vec<_>>(),
                "total_rows": iv.total_rows,
                "lost": r.loss.lost_between(iv.range.0, iv.range.1),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "filetop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "sort": format!("{:?}", opts.sort).to_lowercase(),
        "intervals": intervals,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// `filetop` on the command line.
#[derive(clap::Args)]
pub struct FiletopArgs {
    /// Sort order, largest first (all: reads + writes + read and write bytes).
    #[arg(short = 's', long = "sort", value_name = "BY", value_enum, default_value_t = SortBy::All)]
    sort: SortBy,
    /// At most this many rows per table.
    #[arg(short = 'r', long = "maxrows", value_name = "N", default_value_t = DEFAULT_MAX_ROWS)]
    max_rows: usize,
    /// One table per interval of recorded time (plain numbers are seconds; 500ms, 1m …), each after its time.
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

impl crate::cli::Run for FiletopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let opts = FiletopOptions {
            common: self.common.options(),
            sort: self.sort,
            max_rows: self.max_rows,
            interval_ns: self.interval,
            count: self.count,
            localtime: self.localtime,
        };
        let recs = self.common.open()?;
        run(&recs, &opts, out).context("filetop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
