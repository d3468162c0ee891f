//! Column buffers, assembled into Arrow arrays once per batch: the one
//! column-building style of every decoder. Each is a plain `Vec` (plus a
//! null bitmap only once a null arrives) behind the method names of
//! Arrow's builders (`append_value`, `append_null`, `finish`), so a row
//! costs a push per column and never an allocation, and `finish` hands the
//! vector to Arrow without a copy. Strings that repeat are dictionaries:
//! comms keyed by the raw 16 kernel bytes with a cheap hash ([`CommDict`]),
//! so a row costs a hash lookup, never a string; other repeated strings
//! (disks, ops, addresses, paths) by their text ([`DictCol`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, NullBufferBuilder, StringBuilder};
use arrow_array::types::{ArrowPrimitiveType, Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{ArrayRef, BooleanArray, DictionaryArray, Int32Array, PrimitiveArray};
use arrow_schema::{DataType, Field};
use ktape_format::schema::UTC;

/// Declares the columns of one table, in its column order: the struct (a
/// field per column), `with_capacity(cap)` (every column sized for `cap`
/// rows; 0 for families whose batches stay small), `rows()`, and
/// `take_batch()`, the rows so far as a batch of the table, leaving empty
/// columns of the same capacity so that appends never reallocate. The
/// table's schema checks the column types when the batch is made.
macro_rules! table_columns {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident for $table:expr;
        $first:ident: $first_ty:ty,
        $($field:ident: $ty:ty,)*
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $vis $first: $first_ty,
            $($vis $field: $ty,)*
            cap: usize,
        }

        #[allow(dead_code)]
        impl $name {
            /// Empty columns for about `cap` rows.
            $vis fn with_capacity(cap: usize) -> Self {
                $name {
                    $first: <$first_ty>::with_capacity(cap),
                    $($field: <$ty>::with_capacity(cap),)*
                    cap,
                }
            }

            /// Rows so far.
            $vis fn rows(&self) -> usize {
                self.$first.len()
            }

            /// The rows so far as a batch of the table; empties the columns.
            $vis fn take_batch(&mut self) -> arrow_array::RecordBatch {
                let cols: Vec<arrow_array::ArrayRef> =
                    vec![self.$first.finish(), $(self.$field.finish(),)*];
                *self = Self::with_capacity(self.cap);
                arrow_array::RecordBatch::try_new($table.schema(), cols)
                    .expect(concat!(stringify!($name), " match their table"))
            }
        }
    };
}
pub(crate) use table_columns;

/// A column of primitive values that are never null: a bare `Vec`, so a
/// push on the hottest paths (sched: a dozen per event) costs no null
/// bookkeeping.
pub struct Col<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
}

/// An Int32 column.
pub type I32Col = Col<Int32Type>;
/// An Int64 column.
pub type I64Col = Col<Int64Type>;

impl<T: ArrowPrimitiveType> Col<T> {
    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        Col {
            values: Vec::with_capacity(cap),
        }
    }

    /// An empty column.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Appends a value.
    #[inline]
    pub fn append_value(&mut self, v: T::Native) {
        self.values.push(v);
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    fn take(&mut self) -> PrimitiveArray<T> {
        PrimitiveArray::<T>::new(std::mem::take(&mut self.values).into(), None)
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.take())
    }
}

impl<T: ArrowPrimitiveType> Default for Col<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A column of primitive values that may be null (a bitmap is kept only
/// once a null arrives).
pub struct OptCol<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
}

/// A nullable Int32 column.
pub type OptI32Col = OptCol<Int32Type>;
/// A nullable Int64 column.
pub type OptI64Col = OptCol<Int64Type>;

