//! Checksums: every segment can tell when it has been damaged.
//!
//! The Parquet writer we use cannot write page CRCs, so ktape keeps its own
//! digests (xxh3-64) in the footer's key-value metadata:
//!
//! * [`meta::CHUNK_XXH3`](crate::meta::CHUNK_XXH3): one digest per column
//!   chunk, over the chunk's bytes on disk (every page of the chunk, headers
//!   included). A reader verifies exactly the chunks it reads, from the
//!   bytes it then decodes, so a report that reads two columns pays for two
//!   columns and a flipped bit in any page it reads is an error naming the
//!   file, never a different number.
//! * [`meta::FOOTER_XXH3`](crate::meta::FOOTER_XXH3): one digest over what
//!   the footer itself says (schema leaves, every row group's and column
//!   chunk's offsets, sizes, counts and statistics, and every other
//!   key-value pair). A digest cannot cover the bytes it is stored in, so
//!   it covers the parsed meaning instead, in an encoding fixed here (never
//!   a `Debug` rendering, which could change with the parquet crate).
//!   Checked whenever a file is opened, which every report does.
//!
//! Files written before checksums existed have neither key and are read
//! unverified; `ktape-analyze verify` says so.

use parquet::basic::{Compression, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::schema::types::SchemaDescriptor;
use twox_hash::XxHash3_64;

/// Digest of one column chunk's bytes.
pub fn chunk_digest(bytes: &[u8]) -> u64 {
    XxHash3_64::oneshot(bytes)
}

/// Prefix of the [`meta::CHUNK_XXH3`](crate::meta::CHUNK_XXH3) value: the
/// algorithm, so that a later one can be told apart.
const CHUNK_PREFIX: &str = "xxh3-64:";

/// The digests of every column chunk of a file, `[row group][column]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkDigests(pub Vec<Vec<u64>>);

impl ChunkDigests {
    /// The metadata value: `xxh3-64:` then row groups separated by `;`,
    /// each a `,`-separated list of 16-digit hex digests in column order.
    pub fn encode(&self) -> String {
        let mut s = String::from(CHUNK_PREFIX);
        for (i, rg) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            for (j, d) in rg.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(&format!("{d:016x}"));
            }
        }
        s
    }

    /// Parses [`ChunkDigests::encode`]'s form; `None` when it is not that.
    pub fn decode(s: &str) -> Option<ChunkDigests> {
        let body = s.strip_prefix(CHUNK_PREFIX)?;
        if body.is_empty() {
            return Some(ChunkDigests(Vec::new()));
        }
        body.split(';')
            .map(|rg| {
                rg.split(',')
                    .map(|d| {
                        (d.len() == 16)
                            .then(|| u64::from_str_radix(d, 16).ok())
                            .flatten()
                    })
                    .collect::<Option<Vec<u64>>>()
            })
            .collect::<Option<Vec<_>>>()
            .map(ChunkDigests)
    }

    /// The digest of a chunk, if the file has one for it.
    pub fn get(&self, row_group: usize, column: usize) -> Option<u64> {
        self.0.get(row_group)?.get(column).copied()
    }
}

/// Appends fields in a fixed, self-delimiting encoding.
#[derive(Default)]
struct Canon(Vec<u8>);

impl Canon {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.0.push(1);
                self.i64(v);
            }
            None => self.0.push(0),
        }
    }
    fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
            None => self.0.push(0),
        }
    }
}

fn physical_code(t: PhysicalType) -> u64 {
    match t {
        PhysicalType::BOOLEAN => 1,
        PhysicalType::INT32 => 2,
        PhysicalType::INT64 => 3,
        PhysicalType::INT96 => 4,
        PhysicalType::FLOAT => 5,
        PhysicalType::DOUBLE => 6,
        PhysicalType::BYTE_ARRAY => 7,
        PhysicalType::FIXED_LEN_BYTE_ARRAY => 8,
    }
}

/// The codec only: a zstd level is not stored in the file, so the writer's
/// `ZSTD(3)` is the reader's `ZSTD(default)`.
fn codec_code(c: Compression) -> u64 {
    match c {
        Compression::UNCOMPRESSED => 1,
        Compression::SNAPPY => 2,
        Compression::GZIP(_) => 3,
        Compression::LZO => 4,
        Compression::BROTLI(_) => 5,
        Compression::LZ4 => 6,
        Compression::ZSTD(_) => 7,
        Compression::LZ4_RAW => 8,
    }
}

fn unit_code(u: &TimeUnit) -> u64 {
    match u {
        TimeUnit::MILLIS => 1,
        TimeUnit::MICROS => 2,
        TimeUnit::NANOS => 3,
    }
}

