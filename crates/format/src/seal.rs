//! Footers written apart from the Parquet writer: checkpoint footers of
//! open segments, and sealing a killed recorder's segment at its last
//! checkpoint into a complete file.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::schema::types::SchemaDescPtr;

use crate::checksum;
use crate::dir::{create_private_dir, sync_dir};
use crate::error::{Error, Result};
use crate::layout;
use crate::meta;
use crate::write::SegmentSummary;

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Renames a finished file into its table folder and syncs both folders,
/// so the segment survives a power cut once this returns.
pub(crate) fn publish(from: &Path, to: &Path) -> Result<()> {
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
pub(crate) fn seal(data: &Path, len: u64, footer: &[u8], to: &Path) -> Result<u64> {
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