impl<T: ArrowPrimitiveType> OptCol<T> {
    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        OptCol {
            values: Vec::with_capacity(cap),
            nulls: NullBufferBuilder::new(cap),
        }
    }

    /// An empty column.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Appends a value.
    #[inline]
    pub fn append_value(&mut self, v: T::Native) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    /// Appends a null.
    #[inline]
    pub fn append_null(&mut self) {
        self.values.push(T::Native::default());
        self.nulls.append_null();
    }

    fn take(&mut self) -> PrimitiveArray<T> {
        let values = std::mem::take(&mut self.values);
        PrimitiveArray::<T>::new(values.into(), self.nulls.finish())
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.take())
    }
}

impl<T: ArrowPrimitiveType> Default for OptCol<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A `ts` column: wall-clock ns, UTC.
#[derive(Default)]
pub struct TsCol(Col<TimestampNanosecondType>);

impl TsCol {
    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        TsCol(Col::with_capacity(cap))
    }

    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a time, ns since the epoch.
    #[inline]
    pub fn append_value(&mut self, ns: i64) {
        self.0.append_value(ns);
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.take().with_timezone(UTC))
    }
}

/// A Boolean column.
#[derive(Default)]
pub struct BoolCol(Vec<bool>);

impl BoolCol {
    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        BoolCol(Vec::with_capacity(cap))
    }

    /// Appends a value.
    #[inline]
    pub fn append_value(&mut self, v: bool) {
        self.0.push(v);
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(BooleanArray::from(std::mem::take(&mut self.0)))
    }
}

/// A column of strings that rarely repeat (file names): Arrow's string
/// builder, which appends into one byte buffer.
pub struct TextCol(StringBuilder);

impl TextCol {
    /// An empty column.
    pub fn new() -> Self {
        TextCol(StringBuilder::new())
    }

    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        TextCol(StringBuilder::with_capacity(cap, 0))
    }

    /// Appends a string.
    #[inline]
    pub fn append_value(&mut self, v: impl AsRef<str>) {
        self.0.append_value(v);
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

impl Default for TextCol {
    fn default() -> Self {
        Self::new()
    }
}

/// A column of lists of strings (exec's arguments); items are never null.
pub struct TextListCol(ListBuilder<StringBuilder>);

impl TextListCol {
    /// An empty column.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        TextListCol(
            ListBuilder::with_capacity(StringBuilder::new(), cap)
                .with_field(Arc::new(Field::new_list_field(DataType::Utf8, false))),
        )
    }

    /// Appends an item to the row being built.
    #[inline]
    pub fn append_item(&mut self, item: impl AsRef<str>) {
        self.0.values().append_value(item);
    }

    /// Ends the row: the items appended since the last row are its list.
    #[inline]
    pub fn end_row(&mut self) {
        self.0.append(true);
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

impl Default for TextListCol {
    fn default() -> Self {
        Self::new()
    }
}

/// A column of lists of integers (a syscall row's histogram); items are
/// never null.
pub struct I64ListCol(ListBuilder<Int64Builder>);

impl I64ListCol {
    /// An empty column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        I64ListCol(
            ListBuilder::with_capacity(Int64Builder::new(), cap)
                .with_field(Arc::new(Field::new_list_field(DataType::Int64, false))),
        )
    }

    /// Appends one row's list.
    #[inline]
    pub fn append_row(&mut self, items: impl IntoIterator<Item = i64>) {
        for v in items {
            self.0.values().append_value(v);
        }
        self.0.append(true);
    }

    /// The rows so far as an array; empties the column.
    pub fn finish(&mut self) -> ArrayRef {
        Arc::new(self.0.finish())
    }
}

/// A dictionary of strings for one batch, keyed by their text.
pub struct DictCol {
    index: HashMap<Box<str>, i32>,
    values: StringBuilder,
    keys: Col<Int32Type>,
}

