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
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::{
    encode_arrow_schema, ArrowSchemaConverter, ArrowWriter, ARROW_SCHEMA_META_KEY,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::{ColumnPath, SchemaDescPtr};

use crate::checksum::{self, ChunkDigests};
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

/// Creates the recording directory with owner-only permissions.
///
/// An existing path is an error unless `force` is set; even then it is
/// replaced only when it is exactly one ktape recording ([`is_recording`]):
/// never a folder of recordings, a recording with other files in it, or a
/// symlink.
pub fn create_recording_dir(root: &Path, force: bool) -> Result<()> {
    if root.symlink_metadata().is_ok() {
        if !force {
            return Err(Error::Exists(root.to_path_buf()));
        }
        if let Err(why) = is_recording(root) {
            return Err(Error::NotReplaceable {
                path: root.to_path_buf(),
                why,
            });
        }
        fs::remove_dir_all(root).map_err(|e| Error::io(root, e))?;
    }
    create_private_dir(root)
}

/// Marks a recording as being written: an exclusive lock on
/// `.in-progress/lock`, held as long as the returned file is open (the OS
/// drops it when the recorder dies, however it dies).
pub fn lock_recording(root: &Path) -> Result<File> {
    let dir = root.join(layout::IN_PROGRESS_DIR);
    create_private_dir(&dir)?;
    let path = dir.join(layout::LOCK_FILE);
    let f = create_private_file(&path)?;
    f.try_lock().map_err(|e| Error::Io {
        path: path.clone(),
        source: std::io::Error::other(format!("another recorder is writing here ({e})")),
    })?;
    Ok(f)
}

/// Whether a recorder is writing `root` now (it holds the lock); false
/// when it finished or was killed, and where the OS cannot tell.
pub fn recorder_running(root: &Path) -> bool {
    let path = root.join(layout::IN_PROGRESS_DIR).join(layout::LOCK_FILE);
    let Ok(f) = File::open(&path) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
}

/// Whether `root` is exactly one ktape recording, which `--force` may
/// replace: a real directory (not a symlink) holding only table folders
/// and `.in-progress`, which hold only segment files (regular files, no
/// symlinks), every complete one of which is a ktape file of its folder's
/// table. `Err` says what disqualifies it.
pub fn is_recording(root: &Path) -> std::result::Result<(), String> {
    let md = fs::symlink_metadata(root).map_err(|e| e.to_string())?;
    if md.file_type().is_symlink() {
        return Err("it is a symlink".into());
    }
    if !md.is_dir() {
        return Err("it is not a directory".into());
    }
    let mut segments = 0;
    for entry in read_dir(root)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| e.to_string())?;
        if !ft.is_dir() || ft.is_symlink() {
            return Err(format!("it holds {name}, which is not a table folder"));
        }
        if name == layout::IN_PROGRESS_DIR {
            for table in read_dir(&path)? {
                let tname = table.file_name().to_string_lossy().into_owned();
                let ft = table.file_type().map_err(|e| e.to_string())?;
                if tname == layout::LOCK_FILE && ft.is_file() {
                    continue;
                }
                if !ft.is_dir() || ft.is_symlink() || !layout::is_table_name(&tname) {
                    return Err(format!(
                        "it holds {name}/{tname}, which ktape did not write"
                    ));
                }
                for f in read_dir(&table.path())? {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let ok = f.file_type().is_ok_and(|t| t.is_file())
                        && layout::segment_number(&fname).is_some();
                    if !ok {
                        return Err(format!(
                            "it holds {name}/{tname}/{fname}, which ktape did not write"
                        ));
                    }
                    segments += 1;
                }
            }
            continue;
        }
        if !layout::is_table_name(&name) {
            return Err(format!("it holds {name}, which is not a table folder"));
        }
        for f in read_dir(&path)? {
            let fname = f.file_name().to_string_lossy().into_owned();
            let is_file = f.file_type().is_ok_and(|t| t.is_file());
            if !is_file || layout::segment_number(&fname).is_none() {
                return Err(format!("it holds {name}/{fname}, which is not a segment"));
            }
            if fname.ends_with(layout::TMP_SUFFIX) {
                segments += 1;
                continue;
            }
            let seg = crate::read::Segment::open(&f.path())
                .map_err(|e| format!("{name}/{fname} is not a ktape segment ({e})"))?;
            if seg.table() != name {
                return Err(format!(
                    "{name}/{fname} is a segment of table `{}`, not `{name}`",
                    seg.table()
                ));
            }
            segments += 1;
        }
    }
    if segments == 0 {
        return Err("it holds no segment files".into());
    }
    Ok(())
}

