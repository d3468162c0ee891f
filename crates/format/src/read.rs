//! Opening recordings and planning scans.
//!
//! [`Recording::open`] finds every table folder and reads each segment's
//! footer once, checking that it is a ktape file of a version this build
//! understands; a missing, truncated or foreign file is an error that names
//! it. A report then asks for [`scan_units`]: one unit per (segment, row
//! group) that can hold rows in the requested time range, so the analyzer
//! can spread units over threads and read only the columns it needs.
//!
//! A fleet is a folder of recordings laid out hive-style
//! (`fleet/host=web1/out.parquet/bio/*.parquet`), the layout DuckDB and
//! Spark read with `hive_partitioning`: [`discover`] finds every recording
//! under such a folder and keeps each `key=value` folder name on the way as
//! a partition of that recording, so reports can group by it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::statistics::Statistics;

use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{self, RecordingInfo};

/// A half-open time window `[from, to)` in ns since the epoch; `None` means
/// unbounded on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from_ns: Option<i64>,
    /// Exclusive end.
    pub to_ns: Option<i64>,
}

impl TimeRange {
    /// The unbounded window.
    pub const ALL: TimeRange = TimeRange {
        from_ns: None,
        to_ns: None,
    };

    /// Whether a timestamp falls in the window.
    #[inline]
    pub fn contains(&self, ts: i64) -> bool {
        self.from_ns.is_none_or(|f| ts >= f) && self.to_ns.is_none_or(|t| ts < t)
    }

    /// Whether the closed interval `[min, max]` can hold a timestamp of the
    /// window.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.from_ns.is_none_or(|f| max >= f) && self.to_ns.is_none_or(|t| min < t)
    }
}

/// One segment file, with its footer parsed.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Path of the file.
    pub path: PathBuf,
    /// Size on disk, bytes.
    pub bytes: u64,
    /// The file's key-value metadata.
    pub kv: BTreeMap<String, String>,
    meta: ArrowReaderMetadata,
}

