//! Column vectors, assembled into Arrow arrays once per batch: the one
//! column-building style of the families on the hot path (sched, profile,
//! offcpu, runqlen). A row costs a push per column, never an allocation;
//! comms go through a small dictionary keyed by the raw 16 kernel bytes
//! with a cheap hash, so a row costs a hash lookup, never a string.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, TimestampNanosecondArray};
use ktape_format::schema::UTC;

/// A multiply-xor hash of the 16 comm bytes: comms are short, trusted
/// (they come from our own kernel program) and hashed twice per switch, so
/// SipHash's cost buys nothing here.
#[derive(Default)]
struct CommHasher(u64);

impl Hasher for CommHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_ne_bytes(w))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn write_usize(&mut self, _: usize) {}
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Dictionary of comms for one batch: raw kernel bytes → key.
pub struct CommDict {
    index: HashMap<[u8; 16], i32, BuildHasherDefault<CommHasher>>,
    values: StringBuilder,
    keys: Vec<i32>,
}

impl CommDict {
    /// An empty dictionary for about `cap` rows.
    pub fn new(cap: usize) -> Self {
        CommDict {
            index: HashMap::default(),
            values: StringBuilder::new(),
            keys: Vec::with_capacity(cap),
        }
    }

    /// Appends one row's comm.
    #[inline]
    pub fn push(&mut self, comm: &[u8; 16]) {
        let n = self.index.len() as i32;
        let values = &mut self.values;
        let k = *self.index.entry(*comm).or_insert_with(|| {
            let len = comm.iter().position(|&b| b == 0).unwrap_or(16);
            values.append_value(String::from_utf8_lossy(&comm[..len]));
            n
        });
        self.keys.push(k);
    }

    /// The rows so far as a dictionary array; empties the dictionary.
    pub fn finish(&mut self) -> ArrayRef {
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let values = self.values.finish();
        self.index.clear();
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
                .expect("keys index the values"),
        )
    }
}

/// A `ts` column: wall-clock ns, UTC.
pub fn ts_array(v: &mut Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(std::mem::take(v)).with_timezone(UTC))
}

/// An Int32 column.
pub fn i32_array(v: &mut Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(std::mem::take(v)))
}
