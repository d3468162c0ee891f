//! `cachestat`: page-cache hits, misses and dirtied pages per interval,
//! like bcc's libbpf-tools `cachestat`, from the `cache` table of
//! `-e cache`.
//!
//! Columns and widths are libbpf-tools':
//! `[TIME    ]    HITS   MISSES  DIRTIES HITRATIO   BUFFERS_MB  CACHED_MB`.
//! The recorder writes one row about every second; by default each row is
//! one line (bcc's default interval, 1 s), and `--interval` sums rows into
//! longer intervals by their end time. The figures follow bcc's arithmetic
//! ([`ktape_format::cache::hits_misses`]): MISSES (pages added minus
//! pages dirtied) and DIRTIES are exact counts; HITS and HITRATIO rest on
//! an **estimate** of accesses (there is no tracepoint where bcc's kprobe
//! on mark_page_accessed sits: ktape counts the pages buffered reads ask
//! for and the pages mmap faults map), and the report says so. Unlike
//! bcc, MISSES is not lowered to the access count when readahead added
//! more pages than were read yet (HITS is then 0).

use ktape_format::cache::{hits_misses, TABLE};
use ktape_format::read::Recording;
use serde::Serialize;

use crate::columns;
use crate::common::{interval_index, json_warnings, scan_rows, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_hms, format_rfc3339};

/// The note every cachestat output carries.
pub const ESTIMATE_NOTE: &str = "note: HITS and HITRATIO are estimates (no tracepoint marks page accesses: accesses are the pages buffered reads asked for, mmap faults mapped and writes dirtied); MISSES and DIRTIES are exact";

/// Options of `cachestat`.
#[derive(Debug, Clone, Default)]
pub struct CachestatOptions {
    /// Common options (`--from/--to`, `--json`; `-p` must have been
    /// given to the recorder).
    pub common: Options,
    /// `-T`: a TIME column. Default: off.
    pub timestamp: bool,
    /// `--localtime`: TIME in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `--interval`: sum rows into intervals this long, ns. Default: one
    /// line per recorded row (about a second).
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many lines. Default: all.
    pub count: Option<u64>,
}

/// One line of cachestat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// End of the interval, ns since the epoch.
    pub ts: i64,
    /// Time covered by the rows summed, ns.
    pub interval_ns: i64,
    /// Pages added to the cache.
    pub added_pages: i64,
    /// Pages dirtied.
    pub dirtied_pages: i64,
    /// Pages read (estimate).
    pub read_pages: i64,
    /// Pages mapped by faults (estimate).
    pub mapped_pages: i64,
    /// Buffers at the end, bytes.
    pub buffers_bytes: i64,
    /// Cached at the end, bytes.
    pub cached_bytes: i64,
}

impl Line {
    /// (hits, misses, accesses) as bcc computes them.
    pub fn figures(&self) -> (i64, i64, i64) {
        // Page counts are never negative, and a quarter of i64 is more
        // pages than any machine has: within those bounds bcc's sums
        // cannot overflow on a damaged row.
        let c = |v: i64| v.clamp(0, i64::MAX / 4);
        hits_misses(
            c(self.added_pages),
            c(self.dirtied_pages),
            c(self.read_pages),
            c(self.mapped_pages),
        )
    }

