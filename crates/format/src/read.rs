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
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;

use crate::checksum::{self, ChunkDigests};
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
    /// Digests of its column chunks; `None` for files written before
    /// checksums (read unverified).
    digests: Option<ChunkDigests>,
    /// Whether it is an unfinished segment (in `.in-progress/`) read
    /// through its checkpoint footer.
    pub in_progress: bool,
}

fn kv_of(meta: &ParquetMetaData) -> BTreeMap<String, String> {
    meta.file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn corrupt(path: &Path, what: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Checks a footer against its digest and returns the chunk digests; both
/// absent is a file from before checksums (`None`), one without the
/// other is damage.
fn verify_footer(
    path: &Path,
    meta: &ParquetMetaData,
    kv: &BTreeMap<String, String>,
) -> Result<Option<ChunkDigests>> {
    let (footer, chunks) = (kv.get(meta::FOOTER_XXH3), kv.get(meta::CHUNK_XXH3));
    let (footer, chunks) = match (footer, chunks) {
        (None, None) => return Ok(None),
        (Some(f), Some(c)) => (f, c),
        _ => return Err(corrupt(path, "its footer lost one of its two checksums")),
    };
    let want = checksum::parse_digest(footer)
        .ok_or_else(|| corrupt(path, "its footer checksum is not a digest"))?;
    let pairs: Vec<(String, String)> = kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if checksum::footer_digest(
        meta.file_metadata().schema_descr(),
        meta.row_groups(),
        &pairs,
    ) != want
    {
        return Err(corrupt(path, "its footer does not match its checksum"));
    }
    let digests = ChunkDigests::decode(chunks)
        .ok_or_else(|| corrupt(path, "its chunk checksums are not readable"))?;
    let shape_ok = digests.0.len() == meta.num_row_groups()
        && digests
            .0
            .iter()
            .zip(meta.row_groups())
            .all(|(d, rg)| d.len() == rg.num_columns());
    if !shape_ok {
        return Err(corrupt(
            path,
            "its chunk checksums do not match its row groups",
        ));
    }
    Ok(Some(digests))
}

fn check_version(path: &Path, kv: &BTreeMap<String, String>) -> Result<()> {
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
    Ok(())
}

impl Segment {
    /// Opens a segment: reads its footer and checks it against its
    /// checksum and this build's format versions.
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
        let kv = kv_of(meta.metadata());
        let digests = verify_footer(path, meta.metadata(), &kv)?;
        check_version(path, &kv)?;
        Ok(Segment {
            path: path.to_path_buf(),
            bytes,
            kv,
            meta,
            digests,
            in_progress: false,
        })
    }

    /// Opens an unfinished segment (`.in-progress/<table>/NNNNNN.parquet`)
    /// through its checkpoint footer: the row groups it describes that
    /// are on disk and verify, in order (after a power cut the last ones
    /// may not be; they are left out, and `ktape.segment_end_ns` becomes
    /// the last row's time). `Ok(None)` when nothing is readable: no
    /// checkpoint yet, or its first row group does not verify.
    pub fn open_in_progress(data: &Path) -> Result<Option<Segment>> {
        let footer_path = layout::footer_path(data);
        let bytes = match fs::read(&footer_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&footer_path, e)),
        };
        let pmeta = crate::write::metadata_from_footer(&bytes)
            .map_err(|e| corrupt(&footer_path, format!("checkpoint footer unreadable: {e}")))?;
        let mut kv = kv_of(&pmeta);
        let digests = verify_footer(&footer_path, &pmeta, &kv)?;
        let file = File::open(data).map_err(|e| Error::io(data, e))?;
        let len = file.metadata().map_err(|e| Error::io(data, e))?.len();
        let mut keep = 0;
        'groups: for (i, rg) in pmeta.row_groups().iter().enumerate() {
            for (j, col) in rg.columns().iter().enumerate() {
                let (start, n) = col.byte_range();
                if start.checked_add(n).is_none_or(|end| end > len) {
                    break 'groups;
                }
                if let Some(want) = digests.as_ref().and_then(|d| d.get(i, j)) {
                    let mut buf = vec![0u8; n as usize];
                    if crate::pread::read_exact_at(&file, &mut buf, start).is_err()
                        || checksum::chunk_digest(&buf) != want
                    {
                        break 'groups;
                    }
                }
            }
            keep = i + 1;
        }
        // Nothing verifies: no readable rows. (A checkpoint of no row
        // groups is a table that was empty up to it, e.g. `loss`.)
        if keep == 0 && pmeta.num_row_groups() > 0 {
            return Ok(None);
        }
        let mut digests = digests;
        let pmeta = if keep < pmeta.num_row_groups() {
            let pruned = crate::write::prefix_metadata(&pmeta, keep);
            if let Some(d) = digests.as_mut() {
                d.0.truncate(keep);
                kv.insert(meta::CHUNK_XXH3.into(), d.encode());
            }
            kv.remove(meta::FOOTER_XXH3);
            let last_ts = pruned
                .row_groups()
                .iter()
                .filter_map(|rg| {
                    let idx = rg
                        .columns()
                        .iter()
                        .position(|c| c.column_path().string() == "ts")?;
                    match rg.column(idx).statistics()? {
                        Statistics::Int64(s) => s.max_opt().copied(),
                        _ => None,
                    }
                })
                .max();
            if let Some(t) = last_ts {
                kv.insert(meta::SEGMENT_END_NS.into(), t.saturating_add(1).to_string());
            }
            pruned
        } else {
            pmeta
        };
        let meta = ArrowReaderMetadata::try_new(Arc::new(pmeta), ArrowReaderOptions::new())
            .map_err(|source| Error::NotParquet {
                path: footer_path.clone(),
                source,
            })?;
        check_version(&footer_path, &kv)?;
        Ok(Some(Segment {
            path: data.to_path_buf(),
            bytes: len,
            kv,
            meta,
            digests,
            in_progress: true,
        }))
    }

    /// The Parquet metadata (footer) of the file.
    pub fn parquet_metadata(&self) -> &ParquetMetaData {
        self.meta.metadata()
    }

    /// Whether the file carries checksums (files of older recorders do
    /// not, and are read unverified).
    pub fn has_checksums(&self) -> bool {
        self.digests.is_some()
    }

    /// Whether the segment was sealed from a checkpoint rather than closed
    /// by its recorder: rows after its end time may be missing.
    pub fn ended_at_checkpoint(&self) -> bool {
        self.in_progress
            || self.kv.get(meta::SEGMENT_STATE).map(String::as_str) == Some(meta::STATE_CHECKPOINT)
    }

    /// Reads every column chunk and checks it against its digest (what
    /// `ktape-analyze verify` does); `Ok(false)` when the file has no
    /// checksums to check.
    pub fn verify_chunks(&self) -> Result<bool> {
        let all: Vec<&str> = Vec::new();
        for rg in 0..self.row_groups() {
            self.read_chunks(rg, &all, true)?;
        }
        Ok(self.digests.is_some())
    }

    /// Reads the chunks of the named columns of one row group (every
    /// column with `all`), checking each against its digest.
    fn read_chunks(&self, rg: usize, columns: &[&str], all: bool) -> Result<Chunks> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        let mut parts = Vec::new();
        let md = self.meta.metadata().row_group(rg);
        for (ci, col) in md.columns().iter().enumerate() {
            let root = col.column_path().parts().first().map(String::as_str);
            if !all && !root.is_some_and(|r| columns.contains(&r)) {
                continue;
            }
            let (start, n) = col.byte_range();
            if start.checked_add(n).is_none_or(|end| end > len) {
                return Err(corrupt(
                    &self.path,
                    format!(
                        "column `{}` of row group {rg} lies beyond the end of the file (truncated?)",
                        col.column_path()
                    ),
                ));
            }
            let mut buf = vec![0u8; n as usize];
            crate::pread::read_exact_at(&file, &mut buf, start)
                .map_err(|e| Error::io(&self.path, e))?;
            if let Some(want) = self.digests.as_ref().and_then(|d| d.get(rg, ci)) {
                if checksum::chunk_digest(&buf) != want {
                    return Err(corrupt(
                        &self.path,
                        format!(
                            "column `{}` of row group {rg} does not match its checksum",
                            col.column_path()
                        ),
                    ));
                }
            }
            parts.push((start, Bytes::from(buf)));
        }
        Ok(Chunks { len, parts })
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

    /// The segment's number (`ktape.segment`, else its file name's).
    pub fn number(&self) -> u32 {
        self.kv
            .get(meta::SEGMENT)
            .and_then(|v| v.parse().ok())
            .or_else(|| layout::segment_number(&file_name(&self.path)))
            .unwrap_or(0)
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
        let chunks = self.read_chunks(rg, columns, false)?;
        let mask = ProjectionMask::columns(
            self.meta.metadata().file_metadata().schema_descr(),
            columns.iter().copied(),
        );
        ParquetRecordBatchReaderBuilder::new_with_metadata(chunks, self.meta.clone())
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

/// The verified column chunks of one row group, in memory: what the
/// Parquet decoder reads from, so it decodes exactly the bytes whose
/// digests were checked.
struct Chunks {
    len: u64,
    parts: Vec<(u64, Bytes)>,
}

impl Chunks {
    fn slice(&self, start: u64, len: Option<usize>) -> parquet::errors::Result<Bytes> {
        for (s, b) in &self.parts {
            let end = s + b.len() as u64;
            if start >= *s && start < end {
                let off = (start - s) as usize;
                let to = match len {
                    Some(l) => off
                        .checked_add(l)
                        .filter(|&t| t <= b.len())
                        .ok_or_else(|| {
                            parquet::errors::ParquetError::EOF(
                                "a page reaches past the end of its column chunk".into(),
                            )
                        })?,
                    None => b.len(),
                };
                return Ok(b.slice(off..to));
            }
        }
        Err(parquet::errors::ParquetError::General(format!(
            "read at offset {start}, outside the column chunks being read"
        )))
    }
}

impl Length for Chunks {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Chunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

/// A segment that its recorder never finished.
#[derive(Debug, Clone)]
pub struct Incomplete {
    /// The unfinished file (in `.in-progress/`, or a `.tmp` left in the
    /// table folder by an older recorder).
    pub path: PathBuf,
    /// Its table.
    pub table: String,
    /// Rows readable through its checkpoint (they are part of the
    /// recording's segments, marked `in_progress`).
    pub recovered_rows: u64,
    /// The end of what its checkpoint covers, ns since the epoch; `None`
    /// when nothing could be read from it.
    pub recovered_until_ns: Option<i64>,
    /// Why nothing could be read, when something was wrong with it.
    pub problem: Option<String>,
}

/// One recording: a directory of table folders.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The recording's directory.
    pub root: PathBuf,
    /// Recording-wide facts, from the first segment found.
    pub info: RecordingInfo,
    /// Segments of each table, in segment order; an unfinished last
    /// segment is included when its checkpoint is readable
    /// ([`Segment::in_progress`]).
    pub tables: BTreeMap<String, Vec<Segment>>,
    /// Segments the recorder did not finish (it was killed, or is still
    /// running), with what could be read of each.
    pub incomplete: Vec<Incomplete>,
    /// Hive partitions (`key=value` folders) between the folder given to
    /// [`discover`] and the recording, outermost first.
    pub partitions: Vec<(String, String)>,
    /// Whether a recorder is writing it now (so unfinished segments are
    /// not the mark of a kill).
    pub recording_now: bool,
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
        let mut tables: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
        let mut incomplete = Vec::new();
        let dirs = sorted_entries(root)?.into_iter().filter(|p| p.is_dir());
        for dir in dirs {
            let table = file_name(&dir);
            if table.starts_with('.') {
                continue;
            }
            let files = sorted_entries(&dir)?;
            let mut segments = Vec::new();
            for f in files {
                let name = file_name(&f);
                if name.ends_with(layout::TMP_SUFFIX) {
                    incomplete.push(Incomplete {
                        path: f,
                        table: table.clone(),
                        recovered_rows: 0,
                        recovered_until_ns: None,
                        problem: None,
                    });
                } else if f.extension().is_some_and(|e| e == layout::SEGMENT_EXT) {
                    let seg = Segment::open(&f)?;
                    if seg.table() != table {
                        return Err(Error::WrongTable {
                            path: f,
                            found: seg.table().to_string(),
                            folder: table,
                        });
                    }
                    segments.push(seg);
                }
            }
            if !segments.is_empty() {
                tables.insert(table, segments);
            }
        }
        let in_progress = root.join(layout::IN_PROGRESS_DIR);
        if in_progress.is_dir() {
            for dir in sorted_entries(&in_progress)?
                .into_iter()
                .filter(|p| p.is_dir())
            {
                let table = file_name(&dir);
                for f in sorted_entries(&dir)? {
                    if f.extension().is_none_or(|e| e != layout::SEGMENT_EXT) {
                        continue;
                    }
                    let mut inc = Incomplete {
                        path: f.clone(),
                        table: table.clone(),
                        recovered_rows: 0,
                        recovered_until_ns: None,
                        problem: None,
                    };
                    match Segment::open_in_progress(&f) {
                        Ok(Some(seg)) if seg.table() == table => {
                            inc.recovered_rows = seg.rows().max(0) as u64;
                            inc.recovered_until_ns = seg.time_range().1;
                            tables.entry(table.clone()).or_default().push(seg);
                        }
                        Ok(Some(seg)) => {
                            inc.problem =
                                Some(format!("its checkpoint names table `{}`", seg.table()))
                        }
                        Ok(None) => {}
                        Err(e) => inc.problem = Some(e.to_string()),
                    }
                    incomplete.push(inc);
                }
            }
            for segs in tables.values_mut() {
                segs.sort_by_key(|s| s.number());
            }
        }
        let info = tables
            .values()
            .flatten()
            .next()
            .map(Segment::info)
            .ok_or_else(|| {
                if incomplete.is_empty() {
                    Error::NotARecording(root.to_path_buf())
                } else {
                    Error::Unfinished(root.to_path_buf())
                }
            })?;
        Ok(Recording {
            root: root.to_path_buf(),
            info,
            tables,
            incomplete,
            partitions: Vec::new(),
            recording_now: crate::write::recorder_running(root),
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

    /// Whether the recorder did not finish every segment (it was killed,
    /// or it is still recording).
    pub fn ended_abruptly(&self) -> bool {
        !self.incomplete.is_empty()
            || self
                .tables
                .values()
                .flatten()
                .any(Segment::ended_at_checkpoint)
    }

    /// The end of a table's rows that are known to be complete: the latest
    /// end of its segments that their recorder closed (ns since the
    /// epoch); `None` when it has none.
    pub fn complete_until(&self, table: &str) -> Option<i64> {
        self.segments(table)
            .iter()
            .filter(|s| !s.ended_at_checkpoint())
            .filter_map(|s| s.time_range().1)
            .max()
    }

    /// The end of a table's readable rows: [`Recording::complete_until`],
    /// or later where a checkpoint of an unfinished segment reaches.
    pub fn readable_until(&self, table: &str) -> Option<i64> {
        self.segments(table)
            .iter()
            .filter_map(|s| s.time_range().1)
            .max()
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

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How deep [`discover`] looks below the folder it is given: enough for
/// `fleet/dc=x/host=y/date=z/out.parquet`, bounded so that a wrong path
/// (`/`) fails fast instead of walking a whole file system.
const MAX_FLEET_DEPTH: usize = 6;

/// Whether a directory looks like a recording: one of its folders holds
/// segment files (finished or not), or it has an `.in-progress` folder.
fn looks_like_recording(dir: &Path) -> bool {
    if dir.join(layout::IN_PROGRESS_DIR).is_dir() {
        return true;
    }
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