impl Segment {
    /// Opens a segment: reads and checks its footer.
    pub fn open(path: &Path) -> Result<Segment> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let bytes = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let meta =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|source| {
                Error::NotParquet {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        let kv: BTreeMap<String, String> = meta
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kvs| {
                kvs.iter()
                    .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        let version = kv
            .get(meta::FORMAT_VERSION)
            .ok_or_else(|| Error::NotKtape {
                path: path.to_path_buf(),
                key: meta::FORMAT_VERSION,
            })?;
        let supported = version
            .parse::<u32>()
            .map(|v| crate::SUPPORTED_FORMAT_VERSIONS.contains(&v))
            .unwrap_or(false);
        if !supported {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version.clone(),
                supported: crate::SUPPORTED_FORMAT_VERSIONS
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Segment {
            path: path.to_path_buf(),
            bytes,
            kv,
            meta,
        })
    }

    /// Rows in the file.
    pub fn rows(&self) -> i64 {
        self.meta.metadata().file_metadata().num_rows()
    }

    /// Row groups in the file.
    pub fn row_groups(&self) -> usize {
        self.meta.metadata().num_row_groups()
    }

    /// Rows in one row group.
    pub fn row_group_rows(&self, rg: usize) -> i64 {
        self.meta.metadata().row_group(rg).num_rows()
    }

    /// The table named in the file's metadata.
    pub fn table(&self) -> &str {
        self.kv.get(meta::TABLE).map(String::as_str).unwrap_or("")
    }

    /// Recording-wide facts from this file's metadata.
    pub fn info(&self) -> RecordingInfo {
        RecordingInfo::from_pairs(&self.kv)
    }

    /// The segment's time range from its metadata, ns since the epoch.
    pub fn time_range(&self) -> (Option<i64>, Option<i64>) {
        let get = |k| self.kv.get(k).and_then(|v| v.parse().ok());
        (get(meta::SEGMENT_START_NS), get(meta::SEGMENT_END_NS))
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> &arrow_schema::SchemaRef {
        self.meta.schema()
    }

    /// Min and max of a timestamp or int64 column in one row group, from
    /// the footer statistics.
    pub fn row_group_range(&self, rg: usize, column: &str) -> Option<(i64, i64)> {
        let md = self.meta.metadata().row_group(rg);
        let idx = md
            .columns()
            .iter()
            .position(|c| c.column_path().string() == column)?;
        match md.column(idx).statistics()? {
            Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
            _ => None,
        }
    }

    /// Reads the named columns of one row group. Batches hold the columns
    /// in file order; look them up by name.
    pub fn read_row_group(
        &self,
        rg: usize,
        columns: &[&str],
        batch_rows: usize,
    ) -> Result<ParquetRecordBatchReader> {
        for c in columns {
            if self.schema().index_of(c).is_err() {
                return Err(Error::MissingColumn {
                    path: self.path.clone(),
                    table: self.table().to_string(),
                    column: c.to_string(),
                });
            }
        }
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mask = ProjectionMask::columns(
            self.meta.metadata().file_metadata().schema_descr(),
            columns.iter().copied(),
        );
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .with_row_groups(vec![rg])
            .with_batch_size(batch_rows)
            .build()
            .map_err(|source| Error::Parquet {
                path: self.path.clone(),
                source,
            })
    }
}

/// One recording: a directory of table folders.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The recording's directory.
    pub root: PathBuf,
    /// Recording-wide facts, from the first segment found.
    pub info: RecordingInfo,
    /// Segments of each table, in segment order.
    pub tables: BTreeMap<String, Vec<Segment>>,
    /// `.tmp` files left by a recorder that was killed before it could
    /// finish them; they are not read.
    pub incomplete: Vec<PathBuf>,
    /// Hive partitions (`key=value` folders) between the folder given to
    /// [`discover`] and the recording, outermost first.
    pub partitions: Vec<(String, String)>,
}

impl Recording {
    /// Opens a recording directory and checks every segment's footer.
    pub fn open(root: &Path) -> Result<Recording> {
        let md = fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !md.is_dir() {
            // A single segment file: open it so the error says what is wrong
            // with it (not Parquet, not ktape), else explain what to pass.
            Segment::open(root)?;
            return Err(Error::NotARecording(root.to_path_buf()));
        }
        let mut tables = BTreeMap::new();
        let mut incomplete = Vec::new();
        let dirs = sorted_entries(root)?.into_iter().filter(|p| p.is_dir());
        for dir in dirs {
            let files = sorted_entries(&dir)?;
            let mut segments = Vec::new();
            for f in files {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.ends_with(layout::TMP_SUFFIX) {
                    incomplete.push(f);
                } else if f.extension().is_some_and(|e| e == layout::SEGMENT_EXT) {
                    segments.push(Segment::open(&f)?);
                }
            }
            if !segments.is_empty() {
                let name = dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                tables.insert(name, segments);
            }
        }
        let info = tables
            .values()
            .flatten()
            .next()
            .map(Segment::info)
            .ok_or_else(|| Error::NotARecording(root.to_path_buf()))?;
        Ok(Recording {
            root: root.to_path_buf(),
            info,
            tables,
            incomplete,
            partitions: Vec::new(),
        })
    }

    /// The value of a grouping key for this recording: its hive partition
    /// of that name, else, for `host`, the host name the recorder stored.
    /// `None` when the recording has neither.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.partitions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .or_else(|| (key == "host").then_some(self.info.host.as_str()))
    }

    /// Segments of a table (empty if the recording lacks it).
    pub fn segments(&self, table: &str) -> &[Segment] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the recording has a table.
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// Earliest segment start and latest segment end over all tables, ns
    /// since the epoch.
    pub fn time_range(&self) -> (Option<i64>, Option<i64>) {
        let mut lo: Option<i64> = None;
        let mut hi: Option<i64> = None;
        for s in self.tables.values().flatten() {
            let (a, b) = s.time_range();
            if let Some(a) = a {
                lo = Some(lo.map_or(a, |l| l.min(a)));
            }
            if let Some(b) = b {
                hi = Some(hi.map_or(b, |h| h.max(b)));
            }
        }
        (lo, hi)
    }
}

/// How deep [`discover`] looks below the folder it is given: enough for
/// `fleet/dc=x/host=y/date=z/out.parquet`, bounded so that a wrong path
/// (`/`) fails fast instead of walking a whole file system.
const MAX_FLEET_DEPTH: usize = 6;

/// Whether a directory looks like a recording: one of its folders holds
/// segment files (finished or not).
fn looks_like_recording(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        p.is_dir()
            && fs::read_dir(&p).is_ok_and(|files| {
                files.filter_map(|f| f.ok()).any(|f| {
                    if !f.file_type().is_ok_and(|t| t.is_file()) {
                        return false;
                    }
                    let name = f.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(&format!(".{}", layout::SEGMENT_EXT))
                        || name.ends_with(layout::TMP_SUFFIX)
                })
            })
    })
}