impl DictCol {
    /// An empty dictionary column.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty dictionary column for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        DictCol {
            index: HashMap::new(),
            values: StringBuilder::new(),
            keys: Col::with_capacity(cap),
        }
    }

    /// Appends one row's string.
    #[inline]
    pub fn append_value(&mut self, v: impl AsRef<str>) {
        let v = v.as_ref();
        let k = match self.index.get(v) {
            Some(&k) => k,
            None => {
                let k = self.index.len() as i32;
                self.values.append_value(v);
                self.index.insert(v.into(), k);
                k
            }
        };
        self.keys.append_value(k);
    }

    /// The rows so far as a dictionary array; empties the dictionary.
    pub fn finish(&mut self) -> ArrayRef {
        self.index.clear();
        dictionary(self.keys.take(), &mut self.values)
    }
}

impl Default for DictCol {
    fn default() -> Self {
        Self::new()
    }
}

fn dictionary(keys: Int32Array, values: &mut StringBuilder) -> ArrayRef {
    Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values.finish()))
            .expect("keys index the values"),
    )
}

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

/// A dictionary of comms for one batch: raw kernel bytes → key.
pub struct CommDict {
    index: HashMap<[u8; 16], i32, BuildHasherDefault<CommHasher>>,
    values: StringBuilder,
    /// Nullable for tcp's unknown owners; its bitmap is made only at the
    /// first null, so sched's comms pay a length count for it.
    keys: OptCol<Int32Type>,
}

impl CommDict {
    /// An empty dictionary for about `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        CommDict {
            index: HashMap::default(),
            values: StringBuilder::new(),
            keys: OptCol::with_capacity(cap),
        }
    }

    /// An empty dictionary.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Appends one row's comm (NUL-padded kernel bytes).
    #[inline]
    pub fn append_value(&mut self, comm: &[u8; 16]) {
        let n = self.index.len() as i32;
        let values = &mut self.values;
        let k = *self.index.entry(*comm).or_insert_with(|| {
            let len = comm.iter().position(|&b| b == 0).unwrap_or(16);
            values.append_value(String::from_utf8_lossy(&comm[..len]));
            n
        });
        self.keys.append_value(k);
    }

    /// Appends a null.
    #[inline]
    pub fn append_null(&mut self) {
        self.keys.append_null();
    }

    /// The rows so far as a dictionary array; empties the dictionary.
    pub fn finish(&mut self) -> ArrayRef {
        self.index.clear();
        dictionary(self.keys.take(), &mut self.values)
    }
}

impl Default for CommDict {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    #[test]
    fn nulls_appear_only_where_appended() {
        let mut c = OptI64Col::new();
        c.append_value(1);
        c.append_null();
        c.append_value(3);
        let a = c.finish();
        let a = a.as_primitive::<Int64Type>();
        assert_eq!((a.len(), a.null_count()), (3, 1));
        assert!(a.is_null(1) && a.value(2) == 3);
        // A column without nulls has no bitmap, and finishing empties it.
        c.append_value(4);
        let b = c.finish();
        assert_eq!((b.len(), b.null_count()), (1, 0));
        assert!(b.nulls().is_none());
    }

    #[test]
    fn dictionaries_share_keys_and_restart_per_batch() {
        let mut d = DictCol::new();
        for s in ["sda", "nvme0n1", "sda"] {
            d.append_value(s);
        }
        let a = d.finish();
        let a = a.as_dictionary::<Int32Type>();
        assert_eq!(a.keys().values().to_vec(), vec![0, 1, 0]);
        assert_eq!(a.values().len(), 2);
        d.append_value("nvme0n1");
        let b = d.finish();
        assert_eq!(b.as_dictionary::<Int32Type>().keys().value(0), 0);

        let mut c = CommDict::new();
        c.append_value(b"bash\0\0\0\0\0\0\0\0\0\0\0\0");
        c.append_value(b"0123456789abcdef");
        let a = c.finish();
        let a = a.as_dictionary::<Int32Type>();
        let names = a.values().as_string::<i32>();
        assert_eq!(
            (names.value(0), names.value(1)),
            ("bash", "0123456789abcdef")
        );
    }
}
