//! The bytes the Parquet decoder reads, once their digests are checked.
//!
//! A segment's column chunks are read into memory and checked against
//! `ktape.chunk_xxh3` before any page is decoded; [`Chunks`] then serves
//! the decoder from those buffers only, so what it decodes is exactly
//! what was verified (reading the file again could see other bytes).

use bytes::{Buf, Bytes};
use parquet::file::reader::{ChunkReader, Length};

/// The verified column chunks of one row group, in memory: what the
/// Parquet decoder reads from, so it decodes exactly the bytes whose
/// digests were checked.
pub(crate) struct Chunks {
    pub(crate) len: u64,
    pub(crate) parts: Vec<(u64, Bytes)>,
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