fn read_dir(dir: &Path) -> std::result::Result<Vec<fs::DirEntry>, String> {
    fs::read_dir(dir)
        .and_then(|it| it.collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| format!("{}: {e}", dir.display()))
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

/// Syncs a directory, so that a rename or a new file in it survives a
/// power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
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

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Renames a finished file into its table folder and syncs both folders,
/// so the segment survives a power cut once this returns.
fn publish(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    if let Some(dir) = from.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Cuts `data` to `len` bytes, appends `footer`, syncs it and publishes it
/// as `to`. Returns the file's size.
fn seal(data: &Path, len: u64, footer: &[u8], to: &Path) -> Result<u64> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(data)
        .map_err(|e| Error::io(data, e))?;
    f.set_len(len).map_err(|e| Error::io(data, e))?;
    f.seek(SeekFrom::Start(len))
        .and_then(|_| f.write_all(footer))
        .map_err(|e| Error::io(data, e))?;
    f.sync_all().map_err(|e| Error::io(data, e))?;
    drop(f);
    publish(data, to)?;
    Ok(len + footer.len() as u64)
}

/// The footer bytes (metadata, length, magic) of a file with these row
/// groups and key-value pairs.
pub fn encode_footer(
    schema: SchemaDescPtr,
    row_groups: &[RowGroupMetaData],
    kv: &[(String, String)],
) -> parquet::errors::Result<Vec<u8>> {
    let num_rows = row_groups.iter().map(|r| r.num_rows()).sum();
    let file_meta = FileMetaData::new(
        1,
        num_rows,
        Some(format!("ktape {}", env!("CARGO_PKG_VERSION"))),
        Some(
            kv.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ),
        schema,
        None,
    );
    let meta = ParquetMetaData::new(file_meta, row_groups.to_vec());
    let mut out = Vec::new();
    ParquetMetaDataWriter::new(&mut out, &meta).finish()?;
    Ok(out)
}

/// Turns an in-progress segment left by a recorder that was killed into a
/// complete segment in its table folder, as of its last checkpoint: the
/// row groups whose checksums verify (all of them, unless the machine lost
/// power), the checkpoint footer rebuilt for them. What `ktape-analyze
/// recover` does. Returns the new segment, or `None` when nothing could be
/// recovered (no checkpoint, or no row group verifies).
pub fn seal_from_checkpoint(root: &Path, data: &Path) -> Result<Option<SegmentSummary>> {
    let Some(seg) = crate::read::Segment::open_in_progress(data)? else {
        return Ok(None);
    };
    let meta = seg.parquet_metadata();
    let kv: Vec<(String, String)> = seg
        .kv
        .iter()
        .filter(|(k, _)| k.as_str() != meta::FOOTER_XXH3)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut kv = kv;
    if kv.iter().any(|(k, _)| k == meta::CHUNK_XXH3) {
        let d =
            checksum::footer_digest(meta.file_metadata().schema_descr(), meta.row_groups(), &kv);
        kv.push((meta::FOOTER_XXH3.into(), checksum::format_digest(d)));
    }
    let footer = encode_footer(
        meta.file_metadata().schema_descr_ptr(),
        meta.row_groups(),
        &kv,
    )
    .map_err(|source| Error::Parquet {
        path: data.to_path_buf(),
        source,
    })?;
    let len = meta
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .map(|c| {
            let (s, l) = c.byte_range();
            s + l
        })
        .max()
        .unwrap_or(4);
    let table = seg.table().to_string();
    let n = seg
        .kv
        .get(meta::SEGMENT)
        .and_then(|v| v.parse().ok())
        .or_else(|| layout::segment_number(&data.file_name()?.to_string_lossy()))
        .unwrap_or(0);
    let to = layout::segment_path(root, &table, n);
    if to.exists() {
        return Err(Error::Io {
            path: to,
            source: std::io::Error::other("a complete segment of that number already exists"),
        });
    }
    create_private_dir(&layout::table_dir(root, &table))?;
    let rows = seg.rows().max(0) as u64;
    let bytes = seal(data, len, &footer, &to)?;
    remove_if_exists(&layout::footer_path(data))?;
    Ok(Some(SegmentSummary {
        path: to,
        rows,
        bytes,
    }))
}

/// The checkpoint footer of a file as the recorder left it, parsed and
/// checked: its metadata (row groups beyond what the data file holds are
/// dropped) and key-value pairs.
pub(crate) fn metadata_from_footer(bytes: &[u8]) -> parquet::errors::Result<ParquetMetaData> {
    if bytes.len() < 12 || &bytes[bytes.len() - 4..] != b"PAR1" {
        return Err(parquet::errors::ParquetError::General(
            "not a Parquet footer".into(),
        ));
    }
    let n = bytes.len();
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    if len + 8 != n {
        return Err(parquet::errors::ParquetError::General(
            "footer length does not match".into(),
        ));
    }
    parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&bytes[..len])
}

/// A prefix of a file's row groups as its own metadata (a checkpoint
/// whose later row groups did not reach the disk).
pub(crate) fn prefix_metadata(meta: &ParquetMetaData, row_groups: usize) -> ParquetMetaData {
    let fm = meta.file_metadata();
    let rgs: Vec<RowGroupMetaData> = meta.row_groups()[..row_groups].to_vec();
    let num_rows = rgs.iter().map(|r| r.num_rows()).sum();
    let file_meta = FileMetaData::new(
        fm.version(),
        num_rows,
        fm.created_by().map(str::to_string),
        fm.key_value_metadata().cloned(),
        Arc::new(fm.schema_descr().clone()),
        fm.column_orders().cloned(),
    );
    ParquetMetaData::new(file_meta, rgs)
}
