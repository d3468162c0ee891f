//! Ring mode (`--keep N`): deleting the oldest complete segment without
//! breaking what the kept ones refer to.
//!
//! The oldest complete segment is deleted once N are complete. Rows of the
//! kept segments may refer to `stacks` rows and `process` rows that were
//! written into a deleted segment, and rows written later may refer to
//! them again. So before deleting a segment the writer reads its `stacks`
//! and `process` rows and copies into the open segment those that the kept
//! segments refer to (it collects, per segment, the stack ids and
//! thread/process ids of the rows it writes) and the process rows of
//! threads still alive. The other stack ids are forgotten by the stack
//! service (a later sample of such a stack gets a new id and row), and
//! the other rows are held in memory for a while (at least 10 s and two
//! rotations), so that a row already on its way that refers to one brings
//! it back. The kept segments alone thus always resolve every reference,
//! and memory stays bounded.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, RecordBatch};
use ktape_format::write::SegmentWriter;
use ktape_format::TableSpec;

use super::{State, WriteError};

/// Columns whose values are thread or process ids: the `process` rows the
/// kept segments need.
const PID_COLUMNS: &[&str] = &[
    "pid", "tgid", "prev_pid", "next_pid", "sk_pid", "sk_tgid", "ppid",
];
/// Columns whose values are `stacks.id`.
const STACK_COLUMNS: &[&str] = &["kstack_id", "ustack_id"];

/// What the rows of one segment refer to.
#[derive(Debug, Default)]
pub(super) struct Refs {
    pids: HashSet<i32>,
    stacks: HashSet<i32>,
}

impl Refs {
    /// Adds what `batch` of `table` refers to; returns the ids it added.
    pub(super) fn collect(&mut self, table: &str, batch: &RecordBatch) -> (Vec<i32>, Vec<i32>) {
        let is_process = table == ktape_format::process::TABLE.name;
        let mut added = (Vec::new(), Vec::new());
        for (i, field) in batch.schema().fields().iter().enumerate() {
            let name = field.name().as_str();
            // Stack ids start at 0 (-1 and -2 mean none and lost); pid 0
            // is the idle task, which has no process row.
            let (set, new, least) = if STACK_COLUMNS.contains(&name) {
                (&mut self.stacks, &mut added.1, 0)
            } else if !is_process && PID_COLUMNS.contains(&name) {
                (&mut self.pids, &mut added.0, 1)
            } else {
                continue;
            };
            let Some(col) = batch.column(i).as_primitive_opt::<Int32Type>() else {
                continue;
            };
            let mut last = None;
            for v in col.iter().flatten() {
                // Consecutive rows often share an id: skip the set lookup.
                if v >= least && Some(v) != last {
                    if set.insert(v) {
                        new.push(v);
                    }
                    last = Some(v);
                }
            }
        }
        added
    }
}

/// Rows of `stacks` or `process` whose segment was deleted and that no
/// kept row referred to then, by id (`stacks.id`, `process.pid`), with
/// when they left.
#[derive(Default)]
pub(super) struct Limbo {
    rows: BTreeMap<i32, (Instant, Vec<RecordBatch>)>,
}

impl Limbo {
    pub(super) fn hold(&mut self, id: i32, row: RecordBatch) {
        self.rows
            .entry(id)
            .or_insert_with(|| (Instant::now(), Vec::new()))
            .1
            .push(row);
    }

    /// Takes the rows of these ids, if held.
    pub(super) fn revive(&mut self, ids: &[i32]) -> Vec<RecordBatch> {
        ids.iter()
            .filter_map(|id| self.rows.remove(id))
            .flat_map(|(_, rows)| rows)
            .collect()
    }

    /// Drops what has been held longer than `age`.
    pub(super) fn expire(&mut self, age: Duration) {
        self.rows.retain(|_, (since, _)| since.elapsed() < age);
    }
}

/// The id of each row of a `stacks` (`id`) or `process` (`pid`) batch,
/// with the row itself.
fn rows_by_id(batch: &RecordBatch, id_column: &str) -> Vec<(i32, RecordBatch)> {
    let Some(ids) = batch
        .column_by_name(id_column)
        .and_then(|a| a.as_primitive_opt::<Int32Type>())
    else {
        return Vec::new();
    };
    (0..batch.num_rows())
        .filter(|&i| ids.is_valid(i))
        .map(|i| (ids.value(i), batch.slice(i, 1)))
        .collect()
}

