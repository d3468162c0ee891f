//! What every report shares: the common options, opening recordings,
//! the time window, and the parallel scan.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Once;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, TimeUnit};
use ktape_format::read::{discover, scan_units, Recording, ScanUnit, Segment, TimeRange};
use ktape_format::schema::ColumnType;
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
    // Opening parses every footer: guarded as the scans are.
    let found: Vec<Vec<Recording>> = paths
        .par_iter()
        .map(|p| guarded(p, || Ok(discover(p)?)))
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

/// Most intervals an `--interval` report prints. A day in seconds is
/// 86,400; a window many times longer than that is almost always a
/// damaged segment time range, whose millions of empty intervals would
/// only exhaust memory.
pub const MAX_INTERVALS: i64 = 1_000_000;

/// How many intervals of `step` ns cover the window (at least one, then
/// at most `count`). More than [`MAX_INTERVALS`] is a usage error that
/// says where the window's ends come from, so that a damaged segment
/// time range is found.
pub fn interval_count(
    recordings: &[Recording],
    window: &Window,
    step: i64,
    count: Option<u64>,
) -> Result<i64> {
    let step = step.max(1) as i128;
    let span = (window.end_ns as i128 - window.start_ns as i128).max(0);
    let mut n = ((span + step - 1) / step).max(1);
    if let Some(c) = count {
        n = n.min(c as i128);
    }
    if n > MAX_INTERVALS as i128 {
        return Err(Error::Usage(format!(
            "--interval {} over {} .. {} makes {n} intervals, more than the {MAX_INTERVALS} a report prints: \
             give --count, --from/--to or a longer --interval{}",
            crate::time::format_secs(step as i64),
            crate::time::format_rfc3339(window.start_ns),
            crate::time::format_rfc3339(window.end_ns),
            span_sources(recordings, window)
        )));
    }
    Ok(n as i64)
}

