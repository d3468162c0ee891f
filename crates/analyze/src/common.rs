//! What every report shares: the common options, opening recordings,
//! the time window, and the parallel scan.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use ktape_format::read::{discover, scan_units, Recording, ScanUnit, TimeRange};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::output::Out;
use crate::time::TimeSpec;

/// Rows per batch when scanning: big enough to amortize per-batch work
/// (string dictionaries, filter preparation), small enough to stay in cache.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Options every report takes. The default analyzes everything and prints
/// text.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep rows at or after this time (`--from`). Default: the start.
    pub from: Option<TimeSpec>,
    /// Keep rows before this time (`--to`, exclusive). Default: the end.
    pub to: Option<TimeSpec>,
    /// Row filters (`-p`, `--comm`, `--cgroup`). Default: none.
    pub filter: Filter,
    /// Print JSON instead of text (`--json`). Default: text.
    pub json: bool,
}

/// Expands the PATH arguments: a path that exists is taken as is; one with
/// glob characters (`*?[`) that does not exist is expanded (sorted). A
/// pattern that matches nothing is an error naming it; a plain path that
/// does not exist is left for [`Recording::open`] to report.
pub fn expand_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        let s = a.to_string_lossy();
        let is_glob = s.contains(['*', '?', '[']);
        if !is_glob || a.exists() {
            out.push(a.clone());
            continue;
        }
        let mut matches: Vec<PathBuf> = glob::glob(&s)
            .map_err(|source| Error::Glob {
                pattern: s.to_string(),
                source,
            })?
            .filter_map(|r| r.ok())
            .collect();
        if matches.is_empty() {
            return Err(Error::NoMatch {
                pattern: s.to_string(),
            });
        }
        matches.sort();
        out.extend(matches);
    }
    Ok(out)
}

/// Expands PATHs and opens every recording (in parallel: each opening
/// reads every segment's footer). A PATH may also be a fleet folder
/// (`fleet/host=web1/out.parquet`, …): every recording below it is opened,
/// with its `key=value` folders as partitions. The first failure, in
/// argument order, is returned; it names the file.
pub fn open_recordings(args: &[PathBuf]) -> Result<Vec<Recording>> {
    let paths = expand_paths(args)?;
    let found: Vec<Vec<Recording>> = paths
        .par_iter()
        .map(|p| discover(p).map_err(Error::from))
        .collect::<Result<_>>()?;
    Ok(found.into_iter().flatten().collect())
}

/// The `--by KEY` label of each recording, in order: its hive partition
/// `KEY=…`, or for `host` the recorded host name. A recording without one
/// is a usage error that names it.
pub fn group_labels(recordings: &[Recording], key: &str) -> Result<Vec<std::sync::Arc<str>>> {
    recordings
        .iter()
        .map(|r| {
            r.label(key).map(std::sync::Arc::from).ok_or_else(|| {
                Error::Usage(format!(
                    "--by {key}: {} is not below a `{key}=VALUE` folder (only `host` falls back to the recorded host name)",
                    r.root.display()
                ))
            })
        })
        .collect()
}

/// When the recordings start and end, ns since the epoch: the earliest
/// recording start (or segment start) and the latest segment end.
pub fn span(recordings: &[Recording]) -> (Option<i64>, Option<i64>) {
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    for r in recordings {
        let (a, b) = r.time_range();
        let a = match (r.info.start_ns, a) {
            (s, Some(a)) if s > 0 => Some(s.min(a)),
            (s, None) if s > 0 => Some(s),
            (_, a) => a,
        };
        lo = match (lo, a) {
            (Some(l), Some(a)) => Some(l.min(a)),
            (l, a) => l.or(a),
        };
        hi = match (hi, b) {
            (Some(h), Some(b)) => Some(h.max(b)),
            (h, b) => h.or(b),
        };
    }
    (lo, hi)
}

/// The time window a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// What rows must fall in (`[from, to)`, unbounded where no option
    /// was given).
    pub range: TimeRange,
    /// First instant shown: `--from`, else the recordings' start (ns).
    pub start_ns: i64,
    /// Last instant shown: `--to`, else the recordings' end (ns).
    pub end_ns: i64,
}