/// A logical type by its field id in the Parquet spec's `LogicalType`
/// union, with its parameters.
fn logical(c: &mut Canon, t: Option<&LogicalType>) {
    let Some(t) = t else {
        c.u64(0);
        return;
    };
    match t {
        LogicalType::String => c.u64(1),
        LogicalType::Map => c.u64(2),
        LogicalType::List => c.u64(3),
        LogicalType::Enum => c.u64(4),
        LogicalType::Decimal(d) => {
            c.u64(5);
            c.i64(d.scale as i64);
            c.i64(d.precision as i64);
        }
        LogicalType::Date => c.u64(6),
        LogicalType::Time(t) => {
            c.u64(7);
            c.u64(t.is_adjusted_to_u_t_c as u64);
            c.u64(unit_code(&t.unit));
        }
        LogicalType::Timestamp(t) => {
            c.u64(8);
            c.u64(t.is_adjusted_to_u_t_c as u64);
            c.u64(unit_code(&t.unit));
        }
        LogicalType::Integer(i) => {
            c.u64(10);
            c.i64(i.bit_width as i64);
            c.u64(i.is_signed as u64);
        }
        LogicalType::Unknown => c.u64(11),
        LogicalType::Json => c.u64(12),
        LogicalType::Bson => c.u64(13),
        LogicalType::Uuid => c.u64(14),
        LogicalType::Float16 => c.u64(15),
        // Types ktape never writes: a file that claims one is damaged or
        // foreign, and any stable value will do.
        _ => c.u64(255),
    }
}

fn schema(c: &mut Canon, schema: &SchemaDescriptor) {
    c.u64(schema.num_columns() as u64);
    for col in schema.columns() {
        c.bytes(col.path().string().as_bytes());
        c.u64(physical_code(col.physical_type()));
        c.bytes(col.converted_type().to_string().as_bytes());
        logical(c, col.logical_type_ref());
        c.i64(col.max_def_level() as i64);
        c.i64(col.max_rep_level() as i64);
        c.i64(col.type_length() as i64);
    }
}

fn column(c: &mut Canon, col: &ColumnChunkMetaData) {
    c.bytes(col.column_path().string().as_bytes());
    c.u64(physical_code(col.column_type()));
    c.u64(codec_code(col.compression()));
    c.i64(col.data_page_offset());
    c.opt_i64(col.dictionary_page_offset());
    c.i64(col.compressed_size());
    c.i64(col.uncompressed_size());
    c.i64(col.num_values());
    match col.statistics() {
        Some(s) => {
            c.0.push(1);
            c.opt_bytes(s.min_bytes_opt());
            c.opt_bytes(s.max_bytes_opt());
            c.opt_i64(s.null_count_opt().map(|n| n as i64));
        }
        None => c.0.push(0),
    }
}

/// The footer digest of a file with this schema, row groups and
/// key-value pairs.
///
/// `kv` must hold every pair of the footer except
/// [`meta::FOOTER_XXH3`](crate::meta::FOOTER_XXH3) itself; their order does
/// not matter (they are sorted here). Offsets of page indexes and bloom
/// filters are left out: the writer places them only after the last row
/// group, and no ktape reader uses them.
pub fn footer_digest(
    schema_descr: &SchemaDescriptor,
    row_groups: &[RowGroupMetaData],
    kv: &[(String, String)],
) -> u64 {
    let mut c = Canon::default();
    schema(&mut c, schema_descr);
    let mut pairs: Vec<&(String, String)> = kv
        .iter()
        .filter(|(k, _)| k != crate::meta::FOOTER_XXH3)
        .collect();
    pairs.sort();
    c.u64(pairs.len() as u64);
    for (k, v) in pairs {
        c.bytes(k.as_bytes());
        c.bytes(v.as_bytes());
    }
    c.u64(row_groups.len() as u64);
    for rg in row_groups {
        c.i64(rg.num_rows());
        c.i64(rg.total_byte_size());
        c.u64(rg.columns().len() as u64);
        for col in rg.columns() {
            column(&mut c, col);
        }
    }
    XxHash3_64::oneshot(&c.0)
}

/// The footer digest as stored: 16 hex digits.
pub fn format_digest(d: u64) -> String {
    format!("{d:016x}")
}

/// Parses a stored footer digest.
pub fn parse_digest(s: &str) -> Option<u64> {
    (s.len() == 16).then(|| u64::from_str_radix(s, 16).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_digests_round_trip() {
        let d = ChunkDigests(vec![vec![1, u64::MAX], vec![0xabc, 2]]);
        let s = d.encode();
        assert_eq!(
            s,
            "xxh3-64:0000000000000001,ffffffffffffffff;0000000000000abc,0000000000000002"
        );
        assert_eq!(ChunkDigests::decode(&s), Some(d));
        assert_eq!(ChunkDigests::decode("xxh3-64:"), Some(ChunkDigests(vec![])));
        for bad in ["", "crc:01", "xxh3-64:12", "xxh3-64:000000000000000g"] {
            assert_eq!(ChunkDigests::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn digests_are_the_fixed_algorithm() {
        // xxh3-64 of the empty input and of "ktape" (reference values):
        // a change of algorithm must be a change of prefix.
        assert_eq!(chunk_digest(b""), 0x2d06800538d394c2);
        assert_eq!(parse_digest(&format_digest(42)), Some(42));
        assert_eq!(parse_digest("xyz"), None);
    }
}
