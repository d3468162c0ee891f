//! The `sched` family: raw `sched_switch` and `sched_wakeup` rows.
//!
//! This is the recorder's hot path: a busy host switches hundreds of
//! thousands of times a second. The kernel side (`bpf/sched.bpf.c`) writes
//! one fixed-size record per event; here each record is copied into a
//! per-cycle vector (no allocation: the vectors keep their capacity), the
//! cycle is sorted by time, and rows are appended to plain column vectors.
//! Comms go through a small dictionary keyed by the raw 16 kernel bytes
//! with a cheap hash, so a row costs two hash lookups, never a string
//! allocation; the Arrow dictionary arrays are assembled once per batch.

use std::os::fd::AsFd;

use ktape_bpf::sched::{SchedSkel, SchedSkelBuilder};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, BoolCol, CommDict, I32Col, I64Col, TsCol};
use crate::family::{
    Attached, DecodeCtx, DecodeError, Decoder, Family, LoadCtx, Loaded, Sink, Skeleton,
};

pub use ktape_bpf::abi::{SchedSwitchEvent, SchedWakeupEvent};

/// The `sched` family.
pub struct Sched;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Sched = Sched;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 2] = [&ktape_format::sched::SWITCH_TABLE, &ktape_format::sched::WAKEUP_TABLE];

impl Family for Sched {
    fn name(&self) -> &'static str {
        "sched"
    }
    fn about(&self) -> &'static str {
        "context switches and wakeups"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_SCHED
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_SCHED_SWITCH, abi::KIND_SCHED_WAKEUP]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        Ok(Box::new(bpf::with_fallback(|f| load_flavour(ctx, f))?))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(SchedDecoder::new(ctx))
    }
}

fn load_flavour(ctx: &LoadCtx, flavour: Flavour) -> Result<Attached<SchedSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "sched",
        hooks: flavour.name(),
        flavour,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, SchedSkelBuilder::default(), |_| {})
}

impl Skeleton for SchedSkel<'static> {
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        match flavour {
            Flavour::TpBtf => vec![
                &p.ktape_sched_switch,
                &p.ktape_sched_wakeup,
                &p.ktape_sched_wakeup_new,
            ],
            Flavour::RawTp => vec![
                &p.ktape_sched_switch_raw,
                &p.ktape_sched_wakeup_raw,
                &p.ktape_sched_wakeup_new_raw,
            ],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        bpf::map_id(self.maps.rodata.as_fd()).into_iter().collect()
    }
}


table_columns! {
    /// Columns of `sched_switch`.
    struct SwitchCols for ktape_format::sched::SWITCH_TABLE;
    ts: TsCol,
    cpu: I32Col,
    prev_pid: I32Col,
    prev_tgid: I32Col,
    prev_comm: CommDict,
    prev_prio: I32Col,
    prev_state: I64Col,
    preempt: BoolCol,
    next_pid: I32Col,
    next_tgid: I32Col,
    next_comm: CommDict,
    next_prio: I32Col,
}

impl SwitchCols {
    #[inline]
    fn push(&mut self, e: &SchedSwitchEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.prev_pid.append_value(e.prev_pid as i32);
        self.prev_tgid.append_value(e.prev_tgid as i32);
        self.prev_comm.append_value(&e.prev_comm);
        self.prev_prio.append_value(e.prev_prio as i32);
        self.prev_state.append_value(e.prev_state as i64);
        self.preempt.append_value(e.preempt != 0);
        self.next_pid.append_value(e.next_pid as i32);
        self.next_tgid.append_value(e.next_tgid as i32);
        self.next_comm.append_value(&e.next_comm);
        self.next_prio.append_value(e.next_prio as i32);
    }
}

table_columns! {
    /// Columns of `sched_wakeup`.
    struct WakeupCols for ktape_format::sched::WAKEUP_TABLE;
    ts: TsCol,
    cpu: I32Col,
    target_cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    prio: I32Col,
    new_task: BoolCol,
    waker_pid: I32Col,
    waker_tgid: I32Col,
}

impl WakeupCols {
    #[inline]
    fn push(&mut self, e: &SchedWakeupEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.target_cpu.append_value(e.target_cpu);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.prio.append_value(e.prio as i32);
        self.new_task.append_value(e.new_task != 0);
        self.waker_pid.append_value(e.waker_pid as i32);
        self.waker_tgid.append_value(e.waker_tgid as i32);
    }
}

/// Decodes sched records into `sched_switch` and `sched_wakeup` batches.
pub struct SchedDecoder {
    offset_ns: i64,
    batch_rows: usize,
    /// This drain cycle's events, sorted by time before they are appended.
    switches: Vec<SchedSwitchEvent>,
    wakeups: Vec<SchedWakeupEvent>,
    sw: SwitchCols,
    wk: WakeupCols,
}

impl SchedDecoder {
    /// A decoder for one recording.
    pub fn new(ctx: &DecodeCtx) -> Self {
        SchedDecoder {
            offset_ns: ctx.clock_offset_ns,
            batch_rows: ctx.batch_rows,
            switches: Vec::with_capacity(64 * 1024),
            wakeups: Vec::with_capacity(32 * 1024),
            sw: SwitchCols::with_capacity(ctx.batch_rows),
            wk: WakeupCols::with_capacity(ctx.batch_rows),
        }
    }
}

fn copy<T: plain::Plain + Default>(rec: &[u8]) -> Result<T, DecodeError> {
    let mut e = T::default();
    plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
        family: "sched",
        got: rec.len(),
        want: std::mem::size_of::<T>(),
    })?;
    Ok(e)
}

