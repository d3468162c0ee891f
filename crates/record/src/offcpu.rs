//! The `offcpu` family: one row per off-CPU episode, with the stacks the
//! task blocked in.
//!
//! `bpf/offcpu.bpf.c` pairs switch-out and switch-in of each task in the
//! kernel (tp_btf `sched_switch`, raw_tp fallback) and drops episodes
//! shorter than `--min-block` there, so only the episodes worth a row cross
//! the ring. Stack ids go through [`crate::stacks`] like the profile's.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::offcpu::{OffcpuSkel, OffcpuSkelBuilder};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, I32Col, I64Col, TsCol};
use crate::family::{
    Attached, DecodeCtx, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
    Skeleton,
};
use crate::fixed::{FixedDecoder, Rows};
use crate::stacks::Stacks;

pub use ktape_bpf::abi::OffcpuEvent;

/// Options of the offcpu family.
#[derive(Debug, Clone, clap::Args)]
pub struct OffcpuOptions {
    /// offcpu: shortest off-CPU episode recorded (filtered in the kernel),
    /// in microseconds or with a unit (`500us`, `1ms`, `2s`). Default: 1us.
    #[arg(long, value_name = "TIME", default_value = "1us")]
    pub min_block: String,
    /// `--min-block` in ns, once validated.
    #[arg(skip)]
    pub min_block_ns: u64,
}

impl FamilyOptions for OffcpuOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        self.min_block_ns = crate::cli::parse_min_time("--min-block", &self.min_block)?;
        Ok(())
    }
}

/// The `offcpu` family.
pub struct Offcpu;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Offcpu = Offcpu;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = OffcpuOptions;

static TABLES: [&TableSpec; 1] = [&ktape_format::offcpu::TABLE];

impl Family for Offcpu {
    fn name(&self) -> &'static str {
        "offcpu"
    }
    fn about(&self) -> &'static str {
        "blocked episodes with the stacks they blocked in"
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
        Box::new(OffcpuDecoder::new(
            ctx,
            Cols::new(ctx.batch_rows, crate::stacks::existing()),
        ))
    }
}

fn load_flavour(
    ctx: &LoadCtx,
    flavour: Flavour,
) -> Result<Attached<OffcpuSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "offcpu",
        hooks: flavour.name(),
        flavour,
        skip: &[],
        stacks: true,
    };
    obj.attached(ctx, OffcpuSkelBuilder::default(), |open| {
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.min_block_ns = ctx.options.offcpu.min_block_ns;
        }
    })
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

table_columns! {
    /// Columns of `offcpu`.
    pub struct OffcpuColumns for ktape_format::offcpu::TABLE;
    ts: TsCol,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    state: I64Col,
    duration: I64Col,
    kstack: I32Col,
    ustack: I32Col,
}

/// The columns, and the stacks their ids go through.
pub struct Cols {
    c: OffcpuColumns,
    /// `None` only in unit tests (ids pass through).
    stacks: Option<std::sync::Arc<Stacks>>,
}

impl Cols {
    fn new(cap: usize, stacks: Option<std::sync::Arc<Stacks>>) -> Self {
        Cols {
            c: OffcpuColumns::with_capacity(cap),
            stacks,
        }
    }
}

/// Decodes episodes into `offcpu` rows, and hands the stacks on.
pub type OffcpuDecoder = FixedDecoder<Cols>;

impl Rows for Cols {
    type Record = OffcpuEvent;

    fn table(&self) -> &'static TableSpec {
        &ktape_format::offcpu::TABLE
    }

    fn len(&self) -> usize {
        self.c.rows()
    }

    fn append(&mut self, e: &OffcpuEvent, offset_ns: i64) {
        let ts = e.ts as i64 + offset_ns;
        let (k, u) =
            crate::stacks::resolve_pair(self.stacks.as_deref(), e.tgid, e.kstack, e.ustack, ts);
        self.c.ts.append_value(ts);
        self.c.pid.append_value(e.pid as i32);
        self.c.tgid.append_value(e.tgid as i32);
        self.c.comm.append_value(&e.comm);
        self.c.state.append_value(e.state as i64);
        self.c.duration.append_value(e.duration_ns as i64);
        self.c.kstack.append_value(k);
        self.c.ustack.append_value(u);
    }

    fn finish(&mut self) -> RecordBatch {
        self.c.take_batch()
    }

    fn after_flush(&mut self, sink: &mut Sink<'_>, last: bool) {
        crate::stacks::hand_over(self.stacks.as_deref(), sink, last);
    }
}