    /// HITRATIO in percent (0 when nothing was accessed or missed).
    pub fn hit_ratio(&self) -> f64 {
        let (hits, misses, _) = self.figures();
        let all = hits as f64 + misses as f64;
        if all > 0.0 {
            hits as f64 * 100.0 / all
        } else {
            0.0
        }
    }
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Cachestat {
    /// The window covered.
    pub window: Window,
    /// Lines in time order.
    pub lines: Vec<Line>,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

/// Reads the rows and sums them per interval.
pub fn compute(recordings: &[Recording], opts: &CachestatOptions) -> Result<Cachestat> {
    if matches!(opts.interval_ns, Some(i) if i <= 0) {
        return Err(Error::Usage("--interval must be positive".into()));
    }
    let f = &opts.common.filter;
    if f.pid.is_some() || f.comm.is_some() || f.cgroup_id.is_some() {
        return Err(Error::Usage(
            "cachestat: the cache table has system-wide counters, not per process; record with ktape-record -p PID to count one process".into(),
        ));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let cols = [
        "ts",
        "interval_ns",
        "added_pages",
        "dirtied_pages",
        "read_pages",
        "mapped_pages",
        "buffers_bytes",
        "cached_bytes",
    ];
    let mut rows: Vec<Line> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<Line>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let c: Vec<&[i64]> = cols[1..]
                .iter()
                .map(|n| columns::i64s(batch, n, path))
                .collect::<Result<_>>()?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) {
                    acc.push(Line {
                        ts: ts[i],
                        interval_ns: c[0][i],
                        added_pages: c[1][i],
                        dirtied_pages: c[2][i],
                        read_pages: c[3][i],
                        mapped_pages: c[4][i],
                        buffers_bytes: c[5][i],
                        cached_bytes: c[6][i],
                    });
                }
            }
            Ok(())
        },
    )?;
    rows.sort_by_key(|l| l.ts);
    let mut lines: Vec<Line> = match opts.interval_ns {
        None => rows,
        Some(iv) => {
            let mut out: Vec<(i64, Line)> = Vec::new();
            for r in rows {
                let bin = interval_index(r.ts, window.start_ns, iv);
                match out.last_mut() {
                    Some((b, l)) if *b == bin => {
                        l.ts = r.ts;
                        l.interval_ns = l.interval_ns.saturating_add(r.interval_ns);
                        l.added_pages = l.added_pages.saturating_add(r.added_pages);
                        l.dirtied_pages = l.dirtied_pages.saturating_add(r.dirtied_pages);
                        l.read_pages = l.read_pages.saturating_add(r.read_pages);
                        l.mapped_pages = l.mapped_pages.saturating_add(r.mapped_pages);
                        l.buffers_bytes = r.buffers_bytes;
                        l.cached_bytes = r.cached_bytes;
                    }
                    _ => out.push((bin, r)),
                }
            }
            out.into_iter().map(|(_, l)| l).collect()
        }
    };
    if let Some(n) = opts.count {
        lines.truncate(n as usize);
    }
    Ok(Cachestat {
        window,
        lines,
        warnings: Vec::new(),
    })
}

/// Runs cachestat and prints it.
pub fn run(recordings: &[Recording], opts: &CachestatOptions, out: &mut Out<'_>) -> Result<()> {
    // Counters, not events: the cache family loses nothing to show.
    let needs = Needs {
        loss: false,
        ..Needs::one(TABLE.name)
    };
    let warnings = tables::check(recordings, &needs)?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        write_json(&r, out)?;
    } else {
        write_text(&r, opts, out)?;
        out.warn(ESTIMATE_NOTE)?;
    }
    table_notes(out, recordings, &r.warnings, &[TABLE.name])
}

const MIB: i64 = 1 << 20;

/// Prints the lines as libbpf-tools `cachestat` does.
pub fn write_text(r: &Cachestat, opts: &CachestatOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.timestamp {
        write!(out.out, "{:<8} ", "TIME")?;
    }
    writeln!(
        out.out,
        "{:>8} {:>8} {:>8} {:>8} {:>12} {:>10}",
        "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB", "CACHED_MB"
    )?;
    for l in &r.lines {
        let (hits, misses, _) = l.figures();
        if opts.timestamp {
            write!(out.out, "{:<8} ", format_hms(l.ts, opts.localtime))?;
        }
        writeln!(
            out.out,
            "{:>8} {:>8} {:>8} {:>7.2}% {:>12} {:>10}",
            hits,
            misses,
            l.dirtied_pages,
            l.hit_ratio(),
            l.buffers_bytes / MIB,
            l.cached_bytes / MIB
        )?;
    }
    Ok(())
}

/// Prints cachestat as JSON: each line with bcc's figures and the raw
/// counters they come from.
pub fn write_json(r: &Cachestat, out: &mut Out<'_>) -> Result<()> {
    let lines: Vec<serde_json::Value> = r
        .lines
        .iter()
        .map(|l| {
            let (hits, misses, accesses) = l.figures();
            serde_json::json!({
                "ts": format_rfc3339(l.ts),
                "interval_ns": l.interval_ns,
                "hits": hits,
                "misses": misses,
                "dirties": l.dirtied_pages,
                "accesses": accesses,
                "hit_ratio": l.hit_ratio(),
                "buffers_mb": l.buffers_bytes / MIB,
                "cached_mb": l.cached_bytes / MIB,
                "added_pages": l.added_pages,
                "dirtied_pages": l.dirtied_pages,
                "read_pages": l.read_pages,
                "mapped_pages": l.mapped_pages,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "report": "cachestat",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "estimated": ["hits", "accesses", "hit_ratio", "read_pages", "mapped_pages"],
        "lines": lines,
    });
    json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

/// `cachestat` on the command line.
#[derive(clap::Args)]
pub struct CachestatArgs {
    /// Include a TIME column (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Sum the recorded seconds into intervals this long (plain numbers are seconds; 10s, 1m …). Default: one line per recorded second.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many lines.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for CachestatArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = CachestatOptions {
            common: self.common.options(),
            timestamp: self.timestamp,
            localtime: self.localtime,
            interval_ns: self.interval,
            count: self.count,
        };
        run(&recs, &opts, out).context("cachestat")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
