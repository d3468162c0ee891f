//! The `runqlen` family: each CPU's run-queue length, sampled.
//!
//! One software `cpu-clock` perf event per online CPU at `-F` Hz (default
//! 99, bcc runqlen's) runs `bpf/runqlen.bpf.c` on that CPU, which writes
//! one 24-byte record per sample into the shared rings. Sampling rather
//! than tracing makes the cost fixed (99 rows a second per CPU), whatever
//! the scheduling rate; the exact queue-wait picture comes from `-e sched`.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::runqlen::{RunqlenSkel, RunqlenSkelBuilder};
use ktape_format::TableSpec;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, BoolCol, I32Col, TsCol};
use crate::family::{DecodeCtx, Decoder, Family, LoadCtx, Loaded};
use crate::fixed::{FixedDecoder, Rows};
use crate::perf::{CpuClocks, Sampled, HOOKS};

pub use ktape_bpf::abi::RunqlenEvent;

/// The `runqlen` family.
pub struct Runqlen;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Runqlen = Runqlen;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&ktape_format::runqlen::TABLE];

impl Family for Runqlen {
    fn name(&self) -> &'static str {
        "runqlen"
    }
    fn about(&self) -> &'static str {
        "each CPU's run-queue length, sampled -F times a second"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_RUNQLEN
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_RUNQLEN]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let obj = bpf::Object {
            family: "runqlen",
            hooks: HOOKS,
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: false,
        };
        let skel = obj.load(ctx, RunqlenSkelBuilder::default(), |_| {})?;
        Ok(Box::new(Sampled {
            skel,
            family: "runqlen",
            prog: |s: &RunqlenSkel<'static>| &s.progs.ktape_runqlen,
            rodata: |s: &RunqlenSkel<'static>| s.maps.rodata.as_fd(),
            stacks: false,
            freq: ctx
                .options
                .sampling
                .frequency
                .unwrap_or(ktape_format::runqlen::DEFAULT_HZ),
            clocks: CpuClocks::default(),
        }))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(RunqlenDecoder::new(ctx, Cols::with_capacity(0)))
    }
}

/// Decodes runqlen records into `runqlen` batches.
pub type RunqlenDecoder = FixedDecoder<Cols>;

table_columns! {
    /// Columns of `runqlen`.
    pub struct Cols for ktape_format::runqlen::TABLE;
    ts: TsCol,
    cpu: I32Col,
    len: I32Col,
    idle: BoolCol,
}

impl Rows for Cols {
    type Record = RunqlenEvent;

    fn table(&self) -> &'static TableSpec {
        &ktape_format::runqlen::TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &RunqlenEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.len.append_value(e.len.min(i32::MAX as u32) as i32);
        self.idle.append_value(e.idle != 0);
    }

    fn finish(&mut self) -> RecordBatch {
        self.take_batch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampNanosecondType};

    #[test]
    fn samples_become_sorted_rows() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: Default::default(),
            batch_rows: 100,
        };
        let mut d = RunqlenDecoder::new(&ctx, Cols::with_capacity(0));
        for (ts, cpu, len) in [(300u64, 1u32, 2u32), (100, 0, 0)] {
            let e = RunqlenEvent {
                kind: abi::KIND_RUNQLEN,
                cpu,
                ts,
                len,
                idle: u32::from(len == 0 && cpu == 0),
            };
            // SAFETY: RunqlenEvent is Plain.
            d.decode(unsafe { plain::as_bytes(&e) }).unwrap();
        }
        assert!(
            d.decode(&[22, 0, 0, 0]).is_err(),
            "short records are refused"
        );
        let mut out = Vec::new();
        d.end_cycle(&mut |_, b| out.push(b));
        d.flush(&mut |_, b| out.push(b));
        assert_eq!(out.len(), 1);
        let b = &out[0];
        assert_eq!(b.schema(), ktape_format::runqlen::TABLE.schema());
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(ts.values().to_vec(), vec![1_100, 1_300]);
        assert_eq!(
            b.column(1).as_primitive::<Int32Type>().values().to_vec(),
            vec![0, 1]
        );
        assert_eq!(
            b.column(2).as_primitive::<Int32Type>().values().to_vec(),
            vec![0, 2]
        );
        let idle = b.column(3).as_boolean();
        assert!(idle.value(0) && !idle.value(1));
    }
}