/// Which segments set the ends of a window taken from the recordings,
/// for error messages: `; the window starts at the start of FILE …`.
fn span_sources(recordings: &[Recording], window: &Window) -> String {
    let mut parts = Vec::new();
    let segs = || recordings.iter().flat_map(|r| r.tables.values().flatten());
    if window.range.from_ns.is_none() {
        if let Some(s) = segs().find(|s| s.time_range().0 == Some(window.start_ns)) {
            parts.push(format!(
                "the window starts at the start of {}",
                s.path.display()
            ));
        } else if let Some(r) = recordings
            .iter()
            .find(|r| r.info.start_ns == window.start_ns)
        {
            parts.push(format!(
                "the window starts at the recording start of {}",
                r.root.display()
            ));
        }
    }
    if window.range.to_ns.is_none() {
        if let Some(s) = segs().find(|s| s.time_range().1 == Some(window.end_ns)) {
            parts.push(format!("it ends at the end of {}", s.path.display()));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The interval of `ts` among intervals of `step` ns from `base`
/// (negative before `base`). In i128, so that a timestamp far from the
/// window's start cannot wrap into a plausible interval; clamped to the
/// i64 range.
#[inline]
pub fn interval_index(ts: i64, base: i64, step: i64) -> i64 {
    let k = (ts as i128 - base as i128).div_euclid(step.max(1) as i128);
    k.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `[start, end)` of interval `k` of `step` ns from `base`, clamped to
/// the i64 range.
pub fn interval_bounds(base: i64, step: i64, k: i64) -> (i64, i64) {
    let at = |k: i128| {
        (base as i128 + k * step as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    };
    (at(k as i128), at(k as i128 + 1))
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
            check_segment(unit.segment, table, &cols)?;
            let path = &unit.segment.path;
            // Only the decoder runs guarded: a panic in a report's own
            // fold is a bug of ours and stays one.
            let mut batches = guarded(path, || Ok(unit.read(&cols, BATCH_ROWS)?))?;
            while let Some(batch) = guarded(path, || Ok(batches.next()))? {
                let batch = batch.map_err(|source| Error::Arrow {
                    path: path.clone(),
                    source,
                })?;
                fold(&mut acc, unit, &batch)?;
            }
            Ok(acc)
        })
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

thread_local! {
    /// Whether this thread is inside [`guarded`]: its panics are errors.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a call into the Parquet decoder for the file at `path`,
/// turning a panic into [`Error::DecodePanic`] naming the file.
///
/// The decoder checks most damage and returns errors, but not all: a
/// footer whose column chunk offset was flipped negative trips an
/// `assert!` in parquet's `ColumnChunkMetaData::byte_range`, and a
/// footer is read before any checksum of ours could be checked. The
/// footer's offsets cannot be validated here before decoding (the
/// format crate keeps the parsed footer to itself), so this is the last
/// resort the boundary has: one damaged file becomes an error that
/// names it, not a crash. While a guarded call runs, the panic hook
/// stays silent on this thread, so that the user sees the error only.
pub fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic in the decoder".into());
        Err(Error::DecodePanic {
            path: path.to_path_buf(),
            detail,
        })
    })
}

/// Checks, before decoding, that a segment is a file of `table` whose
/// `columns` have the table's types: a segment of another table copied
/// into the folder, or a file whose schema was changed by another tool,
/// is an error naming the file, not rows read as what they are not. The
/// column accessors check types again per batch; this check also covers
/// the optional columns, which they would read as nulls, and a column
/// name that appears twice.
pub fn check_segment(seg: &Segment, table: &str, columns: &[&str]) -> Result<()> {
    let own = seg.table();
    if !own.is_empty() && own != table {
        return Err(Error::WrongTable {
            path: seg.path.clone(),
            folder: table.to_string(),
            table: own.to_string(),
        });
    }
    let Some(spec) = ktape_format::table(table) else {
        return Ok(());
    };
    let fields = seg.schema().fields();
    for &c in columns {
        let mut same = fields.iter().filter(|f| f.name() == c);
        let (Some(field), Some(col)) = (same.next(), spec.column(c)) else {
            // A missing column is the reader's error (it names the table).
            continue;
        };
        if same.next().is_some() {
            return Err(Error::DuplicateColumn {
                path: seg.path.clone(),
                column: c.to_string(),
            });
        }
        if !compatible(col.ty, field.data_type()) {
            return Err(Error::ColumnType {
                path: seg.path.clone(),
                column: c.to_string(),
                found: field.data_type().to_string(),
                expected: col.ty.doc_name(),
            });
        }
    }
    Ok(())
}

/// Whether a file's Arrow type can be read as a column of type `ty`:
/// what ktape writes, and the forms other tools write the same values
/// in (plain or large strings, int64 nanoseconds for timestamps as Spark
/// writes them with `nanosAsLong`).
pub fn compatible(ty: ColumnType, dt: &DataType) -> bool {
    let string = |d: &DataType| matches!(d, DataType::Utf8 | DataType::LargeUtf8);
    match ty {
        ColumnType::Timestamp => matches!(
            dt,
            DataType::Timestamp(TimeUnit::Nanosecond, _) | DataType::Int64
        ),
        ColumnType::Int32 => *dt == DataType::Int32,
        ColumnType::Int64 => *dt == DataType::Int64,
        ColumnType::Bool => *dt == DataType::Boolean,
        ColumnType::DictString | ColumnType::Text => {
            string(dt)
                || *dt == DataType::Utf8View
                || matches!(dt, DataType::Dictionary(k, v) if **k == DataType::Int32 && string(v))
        }
        ColumnType::TextList => {
            matches!(dt, DataType::List(f) if *f.data_type() == DataType::Utf8)
        }
        ColumnType::Int64List => {
            matches!(dt, DataType::List(f) if *f.data_type() == DataType::Int64)
        }
    }
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
    // Saturating: a damaged footer may claim i64::MAX rows per group.
    if groups.iter().fold(0u64, |a, g| a.saturating_add(g.1)) <= rows {
        return vec![range];
    }
    // Row groups are written in time order, so ending a slice after the
    // row group that fills it puts about `rows` rows in each.
    groups.sort_unstable();
    let mut cuts: Vec<i64> = Vec::new();
    let mut held = 0;
    for (hi, n) in groups {
        held = n.saturating_add(held);
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

/// Prints what a report says about its input on stderr, after its
/// output: `warnings` (missing tables, damaged values, from
/// [`crate::tables::check`] and the report itself), then the unfinished
/// segments of any of `tables`.
pub fn table_notes(
    out: &mut Out<'_>,
    recordings: &[Recording],
    warnings: &[String],
    tables: &[&str],
) -> Result<()> {
    for w in warnings {
        out.warn(w)?;
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

/// Adds a report's warnings to its JSON object as a `warnings` array,
/// only when there are any: the JSON of a complete recording keeps
/// exactly its fields.
pub fn json_warnings(v: &mut serde_json::Value, warnings: &[String]) {
    if let (false, Some(o)) = (warnings.is_empty(), v.as_object_mut()) {
        o.insert("warnings".into(), warnings.into());
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

    #[test]
    fn a_decoder_panic_is_an_error_naming_the_file() {
        let p = Path::new("bio/000001.parquet");
        let err = guarded::<()>(p, || {
            panic!("column start and length should not be negative")
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("bio/000001.parquet: could not be decoded (column start"),
            "{err}"
        );
        let err = guarded::<()>(p, || panic!("{} of {}", 1, 2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("(1 of 2)"), "{err}");
        // Errors and values pass through; the guard is off again after.
        assert_eq!(guarded(p, || Ok(7)).unwrap(), 7);
        assert!(guarded::<()>(p, || Err(Error::Usage("x".into()))).is_err());
        assert!(!GUARDED.with(Cell::get));
        let outside = std::panic::catch_unwind(|| panic!("ours"));
        assert!(outside.is_err());
    }

    #[test]
    fn intervals_at_the_ends_of_the_clock() {
        // i64::MIN - i64::MAX wraps to 1 in i64: interval 1, not the
        // farthest interval before the start.
        assert_eq!(interval_index(i64::MIN, i64::MAX, 1), i64::MIN);
        assert_eq!(interval_index(i64::MAX, i64::MIN, 1), i64::MAX);
        assert_eq!(interval_index(i64::MAX, i64::MIN, i64::MAX), 2);
        assert_eq!(interval_index(5, 10, 3), -2);
        assert_eq!(interval_index(10, 10, 0), 0);
        assert_eq!(interval_bounds(0, 10, 2), (20, 30));
        assert_eq!(interval_bounds(i64::MAX - 5, 10, 1), (i64::MAX, i64::MAX));
        assert_eq!(interval_bounds(0, i64::MAX, i64::MIN), (i64::MIN, i64::MIN));
        let window = |start_ns, end_ns| Window {
            range: TimeRange::ALL,
            start_ns,
            end_ns,
        };
        assert_eq!(interval_count(&[], &window(10, 10), 3, None).unwrap(), 1);
        assert_eq!(interval_count(&[], &window(10, 14), 3, None).unwrap(), 2);
        assert_eq!(interval_count(&[], &window(10, 14), 3, Some(0)).unwrap(), 0);
        let all = window(i64::MIN, i64::MAX);
        let err = interval_count(&[], &all, 1, None).unwrap_err().to_string();
        assert!(err.contains("18446744073709551615 intervals"), "{err}");
        assert_eq!(interval_count(&[], &all, 1, Some(5)).unwrap(), 5);
        assert_eq!(interval_count(&[], &all, i64::MAX, None).unwrap(), 3);
    }

    #[test]
    fn compatible_types() {
        use arrow_schema::Field;
        use std::sync::Arc;
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert!(compatible(ColumnType::Timestamp, &ns));
        assert!(compatible(
            ColumnType::Timestamp,
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        ));
        assert!(compatible(ColumnType::Timestamp, &DataType::Int64));
        assert!(!compatible(
            ColumnType::Timestamp,
            &DataType::Timestamp(TimeUnit::Millisecond, None)
        ));
        assert!(!compatible(ColumnType::Timestamp, &DataType::Int32));
        let dict = |k: DataType| DataType::Dictionary(Box::new(k), Box::new(DataType::Utf8));
        assert!(compatible(ColumnType::DictString, &dict(DataType::Int32)));
        assert!(compatible(ColumnType::DictString, &DataType::LargeUtf8));
        assert!(compatible(ColumnType::Text, &DataType::Utf8));
        assert!(!compatible(ColumnType::DictString, &dict(DataType::Int8)));
        assert!(!compatible(ColumnType::Int64, &DataType::Int32));
        let list = |t| DataType::List(Arc::new(Field::new_list_field(t, false)));
        assert!(compatible(ColumnType::TextList, &list(DataType::Utf8)));
        assert!(!compatible(ColumnType::TextList, &list(DataType::Int32)));
        assert!(compatible(ColumnType::Int64List, &list(DataType::Int64)));
        for ty in [ColumnType::Int32, ColumnType::Bool, ColumnType::DictString] {
            assert!(compatible(ty, &ty.arrow()), "{ty:?}");
        }
    }
}