impl Decoder for SchedDecoder {
    #[inline]
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        if abi::record_kind(rec) == Some(abi::KIND_SCHED_SWITCH) {
            self.switches.push(copy(rec)?);
        } else {
            self.wakeups.push(copy(rec)?);
        }
        Ok(())
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        // Each CPU's records arrive in time order, so the cycle is a few
        // sorted runs: the stable sort (a merge sort) finds them and costs
        // little more than a pass.
        self.switches.sort_by_key(|e| e.ts);
        self.wakeups.sort_by_key(|e| e.ts);
        for e in &self.switches {
            self.sw.push(e, self.offset_ns);
            if self.sw.rows() >= self.batch_rows {
                sink(
                    &ktape_format::sched::SWITCH_TABLE,
                    self.sw.take_batch(),
                );
            }
        }
        for e in &self.wakeups {
            self.wk.push(e, self.offset_ns);
            if self.wk.rows() >= self.batch_rows {
                sink(
                    &ktape_format::sched::WAKEUP_TABLE,
                    self.wk.take_batch(),
                );
            }
        }
        self.switches.clear();
        self.wakeups.clear();
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        if self.sw.rows() > 0 {
            sink(
                &ktape_format::sched::SWITCH_TABLE,
                self.sw.take_batch(),
            );
        }
        if self.wk.rows() > 0 {
            sink(
                &ktape_format::sched::WAKEUP_TABLE,
                self.wk.take_batch(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampNanosecondType};
    use arrow_array::Array;

    fn comm(s: &str) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..s.len()].copy_from_slice(s.as_bytes());
        c
    }

    fn switch(ts: u64, prev: u32, next: u32, state: u32) -> SchedSwitchEvent {
        SchedSwitchEvent {
            kind: abi::KIND_SCHED_SWITCH,
            prev_state: state,
            ts,
            prev_pid: prev,
            prev_tgid: prev,
            next_pid: next,
            next_tgid: next,
            prev_prio: 120,
            next_prio: 100,
            cpu: 1,
            preempt: (state == 0) as u8,
            pad: 0,
            prev_comm: comm(if prev == 0 { "swapper/1" } else { "busy" }),
            next_comm: comm("fifteen-bytes-x"),
        }
    }

    fn ctx(batch_rows: usize) -> DecodeCtx {
        DecodeCtx {
            clock_offset_ns: 1_000,
            disks: Default::default(),
            batch_rows,
        }
    }

    fn bytes<T: plain::Plain>(e: &T) -> Vec<u8> {
        // SAFETY: T is Plain.
        unsafe { plain::as_bytes(e) }.to_vec()
    }

    #[test]
    fn events_become_sorted_rows_in_both_tables() {
        let mut d = SchedDecoder::new(&ctx(1000));
        d.decode(&bytes(&switch(300, 5, 0, 1))).unwrap();
        d.decode(&bytes(&switch(100, 0, 5, 0))).unwrap();
        let w = SchedWakeupEvent {
            kind: abi::KIND_SCHED_WAKEUP,
            pid: 5,
            ts: 50,
            tgid: 4,
            waker_pid: 9,
            waker_tgid: 8,
            target_cpu: 1,
            prio: 120,
            cpu: 0,
            new_task: 1,
            pad: [0; 3],
            comm: comm("busy"),
        };
        d.decode(&bytes(&w)).unwrap();
        assert!(
            d.decode(&[2, 0, 0, 0, 1]).is_err(),
            "short records are refused"
        );
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        assert!(out.is_empty());
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 2);
        let (name, b) = &out[0];
        assert_eq!(*name, "sched_switch");
        assert_eq!(b.schema(), ktape_format::sched::SWITCH_TABLE.schema());
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(ts.values().to_vec(), vec![1_100, 1_300]);
        let pc = b.column(4).as_dictionary::<Int32Type>();
        let vals = pc.values().as_string::<i32>();
        let got: Vec<&str> = (0..2)
            .map(|i| vals.value(pc.keys().value(i) as usize))
            .collect();
        assert_eq!(got, ["swapper/1", "busy"]);
        let nc = b.column(10).as_dictionary::<Int32Type>();
        assert_eq!(
            nc.values().len(),
            1,
            "one distinct comm, one dictionary entry"
        );
        assert_eq!(nc.values().as_string::<i32>().value(0), "fifteen-bytes-x");
        assert_eq!(
            b.column(6)
                .as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .to_vec(),
            vec![0, 1]
        );
        assert!(b.column(7).as_boolean().value(0));
        let (name, b) = &out[1];
        assert_eq!(*name, "sched_wakeup");
        assert_eq!(b.schema(), ktape_format::sched::WAKEUP_TABLE.schema());
        assert_eq!(b.num_rows(), 1);
        assert!(b.column(7).as_boolean().value(0));
        assert_eq!(
            b.column(8)
                .as_primitive::<arrow_array::types::Int32Type>()
                .value(0),
            9
        );
        let mut after = Vec::new();
        d.flush(&mut |t, b| after.push((t.name, b)));
        assert!(after.is_empty());
    }

    #[test]
    fn batches_are_cut_at_batch_rows_with_fresh_dictionaries() {
        let mut d = SchedDecoder::new(&ctx(2));
        for i in 0..5 {
            d.decode(&bytes(&switch(i, 1, 2, 0))).unwrap();
        }
        let mut out = Vec::new();
        d.end_cycle(&mut |_, b| out.push(b));
        d.flush(&mut |_, b| out.push(b));
        let rows: Vec<usize> = out.iter().map(|b| b.num_rows()).collect();
        assert_eq!(rows, vec![2, 2, 1]);
        for b in &out {
            let c = b.column(4).as_dictionary::<Int32Type>();
            assert_eq!(c.values().len(), 1);
        }
    }
}