/// Whether a thread is still alive here (its process row may be needed by
/// rows not written yet).
fn alive(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl State {
    /// Deletes the oldest complete segment, after copying into the open
    /// segment the `stacks` and `process` rows that newer rows refer to
    /// (and those of threads still alive), and holding the others in limbo.
    pub(super) fn delete_oldest(&mut self) -> Result<(), WriteError> {
        if self.complete.is_empty() {
            return Ok(());
        }
        let old = self.complete.remove(0);
        self.refs.remove(&old);
        let mut pids: HashSet<i32> = HashSet::new();
        let mut stacks: HashSet<i32> = HashSet::new();
        for r in self.refs.values() {
            pids.extend(&r.pids);
            stacks.extend(&r.stacks);
        }
        // Held at least two rotations and 10 s: longer than a row takes
        // from a decoder to here.
        let hold = self
            .setup
            .rotation
            .every
            .map(|d| d * 2)
            .unwrap_or_default()
            .max(Duration::from_secs(10));
        self.stack_limbo.expire(hold);
        self.process_limbo.expire(hold);
        let mut forgotten = HashSet::new();
        for (table, id_column) in [
            (&ktape_format::stacks::TABLE, "id"),
            (&ktape_format::process::TABLE, "pid"),
        ] {
            if self.spec(table.name).is_none() || !self.files[table.name].contains(&old) {
                continue;
            }
            let path = ktape_format::layout::segment_path(&self.setup.root, table.name, old);
            let mut carry = Vec::new();
            for b in read_rows(&path, table)? {
                for (id, row) in rows_by_id(&b, id_column) {
                    let is_stack = id_column == "id";
                    let keep = if is_stack {
                        stacks.contains(&id)
                    } else {
                        let tgid = row
                            .column_by_name("tgid")
                            .and_then(|a| a.as_primitive_opt::<Int32Type>())
                            .map(|a| a.value(0))
                            .unwrap_or(0);
                        pids.contains(&id) || pids.contains(&tgid) || alive(id)
                    };
                    if keep {
                        carry.push(row);
                    } else if is_stack {
                        forgotten.insert(id);
                        self.stack_limbo.hold(id, row);
                    } else {
                        self.process_limbo.hold(id, row);
                    }
                }
            }
            if !carry.is_empty() {
                let b = arrow_select::concat::concat_batches(&table.schema(), &carry).map_err(
                    |source| ktape_format::Error::Arrow {
                        path: path.clone(),
                        source,
                    },
                )?;
                self.refs.entry(self.n).or_default().collect(table.name, &b);
                self.writer(table)?.write(&b)?;
            }
        }
        if let Some(s) = crate::stacks::existing() {
            s.forget(&forgotten);
        }
        for t in self.setup.tables.clone() {
            if !self.files.get_mut(t.name).is_some_and(|f| f.remove(&old)) {
                continue;
            }
            let path = ktape_format::layout::segment_path(&self.setup.root, t.name, old);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(WriteError::Delete(path, e)),
            }
            self.done.retain(|s| s.path != path);
            // A table must never vanish: one whose only file this was gets
            // an empty one now (replaced if rows arrive before the close).
            if self.files[t.name].is_empty() && !self.open.contains_key(t.name) {
                let w = SegmentWriter::create(
                    &self.setup.root,
                    t,
                    self.n,
                    &self.setup.info,
                    self.start_ns,
                    &self.opts,
                )?;
                let s = w.finish(self.now())?;
                self.files
                    .get_mut(t.name)
                    .expect("every table")
                    .insert(self.n);
                self.done.push(s);
            }
        }
        Ok(())
    }
}

/// Every row of a complete segment file, as batches of the table's own
/// schema.
fn read_rows(
    path: &std::path::Path,
    table: &'static TableSpec,
) -> Result<Vec<RecordBatch>, WriteError> {
    let seg = ktape_format::read::Segment::open(path)?;
    let cols: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let mut out = Vec::new();
    for rg in 0..seg.row_groups() {
        for b in seg.read_row_group(rg, &cols, 64 * 1024)? {
            let err = |source| ktape_format::Error::Arrow {
                path: path.to_path_buf(),
                source,
            };
            let b = b.map_err(err)?;
            out.push(RecordBatch::try_new(table.schema(), b.columns().to_vec()).map_err(err)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array};

    use super::*;

    #[test]
    fn stack_id_zero_is_a_reference_and_pid_zero_is_not() {
        let col = |v: Vec<Option<i32>>| Arc::new(Int32Array::from(v)) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("tgid", col(vec![Some(0), Some(7), Some(7)])),
            ("kstack_id", col(vec![Some(0), Some(0), Some(-1)])),
            ("ustack_id", col(vec![Some(-2), None, Some(5)])),
        ])
        .unwrap();
        let mut refs = Refs::default();
        let (mut pids, mut stacks) = refs.collect("profile", &batch);
        pids.sort();
        stacks.sort();
        assert_eq!(pids, vec![7]);
        assert_eq!(stacks, vec![0, 5]);
        let (pids, stacks) = refs.collect("profile", &batch);
        assert!(
            pids.is_empty() && stacks.is_empty(),
            "only new ids are returned"
        );
    }
}
