//! The parallel scan every report reads through, and its guards: rows are
//! read per (segment, row group) in parallel and folded into per-task
//! accumulators, a decoder panic becomes an error naming the file, and a
//! segment whose schema is not its table's is refused before decoding.
//! The time slices of the passes that need rows in time order are cut
//! here too, from the same footers.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Once;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, TimeUnit};
use ktape_format::read::{scan_units, Recording, ScanUnit, Segment, TimeRange};
use ktape_format::schema::ColumnType;
use rayon::prelude::*;

use crate::error::{Error, Result};

use crate::common::BATCH_ROWS;

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

/// [`scan`] for reports that keep rows: `fold` pushes the rows of a
/// batch it wants, and the rows of every task are concatenated (in no
/// particular order: sort them).
pub fn scan_rows<T, F>(
    recordings: &[Recording],
    table: &str,
    range: TimeRange,
    columns: &[&str],
    fold: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(&mut Vec<T>, &ScanUnit<'_>, &RecordBatch) -> Result<()> + Sync + Send,
{
    scan(
        recordings,
        table,
        range,
        columns,
        Vec::new,
        fold,
        |mut a, mut b| {
            a.append(&mut b);
            a
        },
    )
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
    crate::progress::start(table, units.len());
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
            crate::progress::unit_done();
            Ok(acc)
        })
        .try_reduce(&init, |a, b| Ok(merge(a, b)))
}

thread_local! {
    /// Whether this thread is inside [`guarded`]: its panics are errors.
    pub(crate) static GUARDED: Cell<bool> = const { Cell::new(false) };
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
