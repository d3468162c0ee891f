//! `biosnoop`: one line per block I/O request, like bcc's libbpf-tools
//! `biosnoop`, in completion-time order.
//!
//! Columns and printf widths are bcc's:
//! `TIME(s) COMM PID DISK T SECTOR BYTES [QUE(ms)] LAT(ms)`, where TIME(s)
//! counts from the first printed request, PID is the submitting process
//! (`tgid`, what bcc records), T the rwbs letters, QUE(ms) the time queued
//! in the OS (`-1.000` when the request bypassed the queue, as bcc prints a
//! missed insert) and LAT(ms) issue → completion.
//!
//! `--min-latency` keeps requests whose LAT is at least that long (bcc's
//! `min_ns`), which turns biosnoop into a slow-I/O report.
//!
//! The rows must be sorted by time, so unlike the histogram reports this
//! one keeps the rows it prints; it keeps only the printed columns and
//! drops filtered rows before keeping anything.

use std::sync::Arc;

use arrow_array::Array;
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_rfc3339, secs_between, NS_PER_MS};

/// Options of `biosnoop`. The default prints every request.
#[derive(Debug, Clone, Default)]
pub struct BiosnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-Q`: add the QUE(ms) column. Default: off.
    pub queued: bool,
    /// `-d`: only this disk. Default: every disk.
    pub disk: Option<String>,
    /// `--min-latency`: only requests with `latency_ns` at least this, ns.
    /// Default: 0 (all).
    pub min_latency_ns: i64,
}

/// One request, with only what biosnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Completion time, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Submitter's thread name (empty when unknown).
    pub comm: Arc<str>,
    /// Submitter's process id (`tgid`).
    pub pid: i32,
    /// Disk name.
    pub disk: Arc<str>,
    /// rwbs letters.
    pub op: Arc<str>,
    /// First sector (512-byte units).
    pub sector: i64,
    /// Bytes.
    pub bytes: i64,
    /// Time queued in the OS, ns (`None` when the queue was bypassed).
    pub queue_ns: Option<i64>,
    /// Issue → completion, ns.
    pub latency_ns: i64,
}

/// The computed report.
pub type Biosnoop = Listing<Row>;

/// Collects and sorts the requests.
pub fn compute(recordings: &[Recording], opts: &BiosnoopOptions) -> Result<Biosnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "disk",
        "op",
        "sector",
        "bytes",
        "latency_ns",
        "tgid",
        "comm",
    ];
    if opts.queued {
        cols.push("queue_ns");
    }
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<Row> = scan_rows(
        recordings,
        ktape_format::bio::TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<Row>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let disk = Strings::from_batch(batch, "disk", path)?;
            let disk_ok = opts.disk.as_ref().map(|want| disk.matching(|d| d == want));
            let filter = opts.common.filter.prepare(batch, path)?;
            // Decide which rows survive before decoding the rest.
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    range.contains(ts[i])
                        && lat[i] >= opts.min_latency_ns
                        && disk_ok.as_ref().is_none_or(|ok| ok[disk.codes[i] as usize])
                        && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let op = Strings::from_batch(batch, "op", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let sector = columns::i64s(batch, "sector", path)?;
            let bytes = columns::i64s(batch, "bytes", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let queue = if opts.queued {
                Some(columns::i64_array(batch, "queue_ns", path)?)
            } else {
                None
            };
            acc.reserve(keep.len());
            for i in keep {
                acc.push(Row {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    disk: disk.get(i).clone(),
                    op: op.get(i).clone(),
                    sector: sector[i],
                    bytes: bytes[i],
                    queue_ns: queue
                        .and_then(|q| if q.is_null(i) { None } else { Some(q.value(i)) }),
                    latency_ns: lat[i],
                });
            }
            Ok(())
        },
    )?;
    // Stable, and the merge keeps scan-unit order, so ties print in a
    // reproducible order.
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, ktape_format::bio::TABLE.family, range)?;
    Ok(Biosnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &BiosnoopOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        ktape_format::bio::TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        |r, out| write_json(r, opts, out),
        |r, out| write_text(r, opts, out),
    )
}

/// bcc's `%-14.14s`: at most 14 characters, padded to 14.
fn comm14(comm: &str) -> String {
    let c = if comm.is_empty() { "?" } else { comm };
    let t: String = c.chars().take(14).collect();
    format!("{t:<14}")
}

/// Prints the rows as libbpf-tools `biosnoop` does.
pub fn write_text(r: &Biosnoop, opts: &BiosnoopOptions, out: &mut Out<'_>) -> Result<()> {
    write!(
        out.out,
        "{:<11} {:<14} {:<7} {:<7} {:<4} {:<10} {:<7} ",
        "TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES"
    )?;
    if opts.queued {
        write!(out.out, "{:>7} ", "QUE(ms)")?;
    }
    writeln!(out.out, "{:>7}", "LAT(ms)")?;
    let first = r.rows.first().map_or(0, |row| row.ts);
    let mut flagged = 0u64;
    for row in &r.rows {
        write!(
            out.out,
            "{:<11.6} {} {:<7} {:<7} {:<4} {:<10} {:<7} ",
            secs_between(first, row.ts),
            comm14(&row.comm),
            row.pid,
            row.disk,
            row.op,
            row.sector,
            row.bytes
        )?;
        if opts.queued {
            let q = row.queue_ns.map_or(-1.0, |q| q as f64 / NS_PER_MS as f64);
            write!(out.out, "{q:>7.3} ")?;
        }
        writeln!(out.out, "{:>7.3}", row.latency_ns as f64 / NS_PER_MS as f64)?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
        if flagged > 0 {
            out.warn(&format!(
                "WARNING: {flagged} of the rows above completed in those seconds; requests near them may be missing"
            ))?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonRow<'a> {
    time_s: f64,
    ts: String,
    comm: &'a str,
    pid: i32,
    disk: &'a str,
    /// The rwbs letters (bcc's `T` column), named as the table's column.
    op: &'a str,
    sector: i64,
    bytes: i64,
    queue_ns: Option<i64>,
    latency_ns: i64,
    lat_ms: f64,
    in_loss_second: bool,
}

/// Prints the rows as JSON: one object per request (streamed, one per
/// line) inside a report object with the window and loss.
pub fn write_json(r: &Biosnoop, opts: &BiosnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "biosnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "queued": opts.queued,
        "min_latency_ns": opts.min_latency_ns,
    });
    crate::common::json_warnings(&mut head, &r.warnings);
    let head = serde_json::to_string(&head)?;
    // Reopen the object to append the (streamed) rows.
    write!(out.out, "{},\n\"rows\": [", &head[..head.len() - 1])?;
    let first = r.rows.first().map_or(0, |row| row.ts);
    for (n, row) in r.rows.iter().enumerate() {
        let j = JsonRow {
            time_s: secs_between(first, row.ts),
            ts: format_rfc3339(row.ts),
            comm: &row.comm,
            pid: row.pid,
            disk: &row.disk,
            op: &row.op,
            sector: row.sector,
            bytes: row.bytes,
            queue_ns: row.queue_ns,
            latency_ns: row.latency_ns,
            lat_ms: row.latency_ns as f64 / NS_PER_MS as f64,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        };
        if n > 0 {
            write!(out.out, ",")?;
        }
        writeln!(out.out)?;
        serde_json::to_writer(&mut *out.out, &j)?;
    }
    writeln!(
        out.out,
        "\n],\n\"loss\": {}}}",
        serde_json::to_string(&r.loss.to_json())?
    )?;
    Ok(())
}

/// `biosnoop` on the command line.
#[derive(clap::Args)]
pub struct BiosnoopArgs {
    /// Include OS queued time (QUE(ms) column).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// Only this disk (e.g. vda).
    #[arg(short = 'd', long, value_name = "DISK")]
    disk: Option<String>,
    /// Only requests whose LAT is at least this long: 500us, 5ms, 1.5s; a plain number is milliseconds.
    #[arg(long, value_name = "DUR", value_parser = crate::cli::parse_ms_arg)]
    min_latency: Option<i64>,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for BiosnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = BiosnoopOptions {
            common: self.common.options(),
            queued: self.queued,
            disk: self.disk,
            min_latency_ns: self.min_latency.unwrap_or(0),
        };
        run(&recs, &opts, out).context("biosnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_cut_like_printf() {
        assert_eq!(comm14("dd"), "dd            ");
        assert_eq!(comm14(""), "?             ");
        assert_eq!(comm14("a-very-long-thread-name"), "a-very-long-th");
    }

    #[test]
    fn rows_at_the_ends_of_the_clock() {
        use ktape_format::read::TimeRange;
        // A row within a second of i64::MIN, beside a lossy second, once
        // panicked in Loss::affects; and TIME(s) from i64::MIN to
        // i64::MAX wrapped to -0.000000.
        let row = |ts| Row {
            ts,
            recording: 0,
            comm: Arc::from("dd"),
            pid: 1,
            disk: Arc::from("vda"),
            op: Arc::from("R"),
            sector: 0,
            bytes: 4096,
            queue_ns: Some(i64::MIN),
            latency_ns: i64::MAX,
        };
        let r = Biosnoop {
            window: Window {
                range: TimeRange::ALL,
                start_ns: 0,
                end_ns: 0,
            },
            rows: vec![row(i64::MIN), row(i64::MIN + 1), row(i64::MAX)],
            loss: Loss {
                family: "bio".into(),
                seconds: [((0, 7 * crate::time::NS_PER_SEC), 17)]
                    .into_iter()
                    .collect(),
            },
            warnings: vec!["WARNING: x".into()],
        };
        let opts = BiosnoopOptions {
            queued: true,
            ..Default::default()
        };
        let (mut o, mut e) = (Vec::new(), Vec::new());
        write_text(&r, &opts, &mut Out::new(&mut o, &mut e)).unwrap();
        let text = String::from_utf8(o).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("18446744073.7095"), "{last}");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        write_json(&r, &opts, &mut Out::new(&mut o, &mut e)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        assert_eq!(v["warnings"][0], "WARNING: x");
    }

    #[test]
    fn floats_format_like_printf() {
        assert_eq!(format!("{:<11.6}|", 0.0f64), "0.000000   |");
        assert_eq!(format!("{:<11.6}|", 1234.5678919f64), "1234.567892|");
        assert_eq!(format!("{:>7.3}", -1.0f64), " -1.000");
        assert_eq!(format!("{:>7.3}", 0.0125f64), "  0.013");
    }
}
