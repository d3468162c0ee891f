//! Row filters every report accepts: `-p/--pid`, `--comm`, `--cgroup`.
//!
//! A [`Filter`] is plain data (the binary fills it from its flags); per
//! batch it is turned into a [`BatchFilter`] that evaluates string matches
//! once per distinct dictionary value, so filtering a row costs a few
//! integer comparisons.

use std::path::Path;

use arrow_array::RecordBatch;

use crate::columns::{self, Strings};
use crate::error::Result;

/// Which rows to keep. The default keeps every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep rows of this process (the `tgid` column, what bcc's `-p`
    /// means). Default: any process.
    pub pid: Option<i32>,
    /// Keep rows whose `comm` (thread name, at most 15 bytes as the kernel
    /// keeps it) equals this exactly. Default: any name.
    pub comm: Option<String>,
    /// Keep rows of this cgroup v2 id (the `cgroup_id` column; the id is
    /// the cgroup directory's inode number). Default: any cgroup.
    pub cgroup_id: Option<i64>,
}

impl Filter {
    /// Whether the filter keeps every row.
    pub fn is_empty(&self) -> bool {
        self.pid.is_none() && self.comm.is_none() && self.cgroup_id.is_none()
    }

    /// Columns a scan must read for this filter.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.pid.is_some() {
            c.push("tgid");
        }
        if self.comm.is_some() {
            c.push("comm");
        }
        if self.cgroup_id.is_some() {
            c.push("cgroup_id");
        }
        c
    }

    /// Adds to a scan's `cols` the [`Filter::columns`] it does not read
    /// already.
    pub fn add_columns(&self, cols: &mut Vec<&'static str>) {
        for c in self.columns() {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
    }

    /// Prepares the filter for one batch (which must hold
    /// [`Filter::columns`]).
    pub fn prepare<'a>(&self, batch: &'a RecordBatch, path: &Path) -> Result<BatchFilter<'a>> {
        let tgid = match self.pid {
            Some(p) => Some((p, columns::i32s(batch, "tgid", path)?)),
            None => None,
        };
        let comm = match &self.comm {
            Some(c) => {
                let s = Strings::from_batch(batch, "comm", path)?;
                let ok = s.matching(|v| v == c);
                Some((s.codes, ok))
            }
            None => None,
        };
        let cgroup = match self.cgroup_id {
            Some(id) => Some((id, columns::i64s(batch, "cgroup_id", path)?)),
            None => None,
        };
        Ok(BatchFilter { tgid, comm, cgroup })
    }
}

/// A [`Filter`] bound to one batch.
pub struct BatchFilter<'a> {
    tgid: Option<(i32, &'a [i32])>,
    comm: Option<(Vec<u32>, Vec<bool>)>,
    cgroup: Option<(i64, &'a [i64])>,
}

impl BatchFilter<'_> {
    /// Whether row `i` passes.
    #[inline]
    pub fn keep(&self, i: usize) -> bool {
        if let Some((p, t)) = self.tgid {
            if t[i] != p {
                return false;
            }
        }
        if let Some((codes, ok)) = &self.comm {
            if !ok[codes[i] as usize] {
                return false;
            }
        }
        if let Some((id, c)) = self.cgroup {
            if c[i] != id {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{Array, DictionaryArray, Int32Array, Int64Array};
    use arrow_schema::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let comm: DictionaryArray<Int32Type> =
            vec!["dd", "fio", "dd", "postgres"].into_iter().collect();
        let schema = Schema::new(vec![
            Field::new("tgid", DataType::Int32, false),
            Field::new("comm", comm.data_type().clone(), false),
            Field::new("cgroup_id", DataType::Int64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(vec![10, 20, 11, 10])),
                Arc::new(comm),
                Arc::new(Int64Array::from(vec![1, 1, 2, 2])),
            ],
        )
        .unwrap()
    }

    fn kept(f: &Filter) -> Vec<usize> {
        let b = batch();
        let bf = f.prepare(&b, Path::new("x")).unwrap();
        (0..b.num_rows()).filter(|&i| bf.keep(i)).collect()
    }

    #[test]
    fn default_keeps_everything() {
        let f = Filter::default();
        assert!(f.is_empty());
        assert!(f.columns().is_empty());
        assert_eq!(kept(&f), [0, 1, 2, 3]);
    }

    #[test]
    fn pid_comm_cgroup() {
        assert_eq!(
            kept(&Filter {
                pid: Some(10),
                ..Default::default()
            }),
            [0, 3]
        );
        assert_eq!(
            kept(&Filter {
                comm: Some("dd".into()),
                ..Default::default()
            }),
            [0, 2]
        );
        assert_eq!(
            kept(&Filter {
                comm: Some("d".into()),
                ..Default::default()
            }),
            Vec::<usize>::new()
        );
        assert_eq!(
            kept(&Filter {
                cgroup_id: Some(2),
                ..Default::default()
            }),
            [2, 3]
        );
        let both = Filter {
            pid: Some(10),
            comm: Some("dd".into()),
            cgroup_id: None,
        };
        assert_eq!(both.columns(), ["tgid", "comm"]);
        assert_eq!(kept(&both), [0]);
    }
}
