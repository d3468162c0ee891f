//! `summary`: what a recording is — where and when it was recorded, how
//! it was recorded, what each table holds and costs on disk, and whether
//! events were lost.
//!
//! Table sizes come from the footers alone. With `--from/--to`, `-p`,
//! `--comm` or `--cgroup`, a `matching` column counts the rows that pass
//! (tables lacking a filtered column show `-`), and lost events are
//! counted within the window.

use std::collections::BTreeMap;

use ktape_format::read::{Recording, TimeRange};
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{rel_path, scan, span, Options, Window};
use crate::crosscheck::{self, CrossCheck};
use crate::error::Result;
use crate::output::Out;
use crate::time::{format_rfc3339, format_secs};

/// Options of `summary`: only the common ones.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// Common options; the time window and filters only change the
    /// `matching` counts and the loss counts.
    pub common: Options,
}

/// One table of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    /// Table (folder) name.
    pub name: String,
    /// Complete segment files.
    pub segments: usize,
    /// Rows, from the footers.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes on disk per row (0 for an empty table).
    pub bytes_per_row: f64,
    /// Rows passing the window and filters, when any was given; `None`
    /// also when the table lacks a filtered column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<u64>,
}

/// One recording.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingSummary {
    /// The recording's directory.
    pub path: String,
    /// Host name.
    pub host: String,
    /// Kernel release.
    pub kernel: String,
    /// Boot id.
    pub boot_id: String,
    /// The recorder's command line.
    pub command_line: String,
    /// Recorder version.
    pub recorder_version: String,
    /// Event families recorded.
    pub families: Vec<String>,
    /// Possible CPUs.
    pub ncpus: u32,
    /// CPUs online at the start, in the kernel's list format (empty when
    /// the recording does not say).
    pub online_cpus: String,
    /// Start (RFC 3339, UTC).
    pub start: Option<String>,
    /// End (RFC 3339, UTC).
    pub end: Option<String>,
    /// Length in seconds.
    pub duration_s: Option<f64>,
    /// Tables in name order.
    pub tables: Vec<TableSummary>,
    /// Events lost, in total.
    pub lost: u64,
    /// Events lost per family.
    pub lost_by_family: BTreeMap<String, u64>,
    /// Whether the recording says what was lost: false without a `loss`
    /// table (then `lost` is 0 but means unknown, not none).
    pub loss_known: bool,
    /// Whether its recorder did not finish every segment (killed, or still
    /// recording).
    pub ended_abruptly: bool,
    /// Whether a recorder is writing it now.
    pub recording_now: bool,
    /// Up to when every table is complete (the earliest of the tables'
    /// last closed segment ends), RFC 3339; with `ended_abruptly`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_until: Option<String>,
    /// Segments the recorder never finished, relative to the recording.
    pub incomplete: Vec<IncompleteSegment>,
    /// The rows against the kernel's own counters.
    pub cross_checks: Vec<CrossCheck>,
}

/// A segment its recorder never finished.
#[derive(Debug, Clone, Serialize)]
pub struct IncompleteSegment {
    /// The file, relative to the recording.
    pub path: String,
    /// Its table.
    pub table: String,
    /// Rows read from it through its last checkpoint.
    pub recovered_rows: u64,
    /// Up to when those rows reach, RFC 3339; `None` when none could be
    /// read.
    pub recovered_until: Option<String>,
    /// What was wrong with it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The computed report: totals over every recording given, then each
/// recording.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `summary`.
    pub report: &'static str,
    /// Window `[from, to)` (RFC 3339) when `--from/--to` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<(String, String)>,
    /// Each table summed over all recordings, in name order.
    pub tables: Vec<TableSummary>,
    /// Events lost over all recordings (in the window).
    pub lost: u64,
    /// Events lost per family over all recordings.
    pub lost_by_family: BTreeMap<String, u64>,
    /// Every recording's cross-checks.
    pub cross_checks: Vec<CrossCheck>,
    /// One entry per recording, in argument order.
    pub recordings: Vec<RecordingSummary>,
}

