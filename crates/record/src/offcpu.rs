//! The `offcpu` family: one row per off-CPU episode, with the stacks the
//! task blocked in.
//!
//! `bpf/offcpu.bpf.c` pairs switch-out and switch-in of each task in the
//! kernel (tp_btf `sched_switch`, raw_tp fallback) and drops episodes
//! shorter than `--min-block` there, so only the episodes worth a row cross
//! the ring. Stack ids go through [`crate::stacks`] like the profile's.

use std::os::fd::AsFd;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use ktape_bpf::offcpu::{OffcpuSkel, OffcpuSkelBuilder};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{
    Attached, DecodeCtx, DecodeError, Decoder, Family, LoadCtx, Loaded, Sink, Skeleton,
};
use crate::sched::{i32_array, ts_array, CommDict};
use crate::stacks::Stacks;

/// `struct ktape_offcpu_event` of `bpf/ktape.h`, byte for byte.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffcpuEvent {
    pub kind: u32,
    pub state: u32,
    /// Switch-in, CLOCK_MONOTONIC ns.
    pub ts: u64,
    pub duration_ns: u64,
    pub pid: u32,
    pub tgid: u32,
    pub kstack: i32,
    pub ustack: i32,
    pub comm: [u8; 16],
}

// SAFETY: repr(C), integers and byte arrays only.
unsafe impl plain::Plain for OffcpuEvent {}

/// The `offcpu` family.
pub struct Offcpu;

/// The one instance, listed in [`crate::family::FAMILIES`].
pub static OFFCPU: Offcpu = Offcpu;

static TABLES: [&TableSpec; 1] = [&ktape_format::stacks::OFFCPU_TABLE];

impl Family for Offcpu {
    fn name(&self) -> &'static str {
        "offcpu"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_OFFCPU
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_OFFCPU]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn uses_stacks(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        Ok(Box::new(bpf::with_fallback(|f| load_flavour(ctx, f))?))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(OffcpuDecoder::new(ctx, crate::stacks::existing()))
    }
}

fn load_flavour(
    ctx: &LoadCtx,
    flavour: Flavour,
) -> Result<Attached<OffcpuSkel<'static>>, BpfError> {
    let fam = "offcpu";
    let btf = flavour.btf();
    let stacks = crate::stacks::shared()?;
    let mut open = bpf::open(fam, OffcpuSkelBuilder::default())?;
    open.progs.ktape_offcpu_switch.set_autoload(btf);
    open.progs.ktape_offcpu_switch_raw.set_autoload(!btf);
    if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
        ro.targ_tgid = ctx.targ_tgid;
        ro.min_block_ns = ctx.min_block_ns;
        ro.ktape_wakeup_bytes = ctx.rings.wakeup_bytes();
    }
    let maps = &mut open.maps;
    ctx.rings
        .share_with(&mut maps.ktape_rings, &mut maps.ktape_loss)
        .and_then(|()| stacks.share_with(&mut maps.ktape_stacks))
        .map_err(bpf::open_err(fam))?;
    let skel = bpf::load(fam, flavour.name(), open)?;
    Ok(Attached::new(fam, flavour.name(), flavour, skel))
}

impl Skeleton for OffcpuSkel<'static> {
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        match flavour {
            Flavour::TpBtf => vec![&self.progs.ktape_offcpu_switch],
            Flavour::RawTp => vec![&self.progs.ktape_offcpu_switch_raw],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        [self.maps.rodata.as_fd(), self.maps.ktape_blocked.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .chain(crate::stacks::existing().and_then(|s| s.map_id()))
            .collect()
    }
}

/// Column vectors of `offcpu`.
struct Cols {
    ts: Vec<i64>,
    pid: Vec<i32>,
    tgid: Vec<i32>,
    comm: CommDict,
    state: Vec<i64>,
    duration: Vec<i64>,
    kstack: Vec<i32>,
    ustack: Vec<i32>,
}

impl Cols {
    fn new(cap: usize) -> Self {
        Cols {
            ts: Vec::with_capacity(cap),
            pid: Vec::with_capacity(cap),
            tgid: Vec::with_capacity(cap),
            comm: CommDict::new(cap),
            state: Vec::with_capacity(cap),
            duration: Vec::with_capacity(cap),
            kstack: Vec::with_capacity(cap),
            ustack: Vec::with_capacity(cap),
        }
    }

    fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            ts_array(&mut self.ts),
            i32_array(&mut self.pid),
            i32_array(&mut self.tgid),
            self.comm.finish(),
            Arc::new(Int64Array::from(std::mem::take(&mut self.state))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.duration))),
            i32_array(&mut self.kstack),
            i32_array(&mut self.ustack),
        ];
        RecordBatch::try_new(ktape_format::stacks::OFFCPU_TABLE.schema(), cols)
            .expect("offcpu columns match the table")
    }
}

/// Decodes episodes into `offcpu` rows.
pub struct OffcpuDecoder {
    offset_ns: i64,
    batch_rows: usize,
    cycle: Vec<OffcpuEvent>,
    cols: Cols,
    stacks: Option<Arc<Stacks>>,
}

impl OffcpuDecoder {
    /// A decoder; `stacks` is `None` only in unit tests (ids pass through).
    pub fn new(ctx: &DecodeCtx, stacks: Option<Arc<Stacks>>) -> Self {
        OffcpuDecoder {
            offset_ns: ctx.clock_offset_ns,
            batch_rows: ctx.batch_rows,
            cycle: Vec::with_capacity(4096),
            cols: Cols::new(ctx.batch_rows),
            stacks,
        }
    }
}

impl Decoder for OffcpuDecoder {
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        let mut e = OffcpuEvent::default();
        plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
            family: "offcpu",
            got: rec.len(),
            want: std::mem::size_of::<OffcpuEvent>(),
        })?;
        self.cycle.push(e);
        Ok(())
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        self.cycle.sort_by_key(|e| e.ts);
        for e in &self.cycle {
            let ts = e.ts as i64 + self.offset_ns;
            let (k, u) = match &self.stacks {
                Some(s) => (
                    s.resolve(false, 0, e.kstack, ts),
                    s.resolve(true, e.tgid, e.ustack, ts),
                ),
                None => (e.kstack, e.ustack),
            };
            let c = &mut self.cols;
            c.ts.push(ts);
            c.pid.push(e.pid as i32);
            c.tgid.push(e.tgid as i32);
            c.comm.push(&e.comm);
            c.state.push(e.state as i64);
            c.duration.push(e.duration_ns as i64);
            c.kstack.push(k);
            c.ustack.push(u);
            if c.ts.len() >= self.batch_rows {
                sink(&ktape_format::stacks::OFFCPU_TABLE, c.finish());
            }
        }
        self.cycle.clear();
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        if !self.cols.ts.is_empty() {
            sink(&ktape_format::stacks::OFFCPU_TABLE, self.cols.finish());
        }
        if let Some(s) = &self.stacks {
            s.flush(sink);
        }
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        if !self.cols.ts.is_empty() {
            sink(&ktape_format::stacks::OFFCPU_TABLE, self.cols.finish());
        }
        if let Some(s) = &self.stacks {
            s.finish(sink, std::time::Duration::from_secs(30));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_c_struct() {
        assert_eq!(std::mem::size_of::<OffcpuEvent>(), 56);
        assert_eq!(std::mem::offset_of!(OffcpuEvent, pid), 24);
        assert_eq!(std::mem::offset_of!(OffcpuEvent, comm), 40);
    }
}
