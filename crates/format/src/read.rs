//! Reading segments: opening a segment file (finished, or in progress
//! through its checkpoint), checking it (ktape file, known version,
//! footer and chunk digests), and decoding its row groups.
//!
//! The rest of reading lives beside it and is re-exported here:
//! [`Recording`] (a recording's folders and what a killed recorder left,
//! in `recording.rs`), [`scan_units`] (one unit of parallel work per row
//! group in the requested time range, `scan.rs`), and [`discover`].
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

use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

use crate::checksum::{self, ChunkDigests};
use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{self, RecordingInfo};

pub(crate) use crate::chunks::Chunks;
pub use crate::fleet::discover;
pub use crate::recording::{Incomplete, Recording, Recordings};
pub use crate::scan::{read_all, scan_units, ScanUnit};

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

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
