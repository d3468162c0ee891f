//! Planning and running the reads of a report: one unit per row group.
//!
//! A unit is the grain of parallel work in the analyzer; units whose
//! footer statistics put them outside the requested time range are never
//! read.

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;

use crate::error::{Error, Result};
use crate::read::{Recording, Segment, TimeRange};

/// One piece of parallel work: a row group of a segment.
#[derive(Debug, Clone, Copy)]
pub struct ScanUnit<'a> {
    /// Index of the recording in the slice given to [`scan_units`].
    pub recording: usize,
    /// The segment.
    pub segment: &'a Segment,
    /// Row group within the segment.
    pub row_group: usize,
}

impl ScanUnit<'_> {
    /// Reads the named columns of this unit.
    pub fn read(&self, columns: &[&str], batch_rows: usize) -> Result<ParquetRecordBatchReader> {
        self.segment
            .read_row_group(self.row_group, columns, batch_rows)
    }
}

/// Every row group of `table` across `recordings` that can hold rows whose
/// `ts` falls in `range` (row groups are skipped using footer statistics).
pub fn scan_units<'a>(
    recordings: &'a [Recording],
    table: &str,
    range: TimeRange,
) -> Vec<ScanUnit<'a>> {
    let mut units = Vec::new();
    for (ri, rec) in recordings.iter().enumerate() {
        for seg in rec.segments(table) {
            for rg in 0..seg.row_groups() {
                if seg.row_group_rows(rg) == 0 {
                    continue;
                }
                if let Some((lo, hi)) = seg.row_group_range(rg, "ts") {
                    if !range.overlaps(lo, hi) {
                        continue;
                    }
                }
                units.push(ScanUnit {
                    recording: ri,
                    segment: seg,
                    row_group: rg,
                });
            }
        }
    }
    units
}

/// Convenience: reads every batch of a unit into memory (tests, small
/// tables such as `process` and `loss`).
pub fn read_all(unit: &ScanUnit<'_>, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    unit.read(columns, 65536)?
        .map(|b| {
            b.map_err(|source| Error::Arrow {
                path: unit.segment.path.clone(),
                source,
            })
        })
        .collect()
}