impl Window {
    /// Resolves `--from/--to` against the recordings (offsets count from
    /// the earliest start).
    pub fn resolve(opts: &Options, recordings: &[Recording]) -> Result<Window> {
        let (lo, hi) = span(recordings);
        let base = lo.unwrap_or(0);
        let from = opts.from.map(|t| t.resolve(base));
        let to = opts.to.map(|t| t.resolve(base));
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(Error::Usage(format!(
                    "--from ({}) is not before --to ({})",
                    crate::time::format_rfc3339(f),
                    crate::time::format_rfc3339(t)
                )));
            }
        }
        let start_ns = from.unwrap_or(base);
        let end_ns = to.unwrap_or(hi.unwrap_or(start_ns)).max(start_ns);
        Ok(Window {
            range: TimeRange {
                from_ns: from,
                to_ns: to,
            },
            start_ns,
            end_ns,
        })
    }
}

/// Scans `columns` of `table` over every row group that can hold rows of
/// `range`, in parallel: each rayon task folds its batches into its own
/// accumulator (`init`, `fold`), and the accumulators are merged pairwise
/// (`merge`), so no row outlives its batch unless `fold` keeps it.
pub fn scan<A, I, F, M>(
    recordings: &[Recording],
    table: &str,
    range: TimeRange,
    columns: &[&str],
    init: I,
    fold: F,
    merge: M,
) -> Result<A>
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &ScanUnit<'_>, &RecordBatch) -> Result<()> + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    scan_optional(recordings, table, range, columns, &[], init, fold, merge)
}

/// [`scan`], plus `optional` columns: columns added to a table after its
/// first files were written, read from the segments that have them and
/// simply absent from the batches of older segments (the fold must treat
/// a missing column as nulls). A missing required column stays an error.
#[allow(clippy::too_many_arguments)]
pub fn scan_optional<A, I, F, M>(
    recordings: &[Recording],
    table: &str,
    range: TimeRange,
    columns: &[&str],
    optional: &[&str],
    init: I,
    fold: F,
    merge: M,
) -> Result<A>
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &ScanUnit<'_>, &RecordBatch) -> Result<()> + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    let units = scan_units(recordings, table, range);
    units
        .par_iter()
        .try_fold(&init, |mut acc, unit| {
            let schema = unit.segment.schema();
            let cols: Vec<&str> = columns
                .iter()
                .chain(optional.iter().filter(|c| schema.index_of(c).is_ok()))
                .copied()
                .collect();
            for batch in unit.read(&cols, BATCH_ROWS)? {
                let batch = batch.map_err(|source| Error::Arrow {
                    path: unit.segment.path.clone(),
                    source,
                })?;
                fold(&mut acc, unit, &batch)?;
            }
            Ok(acc)
        })
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

/// Rows per time slice of the passes that pair rows in time order
/// (runqlat, runqslower, cpudist): a slice's compact events, at most two
/// of 16 bytes per row, stay under 64 MiB whatever the recording's size.
pub const SLICE_ROWS: u64 = 2 << 20;