/// The paths in `dir`, sorted: recordings and fleets are read in path
/// order, so every run (and every machine) sees them in the same order.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

/// The `key=value` form of a hive partition folder name.
fn partition_of(name: &str) -> Option<(String, String)> {
    let (k, v) = name.split_once('=')?;
    (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
}

/// Every recording at or below `path`: `path` itself when it is a
/// recording (or a file, so that [`Recording::open`] names what is wrong
/// with it); otherwise each recording found below it, in path order, with
/// the `key=value` folders on the way as its partitions. A folder with no
/// recording below it is an error naming it.
pub fn discover(path: &Path) -> Result<Vec<Recording>> {
    if !path.is_dir() || looks_like_recording(path) {
        return Ok(vec![Recording::open(path)?]);
    }
    let mut found = Vec::new();
    walk(path, &mut Vec::new(), 0, &mut found)?;
    if found.is_empty() {
        return Err(Error::NotARecording(path.to_path_buf()));
    }
    Ok(found)
}

fn walk(
    dir: &Path,
    parts: &mut Vec<(String, String)>,
    depth: usize,
    found: &mut Vec<Recording>,
) -> Result<()> {
    if looks_like_recording(dir) {
        let mut rec = Recording::open(dir)?;
        rec.partitions = parts.clone();
        found.push(rec);
        return Ok(());
    }
    if depth >= MAX_FLEET_DEPTH {
        return Ok(());
    }
    let subdirs = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir());
    for sub in subdirs {
        let part = sub
            .file_name()
            .and_then(|n| partition_of(&n.to_string_lossy()));
        let pushed = part.is_some();
        if let Some(p) = part {
            parts.push(p);
        }
        walk(&sub, parts, depth + 1, found)?;
        if pushed {
            parts.pop();
        }
    }
    Ok(())
}

/// One piece of parallel work: a row group of a segment.
#[derive(Debug, Clone, Copy)]
pub struct ScanUnit<'a> {
    /// Index of the recording in the slice given to [`scan_units`].
    pub recording: usize,
    /// The segment.
    pub segment: &'a Segment,
    /// Row group within the segment.
    pub row_group: usize,
}

impl ScanUnit<'_> {
    /// Reads the named columns of this unit.
    pub fn read(&self, columns: &[&str], batch_rows: usize) -> Result<ParquetRecordBatchReader> {
        self.segment
            .read_row_group(self.row_group, columns, batch_rows)
    }
}

/// Every row group of `table` across `recordings` that can hold rows whose
/// `ts` falls in `range` (row groups are skipped using footer statistics).
pub fn scan_units<'a>(
    recordings: &'a [Recording],
    table: &str,
    range: TimeRange,
) -> Vec<ScanUnit<'a>> {
    let mut units = Vec::new();
    for (ri, rec) in recordings.iter().enumerate() {
        for seg in rec.segments(table) {
            for rg in 0..seg.row_groups() {
                if seg.row_group_rows(rg) == 0 {
                    continue;
                }
                if let Some((lo, hi)) = seg.row_group_range(rg, "ts") {
                    if !range.overlaps(lo, hi) {
                        continue;
                    }
                }
                units.push(ScanUnit {
                    recording: ri,
                    segment: seg,
                    row_group: rg,
                });
            }
        }
    }
    units
}

/// Convenience: reads every batch of a unit into memory (tests, small
/// tables such as `process` and `loss`).
pub fn read_all(unit: &ScanUnit<'_>, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    unit.read(columns, 65536)?
        .map(|b| {
            b.map_err(|source| Error::Arrow {
                path: unit.segment.path.clone(),
                source,
            })
        })
        .collect()
}

/// Shared handle type for recordings opened once and used by many threads.
pub type Recordings = Arc<Vec<Recording>>;

#[cfg(test)]
mod fleet_tests {
    use super::*;

    #[test]
    fn partition_names() {
        assert_eq!(
            partition_of("host=web1"),
            Some(("host".into(), "web1".into()))
        );
        assert_eq!(partition_of("out.parquet"), None);
        assert_eq!(partition_of("=x"), None);
        assert_eq!(partition_of("k="), None);
    }

    #[test]
    fn an_empty_folder_is_not_a_fleet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("host=a/nothing")).unwrap();
        let err = discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&*dir.path().to_string_lossy()), "{err}");
    }
}