/// Sums the per-recording tables and loss.
fn totals(recs: &[RecordingSummary]) -> (Vec<TableSummary>, BTreeMap<String, u64>) {
    let mut tables: BTreeMap<String, TableSummary> = BTreeMap::new();
    let mut lost: BTreeMap<String, u64> = BTreeMap::new();
    for r in recs {
        for t in &r.tables {
            let e = tables
                .entry(t.name.clone())
                .or_insert_with(|| TableSummary {
                    name: t.name.clone(),
                    segments: 0,
                    rows: 0,
                    bytes: 0,
                    bytes_per_row: 0.0,
                    matching: t.matching.map(|_| 0),
                });
            e.segments += t.segments;
            e.rows += t.rows;
            e.bytes += t.bytes;
            e.matching = e.matching.zip(t.matching).map(|(a, b)| a + b);
        }
        for (f, v) in &r.lost_by_family {
            let e = lost.entry(f.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }
    let tables = tables
        .into_values()
        .map(|mut t| {
            t.bytes_per_row = if t.rows == 0 {
                0.0
            } else {
                t.bytes as f64 / t.rows as f64
            };
            t
        })
        .collect();
    (tables, lost)
}

fn filtered(opts: &Options) -> bool {
    opts.from.is_some() || opts.to.is_some() || !opts.filter.is_empty()
}

/// Computes the summary of each recording.
pub fn compute(recordings: &[Recording], opts: &SummaryOptions) -> Result<Summary> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut out = Vec::new();
    for rec in recordings {
        let one = std::slice::from_ref(rec);
        let (lo, hi) = span(one);
        let mut tables = Vec::new();
        for (name, segs) in &rec.tables {
            let rows: u64 = segs.iter().map(|s| s.rows().max(0) as u64).sum();
            let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
            let matching = if filtered(&opts.common) {
                count_matching(one, name, range, opts)?
            } else {
                None
            };
            tables.push(TableSummary {
                name: name.clone(),
                segments: segs.len(),
                rows,
                bytes,
                bytes_per_row: if rows == 0 {
                    0.0
                } else {
                    bytes as f64 / rows as f64
                },
                matching,
            });
        }
        let loss_known = rec.has_table(ktape_format::loss::TABLE.name);
        let lost_by_family = if loss_known {
            lost_by_family(one, range)?
        } else {
            BTreeMap::new()
        };
        let ended_abruptly = rec.ended_abruptly();
        // `loss` has a file in every segment the recorder closed: its end
        // is the recording's; other tables skip segments they had no rows
        // in.
        let complete_until = ended_abruptly
            .then(|| {
                rec.complete_until(ktape_format::loss::TABLE.name)
                    .or_else(|| {
                        rec.tables
                            .keys()
                            .filter_map(|t| rec.complete_until(t))
                            .max()
                    })
            })
            .flatten()
            .map(format_rfc3339);
        out.push(RecordingSummary {
            path: rec.root.display().to_string(),
            host: rec.info.host.clone(),
            kernel: rec.info.kernel.clone(),
            boot_id: rec.info.boot_id.clone(),
            command_line: rec.info.command_line.clone(),
            recorder_version: rec.info.recorder_version.clone(),
            families: rec.info.families.clone(),
            ncpus: rec.info.ncpus,
            online_cpus: ktape_format::meta::format_cpu_list(&rec.info.online_cpus),
            start: lo.map(format_rfc3339),
            end: hi.map(format_rfc3339),
            duration_s: lo
                .zip(hi)
                .map(|(a, b)| (b as i128 - a as i128) as f64 / 1e9),
            tables,
            lost: lost_by_family
                .values()
                .fold(0u64, |a, &b| a.saturating_add(b)),
            lost_by_family,
            loss_known,
            ended_abruptly,
            recording_now: rec.recording_now,
            complete_until,
            incomplete: rec
                .incomplete
                .iter()
                .map(|i| IncompleteSegment {
                    path: rel_path(&rec.root, &i.path),
                    table: i.table.clone(),
                    recovered_rows: i.recovered_rows,
                    recovered_until: i.recovered_until_ns.map(format_rfc3339),
                    problem: i.problem.clone(),
                })
                .collect(),
            cross_checks: crosscheck::compute(rec)?,
        });
    }
    let window = (opts.common.from.is_some() || opts.common.to.is_some()).then(|| {
        (
            format_rfc3339(window.start_ns),
            format_rfc3339(window.end_ns),
        )
    });
    let (tables, lost_by_family) = totals(&out);
    Ok(Summary {
        report: "summary",
        window,
        tables,
        lost: lost_by_family
            .values()
            .fold(0u64, |a, &b| a.saturating_add(b)),
        lost_by_family,
        cross_checks: out.iter().flat_map(|r| r.cross_checks.clone()).collect(),
        recordings: out,
    })
}

/// Rows of one table passing the window and filters; `None` when the
/// table lacks a column the filter needs.
fn count_matching(
    one: &[Recording],
    table: &str,
    range: TimeRange,
    opts: &SummaryOptions,
) -> Result<Option<u64>> {
    let filter = &opts.common.filter;
    let mut cols = vec!["ts"];
    cols.extend(filter.columns());
    let schema = one[0].segments(table).first().map(|s| s.schema().clone());
    if let Some(schema) = schema {
        if cols.iter().any(|c| schema.index_of(c).is_err()) {
            return Ok(None);
        }
    }
    let n = scan(
        one,
        table,
        range,
        &cols,
        || 0u64,
        |acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let f = filter.prepare(batch, path)?;
            *acc += (0..batch.num_rows())
                .filter(|&i| range.contains(ts[i]) && f.keep(i))
                .count() as u64;
            Ok(())
        },
        |a, b| a + b,
    )?;
    Ok(Some(n))
}

