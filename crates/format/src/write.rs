//! Writing segment files.
//!
//! A segment is written as `NNNNNN.parquet.tmp` and renamed to
//! `NNNNNN.parquet` once its footer is complete, so a reader never sees a
//! half-written file and a killed recorder loses at most the open segment.
//! Recordings hold command lines, paths and addresses, so directories are
//! created `0700` and files `0600`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{self, RecordingInfo};
use crate::schema::{ColumnType, TableSpec};

/// How segment files are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// zstd level. Default 3: within a few percent of level 9's size at a
    /// fraction of the CPU.
    pub zstd_level: i32,
    /// Rows per row group. Default 1,048,576: large groups compress better,
    /// and the analyzer parallelizes over files and row groups.
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd_level: 3,
            row_group_rows: 1 << 20,
        }
    }
}

/// Creates the recording directory with owner-only permissions.
///
/// An existing path is an error unless `force` is set; even then only a
/// directory that looks like a ktape recording (table folders holding only
/// `.parquet` files) is replaced, so `--force` can never wipe a directory
/// that holds something else.
pub fn create_recording_dir(root: &Path, force: bool) -> Result<()> {
    if root.exists() || root.symlink_metadata().is_ok() {
        if !force {
            return Err(Error::Exists(root.to_path_buf()));
        }
        if !looks_like_recording(root)? {
            return Err(Error::Io {
                path: root.to_path_buf(),
                source: std::io::Error::other(
                    "exists and does not look like a ktape recording; not replacing it even with --force",
                ),
            });
        }
        fs::remove_dir_all(root).map_err(|e| Error::io(root, e))?;
    }
    create_private_dir(root)
}

fn looks_like_recording(root: &Path) -> Result<bool> {
    let md = fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if !md.is_dir() {
        return Ok(false);
    }
    for table in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let table = table.map_err(|e| Error::io(root, e))?;
        let path = table.path();
        if !table.file_type().map_err(|e| Error::io(&path, e))?.is_dir() {
            return Ok(false);
        }
        for file in fs::read_dir(&path).map_err(|e| Error::io(&path, e))? {
            let file = file.map_err(|e| Error::io(&path, e))?;
            let name = file.file_name();
            let name = name.to_string_lossy();
            if !(name.ends_with(".parquet") || name.ends_with(".parquet.tmp")) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Creates a directory (and missing parents) readable by its owner only.
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|e| Error::io(path, e))
}

fn create_private_file(path: &Path) -> Result<File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| Error::io(path, e))
}

/// Writer properties for a table: zstd everywhere, dictionaries for the
/// repeating strings, delta encoding for timestamps (consecutive events are
/// close in time, so deltas are small and compress to a few bits).
pub fn writer_properties(spec: &TableSpec, opts: &WriteOptions) -> WriterProperties {
    let level = ZstdLevel::try_new(opts.zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(opts.row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("ktape {}", env!("CARGO_PKG_VERSION")));
    for c in spec.columns {
        let path = ColumnPath::from(c.name);
        match c.ty {
            ColumnType::Timestamp => {
                b = b
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
            ColumnType::DictString => {
                b = b.set_column_dictionary_enabled(path, true);
            }
            _ => {}
        }
    }
    b.build()
}

/// What a finished segment looks like.
#[derive(Debug, Clone)]
pub struct SegmentSummary {
    /// Final path of the file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Size on disk, bytes.
    pub bytes: u64,
}

/// Writes one segment of one table.
pub struct SegmentWriter {
    spec: &'static TableSpec,
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    rows: u64,
}

impl SegmentWriter {
    /// Starts segment `segment` of `spec` under recording `root` (the table
    /// folder is created if needed).
    pub fn create(
        root: &Path,
        spec: &'static TableSpec,
        segment: u32,
        info: &RecordingInfo,
        segment_start_ns: i64,
        opts: &WriteOptions,
    ) -> Result<Self> {
        let dir = layout::table_dir(root, spec.name);
        create_private_dir(&dir)?;
        let path = layout::segment_path(root, spec.name, segment);
        let tmp = layout::tmp_path(&path);
        let file = create_private_file(&tmp)?;
        let mut kv: Vec<KeyValue> = info
            .to_pairs()
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        kv.push(KeyValue::new(
            meta::TABLE.to_string(),
            spec.name.to_string(),
        ));
        kv.push(KeyValue::new(
            meta::SEGMENT.to_string(),
            segment.to_string(),
        ));
        kv.push(KeyValue::new(
            meta::SEGMENT_START_NS.to_string(),
            segment_start_ns.to_string(),
        ));
        let props = writer_properties(spec, opts)
            .into_builder()
            .set_key_value_metadata(Some(kv))
            .build();
        let writer = ArrowWriter::try_new(file, spec.schema(), Some(props)).map_err(|source| {
            Error::Parquet {
                path: tmp.clone(),
                source,
            }
        })?;
        Ok(SegmentWriter {
            spec,
            writer,
            tmp,
            path,
            rows: 0,
        })
    }

    /// The table this writer writes.
    pub fn spec(&self) -> &'static TableSpec {
        self.spec
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes written to the file so far plus bytes buffered for the open
    /// row group (used to decide size-based rotation).
    pub fn bytes_so_far(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Appends a batch; its schema must be the table's.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|source| Error::Parquet {
            path: self.tmp.clone(),
            source,
        })
    }

    /// Writes the footer (with the segment's end time), syncs the file and
    /// renames it to its final name.
    pub fn finish(mut self, segment_end_ns: i64) -> Result<SegmentSummary> {
        self.writer.append_key_value_metadata(KeyValue::new(
            meta::SEGMENT_END_NS.to_string(),
            segment_end_ns.to_string(),
        ));
        let file = self.writer.into_inner().map_err(|source| Error::Parquet {
            path: self.tmp.clone(),
            source,
        })?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        let bytes = file.metadata().map_err(|e| Error::io(&self.tmp, e))?.len();
        drop(file);
        fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(SegmentSummary {
            path: self.path,
            rows: self.rows,
            bytes,
        })
    }
}
