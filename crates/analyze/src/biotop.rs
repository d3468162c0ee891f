//! `biotop`: the processes doing the most block I/O, like bcc's
//! libbpf-tools `biotop`, from the `bio` table.
//!
//! Columns and widths are libbpf-tools':
//! `PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms`.
//! Rows are keyed as bcc keys them: process id (the submitter's tgid),
//! command name, direction (`W` for write requests, `R` for every other
//! operation, as bcc's `rwflag`), and disk (major, minor from `dev`, the
//! name recorded with it). I/O counts requests, Kbytes is the sum of
//! `bytes` / 1024, AVGms the mean of `queue_ns + latency_ns` (insert →
//! completion; a null `queue_ns` counts as 0), the closest the table has
//! to bcc's `block_io_start → block_io_done`. Sorted by `-s` (default
//! `all`: I/O + bytes + µs, bcc's sum), at most `-r` rows (default 20).
//!
//! Each table starts with its `HH:MM:SS` line (the end of the interval;
//! bcc adds the load average, which a recording does not have) and ends
//! with a blank line. Without `--interval` there is one table for the
//! window. bcc's `-C` (do not clear the screen) has no meaning offline.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::Array;
use ktape_format::bio::TABLE;
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
use crate::time::{format_hms, format_rfc3339, NS_PER_US};

/// How rows are ordered (`-s`), largest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SortBy {
    /// I/O + bytes + microseconds (bcc's sum).
    #[default]
    All,
    /// Requests.
    Io,
    /// Bytes.
    Bytes,
    /// Total time.
    Time,
}

/// `-r`: rows per table unless told otherwise (bcc's).
pub const DEFAULT_MAX_ROWS: usize = 20;

/// Options of `biotop`.
#[derive(Debug, Clone)]
pub struct BiotopOptions {
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
    /// Interval times in the local time zone. Default: UTC.
    pub localtime: bool,
}

impl Default for BiotopOptions {
    fn default() -> Self {
        BiotopOptions {
            common: Options::default(),
            sort: SortBy::All,
            max_rows: DEFAULT_MAX_ROWS,
            interval_ns: None,
            count: None,
            localtime: false,
        }
    }
}

/// One process's I/O to one disk in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Process id (tgid) of the submitter.
    pub pid: i32,
    /// Command name.
    pub comm: Arc<str>,
    /// Write requests (`W`) or not (`R`).
    pub write: bool,
    /// Disk major number.
    pub major: i64,
    /// Disk minor number.
    pub minor: i64,
    /// Disk name.
    pub disk: Arc<str>,
    /// Requests.
    pub io: u64,
    /// Bytes.
    pub bytes: u64,
    /// Sum of the requests' times, ns.
    pub time_ns: u64,
}

impl Row {
    /// bcc's AVGms.
    pub fn avg_ms(&self) -> f64 {
        if self.io == 0 {
            0.0
        } else {
            self.time_ns as f64 / 1e6 / self.io as f64
        }
    }

    fn sort_key(&self, by: SortBy) -> u64 {
        let us = self.time_ns / NS_PER_US as u64;
        match by {
            SortBy::All => self.io.saturating_add(self.bytes).saturating_add(us),
            SortBy::Io => self.io,
            SortBy::Bytes => self.bytes,
            SortBy::Time => us,
        }
    }
}

