//! Writing segment files.
//!
//! A segment is written to `.in-progress/<table>/NNNNNN.parquet` and
//! renamed into `<table>/` once its footer is complete and synced, so a
//! reader of a table folder never sees a half-written file. While it is
//! open, [`SegmentWriter::checkpoint`] flushes the buffered rows as a row
//! group and writes the footer those row groups would have into
//! `NNNNNN.footer` beside it. A recorder killed with SIGKILL or by the OOM
//! killer then loses only the rows since its last checkpoint: readers can
//! read the in-progress file through the checkpoint footer
//! ([`crate::read`]), and [`seal_from_checkpoint`] turns it into a complete
//! segment. Checkpoints are not synced (that costs the host's disk an
//! fsync per table per second); segments are, with their directories,
//! when they close, so a power cut loses at most the open segment, and a
//! checkpoint whose data did not reach the disk fails its checksums and
//! is not read.
//!
//! Every file carries checksums ([`crate::checksum`]). Recordings hold
//! command lines, paths and addresses, so directories are created `0700`
//! and files `0600`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::{
    encode_arrow_schema, ArrowSchemaConverter, ArrowWriter, ARROW_SCHEMA_META_KEY,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::{ColumnPath, SchemaDescPtr};

use crate::checksum::{self, ChunkDigests};
use crate::error::{Error, Result};
use crate::layout;
use crate::meta::{self, RecordingInfo};
use crate::schema::{ColumnType, TableSpec};

pub(crate) use crate::dir::create_private_file;
pub use crate::dir::{
    create_private_dir, create_recording_dir, is_recording, lock_recording, recorder_running,
    sync_dir,
};
pub use crate::seal::{encode_footer, seal_from_checkpoint};
pub(crate) use crate::seal::{metadata_from_footer, prefix_metadata};
use crate::seal::{publish, remove_if_exists, seal};

/// How segment files are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// zstd level. Default 3: within a few percent of level 9's size at a
    /// fraction of the CPU.
    pub zstd_level: i32,
    /// Most rows per row group. Default 1,048,576: large groups compress
    /// better, and the analyzer parallelizes over files and row groups.
    /// Checkpoints cut row groups too, so the recorder's row groups are
    /// usually a checkpoint interval long.
    pub row_group_rows: usize,
    /// Write checksums. Default true; off only to make files like those of
    /// older recorders (tests of the unverified path).
    pub checksums: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd_level: 3,
            row_group_rows: 1 << 20,
            checksums: true,
        }
    }
}

/// Writer properties for a table: zstd everywhere, dictionaries for the
/// repeating strings, delta encoding for timestamps (consecutive events are
/// close in time, so deltas are small and compress to a few bits). Integer
/// columns with a unit (ns, bytes, sectors, pages …) are measurements whose
/// values rarely repeat exactly: a dictionary costs the encoder a hash per
/// value and then falls back to plain pages anyway, so they are written
/// plain (zstd still takes what repeats; `make bench` bio: 10.0 → 7.6 bytes
/// per row). Unitless integers (pids, cpus, codes) repeat and keep their
/// dictionary.
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
            ColumnType::Int32 | ColumnType::Int64 if c.unit != "-" => {
                b = b.set_column_dictionary_enabled(path, false);
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
    /// A second handle on the data file, to read back chunks for their
    /// digests (just written: from the page cache).
    reader: File,
    data: PathBuf,
    footer: PathBuf,
    path: PathBuf,
    /// Every key-value pair the footer will have before the end time,
    /// the digests and the state.
    kv: Vec<(String, String)>,
    /// The Parquet schema the writer derives from the table's.
    schema_descr: SchemaDescPtr,
    checksums: bool,
    digests: Vec<Vec<u64>>,
    rows: u64,
    checkpointed_rows: u64,
    /// The last checkpoint footer (metadata, length, magic) and the length
    /// of the data it describes.
    checkpoint: Option<(Vec<u8>, u64)>,
}