/// Lost events per family in the window (a second counts when its start
/// lies in the window).
fn lost_by_family(one: &[Recording], range: TimeRange) -> Result<BTreeMap<String, u64>> {
    scan(
        one,
        ktape_format::loss::TABLE.name,
        range,
        &["ts", "family", "lost"],
        BTreeMap::new,
        |acc: &mut BTreeMap<String, u64>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let fam = Strings::from_batch(batch, "family", path)?;
            let lost = columns::i64s(batch, "lost", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) && lost[i] > 0 {
                    let e = acc.entry(fam.get(i).to_string()).or_default();
                    *e = e.saturating_add(lost[i] as u64);
                }
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b {
                let e = a.entry(k).or_default();
                *e = e.saturating_add(v);
            }
            a
        },
    )
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &SummaryOptions, out: &mut Out<'_>) -> Result<()> {
    let s = compute(recordings, opts)?;
    if opts.common.json {
        out.json(&s)?;
        return Ok(());
    }
    write_text(&s, out)?;
    for r in &s.recordings {
        if r.lost > 0 {
            out.warn(&format!(
                "WARNING: {}: {} events were lost by the recorder; reports over the affected seconds are incomplete",
                r.path, r.lost
            ))?;
        }
        if !r.loss_known {
            out.warn(&format!(
                "WARNING: {}: no `loss` table: whether events were lost is unknown",
                r.path
            ))?;
        }
    }
    for c in s.cross_checks.iter().filter(|c| !c.agree) {
        out.warn(&c.warning())?;
    }
    Ok(())
}