/// [`SLICE_ROWS`], or `KTAPE_SLICE_ROWS` from the environment: smaller
/// slices for a host short of memory, and for the tests, which check that
/// slicing never changes a result.
pub fn slice_rows() -> u64 {
    std::env::var("KTAPE_SLICE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(SLICE_ROWS)
}

/// Cuts `range` into consecutive slices that each hold about `rows` rows
/// of `tables`, judged from the row groups' `ts` statistics, so that a
/// pass that needs rows in time order holds one slice at a time. Every
/// timestamp of `range` falls in exactly one slice. One slice when it all
/// fits, or when a footer lacks the statistics.
pub fn time_slices(
    recordings: &[Recording],
    tables: &[&str],
    range: TimeRange,
    rows: u64,
) -> Vec<TimeRange> {
    // (last ts, rows) of every row group that overlaps the range.
    let mut groups: Vec<(i64, u64)> = Vec::new();
    for table in tables {
        for unit in scan_units(recordings, table, range) {
            let Some((_, hi)) = unit.segment.row_group_range(unit.row_group, "ts") else {
                return vec![range];
            };
            groups.push((
                hi,
                unit.segment.row_group_rows(unit.row_group).max(0) as u64,
            ));
        }
    }
    if groups.iter().map(|g| g.1).sum::<u64>() <= rows {
        return vec![range];
    }
    // Row groups are written in time order, so ending a slice after the
    // row group that fills it puts about `rows` rows in each.
    groups.sort_unstable();
    let mut cuts: Vec<i64> = Vec::new();
    let mut held = 0;
    for (hi, n) in groups {
        held += n;
        if held < rows {
            continue;
        }
        held = 0;
        let cut = hi.saturating_add(1);
        let after_start = range.from_ns.is_none_or(|f| cut > f);
        let before_end = range.to_ns.is_none_or(|t| cut < t);
        if after_start && before_end && cuts.last().is_none_or(|&c| cut > c) {
            cuts.push(cut);
        }
    }
    let mut slices = Vec::with_capacity(cuts.len() + 1);
    let mut from = range.from_ns;
    for cut in cuts {
        slices.push(TimeRange {
            from_ns: from,
            to_ns: Some(cut),
        });
        from = Some(cut);
    }
    slices.push(TimeRange {
        from_ns: from,
        to_ns: range.to_ns,
    });
    slices
}

/// Prints a report's notes about its input on stderr: recordings without
/// `tables[0]` (the report's own table; `hint` says why it may be
/// missing), and unfinished segments of any of `tables`.
pub fn table_notes(
    out: &mut Out<'_>,
    recordings: &[Recording],
    tables: &[&str],
    hint: &str,
) -> Result<()> {
    if let Some(note) = tables
        .first()
        .and_then(|t| missing_table_note(recordings, t, hint))
    {
        out.warn(&note)?;
    }
    for t in tables {
        if let Some(note) = incomplete_note(recordings, t) {
            out.warn(&note)?;
        }
        for w in crate::crosscheck::warnings(recordings, t)? {
            out.warn(&w)?;
        }
    }
    Ok(())
}

/// Names the recordings lacking a table, for a note on stderr
/// (`None` when all have it).
pub fn missing_table_note(recordings: &[Recording], table: &str, hint: &str) -> Option<String> {
    let missing: Vec<String> = recordings
        .iter()
        .filter(|r| !r.has_table(table))
        .map(|r| r.root.display().to_string())
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "note: no `{table}` table in {} ({hint})",
            missing.join(", ")
        ))
    }
}

/// Says, for each recording whose recorder did not finish a segment of
/// `table` (it was killed, or is still recording), up to when the table is
/// complete, what was read from the unfinished segment's last checkpoint,
/// and that later rows are missing.
pub fn incomplete_note(recordings: &[Recording], table: &str) -> Option<String> {
    let mut parts = Vec::new();
    for r in recordings {
        let inc: Vec<_> = r.incomplete.iter().filter(|i| i.table == table).collect();
        if inc.is_empty() {
            continue;
        }
        let complete = r
            .complete_until(table)
            .map(crate::time::format_rfc3339)
            .unwrap_or_else(|| "its start (no segment was finished)".into());
        let recovered: u64 = inc.iter().map(|i| i.recovered_rows).sum();
        let until = inc.iter().filter_map(|i| i.recovered_until_ns).max();
        let mut s = format!(
            "{}: the recorder did not finish it (killed, or still recording): `{table}` is complete up to {complete}",
            r.root.display()
        );
        match until {
            Some(t) => s.push_str(&format!(
                "; {recovered} more rows up to {} were read from the unfinished segment's last checkpoint; rows after that are missing",
                crate::time::format_rfc3339(t)
            )),
            None => s.push_str("; rows after that are missing"),
        }
        for i in &inc {
            if let Some(p) = &i.problem {
                s.push_str(&format!(" ({}: {p})", rel_path(&r.root, &i.path)));
            }
        }
        parts.push(s);
    }
    if parts.is_empty() {
        None
    } else {
        Some(format!("note: {}", parts.join("; ")))
    }
}

/// The path shown for a file inside a recording: relative to the
/// recording when possible (`bio/000001.parquet.tmp`).
pub fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_through_and_globs_expand() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.parquet", "a.parquet", "c.txt"] {
            std::fs::create_dir(dir.path().join(n)).unwrap();
        }
        let missing = dir.path().join("nope.parquet");
        assert_eq!(
            expand_paths(std::slice::from_ref(&missing)).unwrap(),
            vec![missing]
        );
        let pat = dir.path().join("*.parquet");
        let got = expand_paths(&[pat]).unwrap();
        assert_eq!(
            got,
            vec![dir.path().join("a.parquet"), dir.path().join("b.parquet")]
        );
        let none = dir.path().join("*.nothing");
        let err = expand_paths(std::slice::from_ref(&none))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&*none.to_string_lossy()), "{err}");
    }
}
