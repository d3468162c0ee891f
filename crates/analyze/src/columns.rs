//! Typed access to the columns of a batch, by name.
//!
//! Batches hold the projected columns in file order, so reports look
//! columns up by name. A wrong type is an error naming the file, never a
//! panic: a recording may come from a newer recorder or another tool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{Error, Result};

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        Error::Format(ktape_format::Error::MissingColumn {
            path: path.to_path_buf(),
            table: String::new(),
            column: name.to_string(),
        })
    })
}

fn wrong(path: &Path, name: &str, a: &ArrayRef, expected: &'static str) -> Error {
    Error::ColumnType {
        path: path.to_path_buf(),
        column: name.to_string(),
        found: a.data_type().to_string(),
        expected,
    }
}

/// A timestamp column as ns since the epoch. Plain `int64` is accepted too
/// (what Spark writes with `nanosAsLong`).
pub fn timestamps<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a [i64]> {
    let a = column(batch, name, path)?;
    if let Some(t) = a.as_primitive_opt::<TimestampNanosecondType>() {
        Ok(t.values())
    } else if let Some(t) = a.as_primitive_opt::<Int64Type>() {
        Ok(t.values())
    } else {
        Err(wrong(path, name, a, "timestamp[ns]"))
    }
}

/// A non-nullable `int64` column's values.
pub fn i64s<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a [i64]> {
    Ok(i64_array(batch, name, path)?.values())
}

/// An `int64` column with its null mask (for nullable columns).
pub fn i64_array<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a Int64Array> {
    let a = column(batch, name, path)?;
    a.as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong(path, name, a, "int64"))
}

/// An `int32` column with its null mask (for nullable columns).
pub fn i32_array<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a Int32Array> {
    let a = column(batch, name, path)?;
    a.as_primitive_opt::<Int32Type>()
        .ok_or_else(|| wrong(path, name, a, "int32"))
}

/// A non-nullable `int32` column's values.
pub fn i32s<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a [i32]> {
    let a = column(batch, name, path)?;
    a.as_primitive_opt::<Int32Type>()
        .map(|a| &a.values()[..])
        .ok_or_else(|| wrong(path, name, a, "int32"))
}

/// A `list<string>` column (an exec's arguments), as the list array.
pub fn string_lists<'a>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a arrow_array::ListArray> {
    let a = column(batch, name, path)?;
    match a.as_list_opt::<i32>() {
        Some(l) if matches!(l.value_type(), DataType::Utf8) => Ok(l),
        _ => Err(wrong(path, name, a, "list<string>")),
    }
}

/// The strings of one row of a [`string_lists`] column.
pub fn list_row(list: &arrow_array::ListArray, row: usize) -> Vec<String> {
    if list.is_null(row) {
        return Vec::new();
    }
    let v = list.value(row);
    let s = v.as_string::<i32>();
    (0..s.len())
        .map(|i| {
            if s.is_null(i) {
                String::new()
            } else {
                s.value(i).to_string()
            }
        })
        .collect()
}

/// A non-nullable `bool` column.
pub fn bools<'a>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a arrow_array::BooleanArray> {
    let a = column(batch, name, path)?;
    a.as_boolean_opt()
        .ok_or_else(|| wrong(path, name, a, "bool"))
}

/// A string column as small codes into a table of distinct values, built
/// once per batch. Dictionary-encoded columns (what ktape writes) map their
/// keys directly; plain strings are interned. Reports then group and
/// filter by code and touch each distinct string once per batch, not once
/// per row. Nulls read as the empty string.
#[derive(Debug)]
pub struct Strings {
    /// Code of each row.
    pub codes: Vec<u32>,
    /// Distinct values, indexed by code.
    pub values: Vec<Arc<str>>,
}