/// Prints the summary as aligned `key value` lines and a table of tables.
pub fn write_text(s: &Summary, out: &mut Out<'_>) -> Result<()> {
    let w = &mut *out.out;
    for (n, r) in s.recordings.iter().enumerate() {
        if n > 0 {
            writeln!(w)?;
        }
        let or_unknown = |v: &str| {
            if v.is_empty() {
                "unknown".to_string()
            } else {
                v.to_string()
            }
        };
        writeln!(w, "recording    {}", r.path)?;
        writeln!(w, "host         {}", or_unknown(&r.host))?;
        writeln!(w, "kernel       {}", or_unknown(&r.kernel))?;
        writeln!(w, "boot id      {}", or_unknown(&r.boot_id))?;
        writeln!(w, "command      {}", or_unknown(&r.command_line))?;
        writeln!(
            w,
            "recorder     ktape-record {}",
            or_unknown(&r.recorder_version)
        )?;
        writeln!(w, "families     {}", or_unknown(&r.families.join(",")))?;
        if r.online_cpus.is_empty() {
            writeln!(w, "cpus         {}", r.ncpus)?;
        } else {
            writeln!(w, "cpus         {} (online: {})", r.ncpus, r.online_cpus)?;
        }
        match (&r.start, &r.end) {
            (Some(a), Some(b)) => writeln!(w, "time (UTC)   {a} .. {b}")?,
            _ => writeln!(w, "time (UTC)   unknown")?,
        }
        match r.duration_s {
            Some(d) => writeln!(w, "duration     {}", format_secs((d * 1e9).round() as i64))?,
            None => writeln!(w, "duration     unknown")?,
        }
        if let Some((a, b)) = &s.window {
            writeln!(w, "window       {a} .. {b}")?;
        }
        writeln!(w)?;
        let with_matching = r.tables.iter().any(|t| t.matching.is_some());
        write!(
            w,
            "{:<16} {:>8} {:>12} {:>14} {:>10}",
            "table", "segments", "rows", "bytes", "bytes/row"
        )?;
        if with_matching {
            write!(w, " {:>12}", "matching")?;
        }
        writeln!(w)?;
        for t in &r.tables {
            write!(
                w,
                "{:<16} {:>8} {:>12} {:>14} {:>10.1}",
                t.name, t.segments, t.rows, t.bytes, t.bytes_per_row
            )?;
            if with_matching {
                match t.matching {
                    Some(m) => write!(w, " {m:>12}")?,
                    None => write!(w, " {:>12}", "-")?,
                }
            }
            writeln!(w)?;
        }
        writeln!(w)?;
        if !r.loss_known {
            writeln!(w, "lost events  unknown (the recording has no loss table)")?;
        } else if r.lost == 0 {
            writeln!(w, "lost events  none")?;
        } else {
            let per: Vec<String> = r
                .lost_by_family
                .iter()
                .map(|(f, v)| format!("{f} {v}"))
                .collect();
            writeln!(w, "lost events  {} ({})", r.lost, per.join(", "))?;
        }
        if r.recording_now {
            writeln!(
                w,
                "recording    in progress: the open segments are read up to their last checkpoint"
            )?;
        } else if r.ended_abruptly {
            let recovered = r
                .incomplete
                .iter()
                .filter_map(|i| i.recovered_until.as_deref())
                .max();
            let mut line = match &r.complete_until {
                Some(c) => format!(
                    "ended        abruptly (the recorder was killed, or the machine lost power): complete up to {c}"
                ),
                None => "ended        abruptly (the recorder was killed, or the machine lost power) before it finished a segment".to_string(),
            };
            if let Some(u) = recovered {
                line.push_str(&format!(
                    "; the unfinished segments' last checkpoints add rows up to {u}"
                ));
            }
            line.push_str("; anything later is missing");
            writeln!(w, "{line}")?;
            if r.incomplete.iter().any(|i| i.recovered_until.is_some()) {
                writeln!(
                    w,
                    "             (`ktape-analyze recover {}` makes those checkpoints plain segment files)",
                    r.path
                )?;
            }
        }
        for i in &r.incomplete {
            match (&i.recovered_until, &i.problem) {
                (Some(u), _) => writeln!(
                    w,
                    "incomplete   {} (unfinished; {} rows up to {u} read from its checkpoint)",
                    i.path, i.recovered_rows
                )?,
                (None, Some(p)) => {
                    writeln!(w, "incomplete   {} (unfinished; not readable: {p})", i.path)?
                }
                (None, None) => writeln!(
                    w,
                    "incomplete   {} (unfinished; nothing in it was checkpointed)",
                    i.path
                )?,
            }
        }
        if !r.cross_checks.is_empty() {
            writeln!(w)?;
            writeln!(
                w,
                "cross-checks (rows against the kernel's own counters, {} .. {})",
                r.cross_checks[0].from, r.cross_checks[0].to
            )?;
            writeln!(
                w,
                "{:<16} {:<28} {:>12} {:>12} {:>16}  result",
                "table", "counter", "kernel", "recorded", "allowed gap"
            )?;
            for c in &r.cross_checks {
                let allowed = match c.allowed.1 {
                    Some(hi) => format!("{}..{hi}", c.allowed.0),
                    None => format!("{}..", c.allowed.0),
                };
                let result = if c.agree {
                    "agree".to_string()
                } else {
                    format!("DISAGREE ({:+})", c.kernel.saturating_sub(c.recorded))
                };
                writeln!(
                    w,
                    "{:<16} {:<28} {:>12} {:>12} {:>16}  {result}",
                    c.table, c.counter, c.kernel, c.recorded, allowed
                )?;
            }
        }
    }
    Ok(())
}

/// `summary` on the command line.
#[derive(clap::Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for SummaryArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = SummaryOptions {
            common: self.common.options(),
        };
        run(&recs, &opts, out).context("summary")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
