//! How tables and columns are described.
//!
//! A [`TableSpec`] is plain static data: the recorder builds its Arrow
//! builders from it, the analyzer checks files against it, and a test
//! renders it as the column tables in `formats/*.md`.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// Time zone of every timestamp column.
pub const UTC: &str = "UTC";

/// The logical type of a column, as it appears in Parquet and Arrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Parquet `TIMESTAMP(NANOS, UTC)`, Arrow `Timestamp(ns, "UTC")`.
    Timestamp,
    /// Parquet `INT32`.
    Int32,
    /// Parquet `INT64`.
    Int64,
    /// Parquet `BOOLEAN`.
    Bool,
    /// UTF-8 string that repeats (comm, disk, op): dictionary-encoded,
    /// Arrow `Dictionary(Int32, Utf8)`.
    DictString,
    /// UTF-8 string that rarely repeats (command lines, paths).
    Text,
    /// A list of UTF-8 strings (an exec's arguments), Arrow
    /// `List(Utf8)` with non-null items.
    TextList,
    /// A list of integers (a stack's addresses), Arrow `List(Int64)` with
    /// non-null items.
    Int64List,
}

impl ColumnType {
    /// The Arrow type the recorder writes and readers get back.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())),
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::DictString => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            ColumnType::Text => DataType::Utf8,
            ColumnType::TextList => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, false)))
            }
            ColumnType::Int64List => {
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false)))
            }
        }
    }

    /// The name used in `formats/*.md`.
    pub fn doc_name(self) -> &'static str {
        match self {
            ColumnType::Timestamp => "timestamp[ns, UTC]",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Bool => "bool",
            ColumnType::DictString => "string (dictionary)",
            ColumnType::Text => "string",
            ColumnType::TextList => "list<string>",
            ColumnType::Int64List => "list<int64>",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Column name; follows the kernel's tracepoint field names.
    pub name: &'static str,
    /// Logical type.
    pub ty: ColumnType,
    /// Unit of the values: `ns`, `bytes`, `sectors`, `count`, or `-` for
    /// identifiers and names.
    pub unit: &'static str,
    /// Whether the column can hold nulls, and what a null means is said in
    /// `doc`.
    pub nullable: bool,
    /// One sentence saying what the value is.
    pub doc: &'static str,
}

impl ColumnSpec {
    /// The Arrow field for this column.
    pub fn field(&self) -> Field {
        Field::new(self.name, self.ty.arrow(), self.nullable)
    }
}

/// One table: a folder of segment files with one schema.
#[derive(Debug)]
pub struct TableSpec {
    /// Folder name inside a recording.
    pub name: &'static str,
    /// The `-e` event family that writes this table (`bio`, …), or
    /// `recorder` for tables every recording has.
    pub family: &'static str,
    /// What one row is.
    pub row: &'static str,
    /// Columns in file order.
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    /// The Arrow schema of the table (without file metadata).
    pub fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(ColumnSpec::field)
                .collect::<Vec<_>>(),
        ))
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Index of a column in the schema.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column table that `formats/<table>.md` must contain, as
    /// Markdown. The doc-sync test compares this with the file.
    pub fn markdown_columns(&self) -> String {
        let mut out = String::from("| column | type | unit | null | description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for c in self.columns {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.name,
                c.ty.doc_name(),
                c.unit,
                if c.nullable { "yes" } else { "no" },
                c.doc
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_ts_first_and_unique_columns() {
        for t in crate::tables() {
            assert_eq!(
                t.columns[0].name, "ts",
                "{}: ts must be the first column",
                t.name
            );
            assert_eq!(t.columns[0].ty, ColumnType::Timestamp);
            let mut names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), t.columns.len(), "{}: duplicate column", t.name);
        }
    }

    #[test]
    fn durations_are_nanoseconds() {
        for t in crate::tables() {
            for c in t.columns {
                if c.name.ends_with("_ns") {
                    assert_eq!(c.unit, "ns", "{}.{}", t.name, c.name);
                    assert_eq!(c.ty, ColumnType::Int64, "{}.{}", t.name, c.name);
                }
            }
        }
    }
}