impl SegmentWriter {
    /// Starts segment `segment` of `spec` under recording `root`: the data
    /// file in `.in-progress/<table>/`, the table folder for when it is
    /// finished.
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
        create_private_dir(&layout::in_progress_dir(root, spec.name))?;
        let path = layout::segment_path(root, spec.name, segment);
        let data = layout::in_progress_path(root, spec.name, segment);
        let footer = layout::footer_path(&data);
        let file = create_private_file(&data)?;
        let reader = File::open(&data).map_err(|e| Error::io(&data, e))?;
        let mut kv: Vec<(String, String)> = info.to_pairs();
        kv.push((meta::TABLE.into(), spec.name.into()));
        kv.push((meta::SEGMENT.into(), segment.to_string()));
        kv.push((meta::SEGMENT_START_NS.into(), segment_start_ns.to_string()));
        let props = writer_properties(spec, opts)
            .into_builder()
            .set_key_value_metadata(Some(
                kv.iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ))
            .build();
        let schema = spec.schema();
        let schema_descr = Arc::new(ArrowSchemaConverter::new().convert(&schema).map_err(
            |source| Error::Parquet {
                path: data.clone(),
                source,
            },
        )?);
        // The writer adds the encoded Arrow schema to the footer; the
        // footer digest covers it like every other pair.
        kv.push((ARROW_SCHEMA_META_KEY.into(), encode_arrow_schema(&schema)));
        let writer =
            ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| Error::Parquet {
                path: data.clone(),
                source,
            })?;
        Ok(SegmentWriter {
            spec,
            writer,
            reader,
            data,
            footer,
            path,
            kv,
            schema_descr,
            checksums: opts.checksums,
            digests: Vec::new(),
            rows: 0,
            checkpointed_rows: 0,
            checkpoint: None,
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

    /// Where the file is until it is finished.
    pub fn in_progress_path(&self) -> &Path {
        &self.data
    }

    /// Bytes written to the file so far plus bytes buffered for the open
    /// row group (used to decide size-based rotation).
    pub fn bytes_so_far(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Bytes held in memory that finishing the segment will write: the
    /// open row group's estimated encoded size (what a disk-space check
    /// must leave room for).
    pub fn pending_bytes(&self) -> usize {
        self.writer.in_progress_size()
    }

    fn err(&self, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            path: self.data.clone(),
            source,
        }
    }

    /// Appends a batch; its schema must be the table's.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| Error::Parquet {
            path: self.data.clone(),
            source: e,
        })
    }

    /// Flushes the buffered rows as a row group, pushes them to the file,
    /// and digests the chunks not yet digested.
    fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| self.err(e))?;
        self.writer
            .sync()
            .map_err(|e| Error::io(self.data.clone(), e))?;
        if !self.checksums {
            return Ok(());
        }
        let done = self.digests.len();
        let mut new = Vec::new();
        for rg in &self.writer.flushed_row_groups()[done..] {
            let mut per_column = Vec::with_capacity(rg.columns().len());
            for col in rg.columns() {
                let (start, len) = col.byte_range();
                let mut buf = vec![0u8; len as usize];
                crate::pread::read_exact_at(&self.reader, &mut buf, start)
                    .map_err(|e| Error::io(self.data.clone(), e))?;
                per_column.push(checksum::chunk_digest(&buf));
            }
            new.push(per_column);
        }
        self.digests.extend(new);
        Ok(())
    }

    /// The key-value pairs of a footer ending at `end_ns`, digests
    /// included.
    fn footer_kv(&self, end_ns: i64, state: Option<&str>) -> Vec<(String, String)> {
        let mut kv = self.kv.clone();
        kv.push((meta::SEGMENT_END_NS.into(), end_ns.to_string()));
        if let Some(s) = state {
            kv.push((meta::SEGMENT_STATE.into(), s.into()));
        }
        if self.checksums {
            kv.push((
                meta::CHUNK_XXH3.into(),
                ChunkDigests(self.digests.clone()).encode(),
            ));
            let d =
                checksum::footer_digest(&self.schema_descr, self.writer.flushed_row_groups(), &kv);
            kv.push((meta::FOOTER_XXH3.into(), checksum::format_digest(d)));
        }
        kv
    }

    /// Makes the rows written so far readable if the process dies now:
    /// flushes them as a row group and writes the footer they would have
    /// (with `ktape.segment_end_ns = now_ns`) into the checkpoint file. Not
    /// synced (see the module doc). Does nothing when no row arrived since
    /// the last checkpoint. Returns whether it wrote one.
    pub fn checkpoint(&mut self, now_ns: i64) -> Result<bool> {
        if self.rows == self.checkpointed_rows {
            return Ok(false);
        }
        self.checkpoint_now(now_ns)?;
        Ok(true)
    }

    /// [`checkpoint`](Self::checkpoint) even when no row came since the
    /// last one: for a table whose silence is information (an empty
    /// `loss` table up to `now_ns` says nothing was lost until then).
    pub fn checkpoint_now(&mut self, now_ns: i64) -> Result<()> {
        self.flush()?;
        let kv = self.footer_kv(now_ns, Some(meta::STATE_CHECKPOINT));
        let footer = encode_footer(
            self.schema_descr.clone(),
            self.writer.flushed_row_groups(),
            &kv,
        )
        .map_err(|e| self.err(e))?;
        let tmp = layout::tmp_path(&self.footer);
        let written = create_private_file(&tmp).and_then(|mut f| {
            f.write_all(&footer).map_err(|e| Error::io(&tmp, e))?;
            drop(f);
            fs::rename(&tmp, &self.footer).map_err(|e| Error::io(&self.footer, e))
        });
        if written.is_err() {
            // The previous checkpoint stays the one that counts.
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.checkpoint = Some((footer, self.writer.bytes_written() as u64));
        self.checkpointed_rows = self.rows;
        Ok(())
    }

    /// Writes the footer (with the segment's end time and checksums),
    /// syncs the file, renames it into the table folder and syncs both
    /// folders. When that fails (a full disk), no partial file is left: the
    /// segment is sealed as of its last checkpoint if it can be, removed if
    /// not, and the error returned.
    pub fn finish(mut self, segment_end_ns: i64) -> Result<SegmentSummary> {
        let (data, footer, path) = (self.data.clone(), self.footer.clone(), self.path.clone());
        let checkpoint = self.checkpoint.clone();
        let rows = self.rows;
        let finished = (|| {
            self.flush()?;
            for (k, v) in self
                .footer_kv(segment_end_ns, None)
                .split_off(self.kv.len())
            {
                self.writer.append_key_value_metadata(KeyValue::new(k, v));
            }
            let file = self.writer.into_inner().map_err(|source| Error::Parquet {
                path: data.clone(),
                source,
            })?;
            file.sync_all().map_err(|e| Error::io(&data, e))?;
            let bytes = file.metadata().map_err(|e| Error::io(&data, e))?.len();
            drop(file);
            publish(&data, &path)?;
            Ok(bytes)
        })();
        match finished {
            Ok(bytes) => {
                remove_if_exists(&footer)?;
                Ok(SegmentSummary { path, rows, bytes })
            }
            Err(e) => {
                let sealed = checkpoint.map(|(b, len)| seal(&data, len, &b, &path));
                if !matches!(sealed, Some(Ok(_))) {
                    let _ = fs::remove_file(&data);
                }
                let _ = fs::remove_file(&footer);
                let _ = fs::remove_file(layout::tmp_path(&footer));
                Err(e)
            }
        }
    }

    /// Seals the segment as of its last checkpoint instead of finishing it
    /// (the disk is full: the rows since cannot be written). The data file
    /// is cut back to what the checkpoint describes, which frees space,
    /// and the checkpoint footer appended. Without a checkpoint the file
    /// is removed. `Ok(None)` when nothing was sealed.
    pub fn seal_at_checkpoint(self) -> Result<Option<SegmentSummary>> {
        let SegmentWriter {
            writer,
            data,
            footer,
            path,
            checkpoint,
            checkpointed_rows,
            ..
        } = self;
        // Dropping the Arrow writer writes nothing more; its buffered rows
        // are the ones given up.
        drop(writer);
        let _ = fs::remove_file(layout::tmp_path(&footer));
        let Some((bytes, len)) = checkpoint else {
            remove_if_exists(&data)?;
            remove_if_exists(&footer)?;
            return Ok(None);
        };
        let sealed = seal(&data, len, &bytes, &path);
        if sealed.is_err() {
            let _ = fs::remove_file(&data);
        }
        remove_if_exists(&footer)?;
        Ok(Some(SegmentSummary {
            path,
            rows: checkpointed_rows,
            bytes: sealed?,
        }))
    }

    /// Gives the segment up: removes its in-progress files.
    pub fn abort(self) -> Result<()> {
        drop(self.writer);
        remove_if_exists(&self.data)?;
        remove_if_exists(&self.footer)
    }
}
