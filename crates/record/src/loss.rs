//! Loss accounting: the kernel counts every record it could not hand over
//! (per family, reason and CPU, cumulatively); once a second the main
//! thread reads the counters and turns the increase into `loss` rows, one
//! per (second, family, CPU, reason) with a nonzero count.

use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringDictionaryBuilder, TimestampNanosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use ktape_format::schema::UTC;

use crate::abi;

/// Turns cumulative counters into `loss` rows.
pub struct LossTracker {
    /// Per family: `(name, id, previous counters [reason][cpu])`.
    families: Vec<(&'static str, u32, Vec<Vec<u64>>)>,
    totals: Vec<u64>,
    rows: usize,
    ts: TimestampNanosecondBuilder,
    family: StringDictionaryBuilder<Int32Type>,
    cpu: Int32Builder,
    reason: StringDictionaryBuilder<Int32Type>,
    lost: Int64Builder,
}

impl LossTracker {
    /// Tracks these `(name, id)` families.
    pub fn new(families: &[(&'static str, u32)]) -> Self {
        LossTracker {
            families: families
                .iter()
                .map(|&(n, id)| (n, id, Vec::new()))
                .collect(),
            totals: vec![0; families.len()],
            rows: 0,
            ts: TimestampNanosecondBuilder::new().with_timezone(UTC),
            family: StringDictionaryBuilder::new(),
            cpu: Int32Builder::new(),
            reason: StringDictionaryBuilder::new(),
            lost: Int64Builder::new(),
        }
    }

    /// Records the counters read at the end of the interval that started
    /// at `interval_start_ns` (wall clock). `read(id)` gives a family's
    /// cumulative `[reason][cpu]` counters.
    pub fn sample<E>(
        &mut self,
        interval_start_ns: i64,
        mut read: impl FnMut(u32) -> Result<Vec<Vec<u64>>, E>,
    ) -> Result<(), E> {
        for (i, (name, id, prev)) in self.families.iter_mut().enumerate() {
            let now = read(*id)?;
            for (r, per_cpu) in now.iter().enumerate() {
                for (cpu, &n) in per_cpu.iter().enumerate() {
                    let before = prev.get(r).and_then(|p| p.get(cpu)).copied().unwrap_or(0);
                    let d = n.saturating_sub(before);
                    if d == 0 {
                        continue;
                    }
                    self.totals[i] += d;
                    self.rows += 1;
                    self.ts.append_value(interval_start_ns);
                    self.family.append_value(*name);
                    self.cpu.append_value(cpu as i32);
                    self.reason
                        .append_value(abi::REASONS.get(r).map(|x| x.1).unwrap_or("unknown"));
                    self.lost.append_value(d as i64);
                }
            }
            *prev = now;
        }
        Ok(())
    }

    /// Adds `count` events of family `id` lost for `reason` that user space
    /// found (not the kernel's counters), at `ts_ns` (wall clock); `cpu` is
    /// -1 in the row: such events are lost on no CPU in particular.
    pub fn add(&mut self, id: u32, reason: u32, ts_ns: i64, count: u64) {
        let Some(i) = self.families.iter().position(|f| f.1 == id) else {
            return;
        };
        if count == 0 {
            return;
        }
        self.totals[i] += count;
        self.rows += 1;
        self.ts.append_value(ts_ns);
        self.family.append_value(self.families[i].0);
        self.cpu.append_value(-1);
        self.reason.append_value(
            abi::REASONS
                .iter()
                .find(|r| r.0 == reason)
                .map(|x| x.1)
                .unwrap_or("unknown"),
        );
        self.lost.append_value(count as i64);
    }

    /// Events lost so far, all families.
    pub fn total(&self) -> u64 {
        self.totals.iter().sum()
    }

    /// Events lost so far, per family name.
    pub fn by_family(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.families
            .iter()
            .zip(&self.totals)
            .map(|((n, _, _), &t)| (*n, t))
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The buffered rows as a `loss` batch (possibly empty).
    pub fn take_batch(&mut self) -> RecordBatch {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.family.finish()),
            Arc::new(self.cpu.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.lost.finish()),
        ];
        RecordBatch::try_new(ktape_format::loss::TABLE.schema(), cols)
            .expect("loss builders match the loss table")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    #[test]
    fn only_increases_become_rows() {
        let mut t = LossTracker::new(&[("bio", 0)]);
        let feed = |t: &mut LossTracker, ts, v: Vec<Vec<u64>>| {
            t.sample(ts, |_| Ok::<_, ()>(v.clone())).unwrap();
        };
        feed(&mut t, 0, vec![vec![0, 0], vec![0, 0]]);
        assert_eq!(t.rows(), 0);
        feed(&mut t, 1_000, vec![vec![5, 0], vec![0, 2]]);
        feed(&mut t, 2_000, vec![vec![5, 0], vec![0, 2]]);
        feed(&mut t, 3_000, vec![vec![7, 1], vec![0, 2]]);
        assert_eq!(t.rows(), 4);
        assert_eq!(t.total(), 10);
        assert_eq!(t.by_family().collect::<Vec<_>>(), vec![("bio", 10)]);
        let b = t.take_batch();
        assert_eq!(b.num_rows(), 4);
        let lost: Vec<i64> = b.column(4).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(lost, vec![5, 2, 2, 1]);
        let cpus: Vec<i32> = b
            .column(2)
            .as_primitive::<arrow_array::types::Int32Type>()
            .values()
            .to_vec();
        assert_eq!(cpus, vec![0, 1, 0, 1]);
        let reasons = b.column(3).as_dictionary::<Int32Type>();
        let names = reasons.values().as_string::<i32>();
        let r: Vec<&str> = reasons
            .keys()
            .values()
            .iter()
            .map(|&k| names.value(k as usize))
            .collect();
        assert_eq!(
            r,
            vec!["ringbuf_full", "map_full", "ringbuf_full", "ringbuf_full"]
        );
        assert_eq!(t.take_batch().num_rows(), 0);
    }

    #[test]
    fn user_found_losses_are_rows_on_no_cpu() {
        let mut t = LossTracker::new(&[("bio", 0), ("tcp", 3)]);
        t.add(0, abi::LOSS_UNPAIRED, 5_000, 2);
        t.add(0, abi::LOSS_UNPAIRED, 6_000, 0);
        t.add(9, abi::LOSS_UNPAIRED, 6_000, 1);
        assert_eq!(
            t.by_family().collect::<Vec<_>>(),
            vec![("bio", 2), ("tcp", 0)]
        );
        let b = t.take_batch();
        assert_eq!(b.num_rows(), 1);
        let cpu = b.column(2).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(cpu.value(0), -1);
    }

    #[test]
    fn first_read_counts_from_zero() {
        // The counters are created fresh by each run, so whatever the first
        // read finds was lost during the first interval.
        let mut t = LossTracker::new(&[("bio", 0)]);
        t.sample(0, |_| Ok::<_, ()>(vec![vec![3]])).unwrap();
        assert_eq!(t.total(), 3);
    }
}
