//! What every report shares: the common options, opening recordings and
//! the notes about the input. The time window ([`crate::window`]) and the
//! parallel scan ([`crate::scan`]) have modules of their own and are
//! re-exported here, so that a report finds its shared pieces in one place.

use std::path::{Path, PathBuf};

use ktape_format::read::{discover, Recording};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::TimeSpec;

pub use crate::scan::{
    check_segment, compatible, guarded, scan, scan_optional, scan_rows, slice_rows, time_slices,
    SLICE_ROWS,
};
pub use crate::window::{
    check_intervals, interval_bounds, interval_count, interval_index, span, Window, MAX_INTERVALS,
};

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

/// What a report that lists the rows of one table computes (the
/// snoops: execsnoop, exitsnoop, opensnoop, biosnoop, fsslower).
#[derive(Debug, Clone)]
pub struct Listing<R> {
    /// The window covered.
    pub window: Window,
    /// The rows kept, in time order.
    pub rows: Vec<R>,
    /// Lost events of the table's family overlapping the window.
    pub loss: Loss,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

/// Runs a [`Listing`] report of `table`: refuses recordings that cannot
/// have it, computes, prints JSON or text, then the notes about the input.
pub fn run_listing<R>(
    recordings: &[Recording],
    table: &str,
    json: bool,
    out: &mut Out<'_>,
    compute: impl FnOnce() -> Result<Listing<R>>,
    write_json: impl FnOnce(&Listing<R>, &mut Out<'_>) -> Result<()>,
    write_text: impl FnOnce(&Listing<R>, &mut Out<'_>) -> Result<()>,
) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(table))?;
    let mut r = compute()?;
    r.warnings = warnings;
    if json {
        write_json(&r, out)?;
    } else {
        write_text(&r, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[table])
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
    use crate::scan::GUARDED;
    use arrow_schema::{DataType, TimeUnit};
    use ktape_format::read::TimeRange;
    use ktape_format::schema::ColumnType;
    use std::cell::Cell;

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