impl Strings {
    /// Decodes a string column of a batch.
    pub fn from_batch(batch: &RecordBatch, name: &str, path: &Path) -> Result<Strings> {
        let a = column(batch, name, path)?;
        if let DataType::Dictionary(_, _) = a.data_type() {
            let d = a
                .as_dictionary_opt::<Int32Type>()
                .ok_or_else(|| wrong(path, name, a, "dictionary<int32, string>"))?;
            let vals = d.values();
            let strings: Vec<Arc<str>> = if let Some(s) = vals.as_string_opt::<i32>() {
                (0..s.len())
                    .map(|i| Arc::from(if s.is_null(i) { "" } else { s.value(i) }))
                    .collect()
            } else if let Some(s) = vals.as_string_opt::<i64>() {
                (0..s.len())
                    .map(|i| Arc::from(if s.is_null(i) { "" } else { s.value(i) }))
                    .collect()
            } else {
                return Err(wrong(path, name, a, "dictionary<int32, string>"));
            };
            // A null row gets an extra code for "".
            let null_code = strings.len() as u32;
            let keys = d.keys();
            // Keys index the dictionary everywhere downstream: one beyond
            // it (a damaged page) is an error here, not a panic later.
            let codes: Vec<u32> = (0..keys.len())
                .map(|i| {
                    let k = keys.value(i);
                    if keys.is_null(i) {
                        Ok(null_code)
                    } else if k >= 0 && (k as u32) < null_code {
                        Ok(k as u32)
                    } else {
                        Err(Error::Corrupt {
                            path: path.to_path_buf(),
                            detail: format!(
                                "column `{name}`: dictionary key {k} of a dictionary of {null_code} values"
                            ),
                        })
                    }
                })
                .collect::<Result<_>>()?;
            let mut values = strings;
            values.push(Arc::from(""));
            return Ok(Strings { codes, values });
        }
        let (codes, values) = if let Some(s) = a.as_string_opt::<i32>() {
            intern(s.iter())
        } else if let Some(s) = a.as_string_opt::<i64>() {
            intern(s.iter())
        } else if let Some(s) = a.as_string_view_opt() {
            intern(s.iter())
        } else {
            return Err(wrong(path, name, a, "string"));
        };
        Ok(Strings { codes, values })
    }

    /// The value of a row.
    #[inline]
    pub fn get(&self, row: usize) -> &Arc<str> {
        &self.values[self.codes[row] as usize]
    }

    /// Evaluates a predicate once per distinct value: `result[code]`.
    pub fn matching(&self, pred: impl Fn(&str) -> bool) -> Vec<bool> {
        self.values.iter().map(|v| pred(v)).collect()
    }
}

/// Codes for plain (not dictionary-encoded) strings.
fn intern<'a>(rows: impl Iterator<Item = Option<&'a str>>) -> (Vec<u32>, Vec<Arc<str>>) {
    let mut index: HashMap<&'a str, u32> = HashMap::new();
    let mut values: Vec<Arc<str>> = Vec::new();
    let codes = rows
        .map(|s| {
            let s = s.unwrap_or("");
            *index.entry(s).or_insert_with(|| {
                values.push(Arc::from(s));
                (values.len() - 1) as u32
            })
        })
        .collect();
    (codes, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, StringArray};
    use arrow_schema::{Field, Schema};

    #[test]
    fn dictionary_and_plain_strings() {
        let dict: DictionaryArray<Int32Type> = vec![Some("a"), None, Some("b"), Some("a")]
            .into_iter()
            .collect();
        let plain = StringArray::from(vec![Some("x"), Some("y"), None, Some("x")]);
        let schema = Schema::new(vec![
            Field::new("d", dict.data_type().clone(), true),
            Field::new("p", DataType::Utf8, true),
        ]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(dict), Arc::new(plain)]).unwrap();
        let p = Path::new("f.parquet");
        let d = Strings::from_batch(&batch, "d", p).unwrap();
        let got: Vec<&str> = (0..4).map(|i| &**d.get(i)).collect();
        assert_eq!(got, ["a", "", "b", "a"]);
        let s = Strings::from_batch(&batch, "p", p).unwrap();
        let got: Vec<&str> = (0..4).map(|i| &**s.get(i)).collect();
        assert_eq!(got, ["x", "y", "", "x"]);
        assert_eq!(s.values.len(), 3);
        let m = s.matching(|v| v == "x");
        assert!(m[s.codes[0] as usize] && !m[s.codes[1] as usize]);
        let err = i64s(&batch, "d", p).unwrap_err().to_string();
        assert!(err.contains("f.parquet") && err.contains("`d`"), "{err}");
    }

    #[test]
    fn a_dictionary_key_beyond_its_dictionary_is_an_error() {
        use arrow_array::{Int32Array, StringArray};
        for bad in [2, -1, i32::MAX, i32::MIN] {
            // What a damaged page could decode to; arrow's checked
            // constructor refuses it, so build it unchecked.
            let keys = Int32Array::from(vec![0, bad, 1]);
            let values = Arc::new(StringArray::from(vec!["a", "b"]));
            let dict = unsafe { DictionaryArray::<Int32Type>::new_unchecked(keys, values) };
            let schema = Schema::new(vec![Field::new("d", dict.data_type().clone(), false)]);
            let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(dict)]).unwrap();
            let err = Strings::from_batch(&batch, "d", Path::new("f.parquet"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("f.parquet") && err.contains(&format!("key {bad}")),
                "{err}"
            );
        }
    }
}