/// One interval's table.
#[derive(Debug, Clone)]
pub struct Interval {
    /// `[start, end)` ns.
    pub range: (i64, i64),
    /// Rows sorted, cut to `max_rows`.
    pub rows: Vec<Row>,
    /// Rows before the cut.
    pub total_rows: usize,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Biotop {
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// Lost `bio` events overlapping the window.
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

type Key = (i64, i32, Arc<str>, bool, i64, Arc<str>);
type Acc = (HashMap<Key, [u64; 3]>, u64);

/// Sums the requests per interval, process, direction and disk.
pub fn compute(recordings: &[Recording], opts: &BiotopOptions) -> Result<Biotop> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    if opts.max_rows == 0 {
        return Err(Error::Usage("-r must be at least 1".into()));
    }
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let base = window.start_ns;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "tgid",
        "comm",
        "flags",
        "dev",
        "disk",
        "bytes",
        "latency_ns",
        "queue_ns",
    ];
    opts.common.filter.add_columns(&mut cols);
    let (acc, negative): Acc = scan(
        recordings,
        TABLE.name,
        range,
        &cols,
        || (HashMap::new(), 0),
        |(acc, negative): &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            // `flags` ends with bcc's operation name: `Write`, `Sync-Write` …
            let flags = Strings::from_batch(batch, "flags", path)?;
            let write = flags.matching(|f| f.ends_with("Write"));
            let dev = columns::i64s(batch, "dev", path)?;
            let disk = Strings::from_batch(batch, "disk", path)?;
            let bytes = columns::i64s(batch, "bytes", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let queue = columns::i64_array(batch, "queue_ns", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                let q = if queue.is_null(i) { 0 } else { queue.value(i) };
                if lat[i] < 0 || q < 0 || bytes[i] < 0 {
                    *negative += 1;
                    continue;
                }
                let iv = opts
                    .interval_ns
                    .map_or(0, |n| interval_index(ts[i], base, n));
                let key = (
                    iv,
                    tgid[i],
                    comm.get(i).clone(),
                    write[flags.codes[i] as usize],
                    dev[i],
                    disk.get(i).clone(),
                );
                let e = acc.entry(key).or_default();
                e[0] += 1;
                e[1] = e[1].saturating_add(bytes[i] as u64);
                e[2] = e[2].saturating_add(lat[i].saturating_add(q) as u64);
            }
            Ok(())
        },
        |(mut a, na), (b, nb)| {
            for (k, v) in b {
                let e = a.entry(k).or_default();
                for j in 0..3 {
                    e[j] = e[j].saturating_add(v[j]);
                }
            }
            (a, na + nb)
        },
    )?;
    let mut by_iv: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
    for ((iv, pid, comm, write, dev, disk), v) in acc {
        by_iv.entry(iv).or_default().push(Row {
            pid,
            comm,
            write,
            major: dev >> 20,
            minor: dev & ((1 << 20) - 1),
            disk,
            io: v[0],
            bytes: v[1],
            time_ns: v[2],
        });
    }
    let n = match opts.interval_ns {
        None => 1,
        Some(iv) => interval_count(recordings, &window, iv, None)?,
    };
    let mut intervals = Vec::new();
    for i in 0..n {
        let mut rows = by_iv.remove(&i).unwrap_or_default();
        // Largest first; ties in a fixed order so output is stable.
        rows.sort_by(|a, b| {
            b.sort_key(opts.sort)
                .cmp(&a.sort_key(opts.sort))
                .then(a.pid.cmp(&b.pid))
                .then(a.comm.cmp(&b.comm))
                .then(a.write.cmp(&b.write))
                .then((a.major, a.minor).cmp(&(b.major, b.minor)))
                .then(a.disk.cmp(&b.disk))
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
    let mut warnings = Vec::new();
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} bio rows with a negative bytes, latency_ns or queue_ns were left out (damaged rows)"
        ));
    }
    Ok(Biotop {
        window,
        intervals,
        loss,
        warnings,
    })
}

/// Runs biotop and prints it.
pub fn run(recordings: &[Recording], opts: &BiotopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut warnings = tables::check(recordings, &Needs::one(TABLE.name))?;
    let mut r = compute(recordings, opts)?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    if opts.common.json {
        write_json(&r, opts, out)?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[TABLE.name])
}

/// Prints the tables as libbpf-tools `biotop` does.
pub fn write_text(r: &Biotop, opts: &BiotopOptions, out: &mut Out<'_>) -> Result<()> {
    for iv in &r.intervals {
        let t = iv.range.1.min(r.window.end_ns);
        writeln!(out.out, "{:>8}", format_hms(t, opts.localtime))?;
        writeln!(
            out.out,
            "{:<7} {:<16} {:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6}",
            "PID", "COMM", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"
        )?;
        for row in &iv.rows {
            writeln!(
                out.out,
                "{:<7} {:<16} {:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6.2}",
                row.pid,
                row.comm,
                if row.write { "W" } else { "R" },
                row.major,
                row.minor,
                row.disk,
                row.io,
                row.bytes / 1024,
                row.avg_ms()
            )?;
        }
        writeln!(out.out)?;
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

/// Prints biotop as JSON: `intervals[]` with `rows[]` of `{pid, comm, d,
/// major, minor, disk, io, bytes, kbytes, time_ns, avg_ms}`.
pub fn write_json(r: &Biotop, opts: &BiotopOptions, out: &mut Out<'_>) -> Result<()> {
    let intervals: Vec<serde_json::Value> = r
        .intervals
        .iter()
        .map(|iv| {
            serde_json::json!({
                "from": format_rfc3339(iv.range.0),
                "to": format_rfc3339(iv.range.1.min(r.window.end_ns)),
                "rows": iv.rows.iter().map(|row| serde_json::json!({
                    "pid": row.pid,
                    "comm": &*row.comm,
                    "d": if row.write { "W" } else { "R" },
                    "major": row.major,
                    "minor": row.minor,
                    "disk": &*row.disk,
                    "io": row.io,
                    "bytes": row.bytes,
                    "kbytes": row.bytes / 1024,
                    "time_ns": row.time_ns,
                    "avg_ms": row.avg_ms(),
                })).collect::<Vec<_>>(),
                "total_rows": iv.total_rows,
                "lost": r.loss.lost_between(iv.range.0, iv.range.1),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "biotop",
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

/// `biotop` on the command line.
#[derive(clap::Args)]
pub struct BiotopArgs {
    /// Sort order, largest first (all: I/O + bytes + microseconds, as bcc).
    #[arg(short = 's', long = "sort", value_name = "BY", value_enum, default_value_t = SortBy::All)]
    sort: SortBy,
    /// At most this many rows per table.
    #[arg(short = 'r', long = "rows", value_name = "N", default_value_t = DEFAULT_MAX_ROWS)]
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

impl crate::cli::Run for BiotopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let opts = BiotopOptions {
            common: self.common.options(),
            sort: self.sort,
            max_rows: self.max_rows,
            interval_ns: self.interval,
            count: self.count,
            localtime: self.localtime,
        };
        let recs = self.common.open()?;
        run(&recs, &opts, out).context("biotop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
