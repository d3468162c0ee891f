//! One decoder for every family whose ring records have a single fixed
//! size (bio, open, fileio, profile, offcpu, runqlen, wakeup).
//!
//! What such a family owns is the record layout ([`Record`]) and how one
//! record becomes one row ([`Rows`]); the cycle around it is the same for
//! all and lives here once: copy each record out of the ring (a short one
//! is an error, not a guess), sort the drain cycle's records by time (the
//! per-CPU rings interleave; sorted timestamps make the delta encoding of
//! `ts` far smaller, and readers expect order), append them, and hand a
//! batch over whenever `batch_rows` rows are buffered.

use arrow_array::RecordBatch;
use ktape_format::TableSpec;

use crate::abi::Timed;
use crate::family::{DecodeCtx, DecodeError, Decoder, Sink};

/// A fixed-size ring record: a struct of `bpf/ktape.h` with a `ts`, whose
/// Rust side (`ktape_bpf::abi`, generated) is all this needs, so a family
/// writes no impl of its own.
pub trait Record: plain::Plain + Copy + Default + Send + Timed + 'static {}

impl<R: plain::Plain + Copy + Default + Send + Timed + 'static> Record for R {}

/// The columns of one family's table, filled one record at a time.
pub trait Rows: Send {
    /// The record each row comes from.
    type Record: Record;
    /// The table the batches belong to.
    fn table(&self) -> &'static TableSpec;
    /// Appends the row of `r`; `offset_ns` turns its monotonic times into
    /// wall-clock ones.
    fn append(&mut self, r: &Self::Record, offset_ns: i64);
    /// Rows buffered.
    fn len(&self) -> usize;
    /// Whether no row is buffered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The buffered rows as a batch of [`Rows::table`]; empties the
    /// buffers.
    fn finish(&mut self) -> RecordBatch;
    /// Called after the rows are handed over at a flush (`last`: the end of
    /// the recording), for what else the family owes the writer, such as
    /// the stacks its rows refer to. Default: nothing.
    fn after_flush(&mut self, _sink: &mut Sink<'_>, _last: bool) {}
}

/// The [`Decoder`] of a family with fixed-size records.
pub struct FixedDecoder<C: Rows> {
    offset_ns: i64,
    batch_rows: usize,
    /// This drain cycle's records, sorted by time before they are appended.
    cycle: Vec<C::Record>,
    rows: C,
}

impl<C: Rows> FixedDecoder<C> {
    /// A decoder filling `rows`.
    pub fn new(ctx: &DecodeCtx, rows: C) -> Self {
        FixedDecoder {
            offset_ns: ctx.clock_offset_ns,
            batch_rows: ctx.batch_rows,
            cycle: Vec::with_capacity(1024),
            rows,
        }
    }

    fn hand_over(&mut self, sink: &mut Sink<'_>) {
        if !self.rows.is_empty() {
            sink(self.rows.table(), self.rows.finish());
        }
    }
}

impl<C: Rows> Decoder for FixedDecoder<C> {
    #[inline]
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        let mut e = C::Record::default();
        plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
            family: self.rows.table().family,
            got: rec.len(),
            want: std::mem::size_of::<C::Record>(),
        })?;
        self.cycle.push(e);
        Ok(())
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        // Stable: a CPU's records arrive in time order, so the cycle is a
        // few sorted runs, which the merge sort finds and costs little.
        self.cycle.sort_by_key(|e| e.ts());
        for e in &self.cycle {
            self.rows.append(e, self.offset_ns);
            if self.rows.len() >= self.batch_rows {
                sink(self.rows.table(), self.rows.finish());
            }
        }
        self.cycle.clear();
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink);
        self.rows.after_flush(sink, false);
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink);
        self.rows.after_flush(sink, true);
    }
}
