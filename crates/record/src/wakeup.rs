//! The `wakeup` family: one row per wakeup of a blocked task, with the
//! waker's stacks and the stacks the task blocked in.
//!
//! `bpf/wakeup.bpf.c` keeps each sleeping task's switch-out (time, state,
//! stacks) in a thread-keyed hash and pairs it at `sched_waking`, in the
//! waker's context, where the waker's stacks are walked. Wakeups of tasks
//! blocked less than `--wakeup-min-block` are dropped there, before any
//! waker stack is walked: wakeups are as frequent as context switches, and
//! most blocks on a busy host are short. Stack ids go through
//! [`crate::stacks`] like the profile's and offcpu's, into the same map.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::wakeup::{WakeupSkel, WakeupSkelBuilder};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, BoolCol, CommDict, I32Col, I64Col, TsCol};
use crate::family::{
    Attached, DecodeCtx, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
    Skeleton,
};
use crate::fixed::{FixedDecoder, Rows};
use crate::stacks::Stacks;

pub use ktape_bpf::abi::WakeupEvent;

/// Options of the wakeup family.
#[derive(Debug, Clone, clap::Args)]
pub struct WakeupOptions {
    /// wakeup: shortest blocked time (switch-out to wakeup) recorded,
    /// filtered in the kernel before the waker's stacks are walked, in
    /// microseconds or with a unit (`500us`, `1ms`). Default: 1us, as
    /// bcc's wakeuptime/offwaketime --min-block-time.
    #[arg(long, value_name = "TIME", default_value = "1us")]
    pub wakeup_min_block: String,
    /// `--wakeup-min-block` in ns, once validated.
    #[arg(skip)]
    pub wakeup_min_block_ns: u64,
}

impl FamilyOptions for WakeupOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        self.wakeup_min_block_ns =
            crate::cli::parse_min_time("--wakeup-min-block", &self.wakeup_min_block)?;
        Ok(())
    }
}

/// The `wakeup` family.
pub struct Wakeup;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Wakeup = Wakeup;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = WakeupOptions;

static TABLES: [&TableSpec; 1] = [&ktape_format::wakeup::TABLE];

impl Family for Wakeup {
    fn name(&self) -> &'static str {
        "wakeup"
    }
    fn about(&self) -> &'static str {
        "wakeups of blocked tasks with the waker's stacks and the blocked ones"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_WAKEUP
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_WAKEUP]
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
        Box::new(WakeupDecoder::new(
            ctx,
            Cols::new(ctx.batch_rows, crate::stacks::existing()),
        ))
    }
}

fn load_flavour(
    ctx: &LoadCtx,
    flavour: Flavour,
) -> Result<Attached<WakeupSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "wakeup",
        hooks: flavour.name(),
        flavour,
        skip: &[],
        stacks: true,
    };
    obj.attached(ctx, WakeupSkelBuilder::default(), |open| {
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.min_block_ns = ctx.options.wakeup.wakeup_min_block_ns;
        }
    })
}

impl Skeleton for WakeupSkel<'static> {
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        // The switch program first: a waking seen before it could find
        // nothing to pair with anyway.
        match flavour {
            Flavour::TpBtf => vec![
                &self.progs.ktape_wakeup_switch,
                &self.progs.ktape_wakeup_waking,
            ],
            Flavour::RawTp => vec![
                &self.progs.ktape_wakeup_switch_raw,
                &self.progs.ktape_wakeup_waking_raw,
            ],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        [
            self.maps.rodata.as_fd(),
            self.maps.ktape_wakeup_blocked.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .chain(crate::stacks::existing().and_then(|s| s.map_id()))
        .collect()
    }
}

table_columns! {
    /// Columns of `wakeup`.
    pub struct WakeupColumns for ktape_format::wakeup::TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    kthread: BoolCol,
    state: I64Col,
    blocked: I64Col,
    kstack: I32Col,
    ustack: I32Col,
    waker_pid: I32Col,
    waker_tgid: I32Col,
    waker_comm: CommDict,
    waker_kthread: BoolCol,
    waker_kstack: I32Col,
    waker_ustack: I32Col,
}

/// The columns, and the stacks their ids go through.
pub struct Cols {
    c: WakeupColumns,
    /// `None` only in unit tests (ids pass through).
    stacks: Option<std::sync::Arc<Stacks>>,
}

impl Cols {
    fn new(cap: usize, stacks: Option<std::sync::Arc<Stacks>>) -> Self {
        Cols {
            c: WakeupColumns::with_capacity(cap),
            stacks,
        }
    }
}

/// Decodes wakeups into `wakeup` rows, and hands the stacks on.
pub type WakeupDecoder = FixedDecoder<Cols>;

impl Rows for Cols {
    type Record = WakeupEvent;

    fn table(&self) -> &'static TableSpec {
        &ktape_format::wakeup::TABLE
    }

    fn len(&self) -> usize {
        self.c.rows()
    }

    fn append(&mut self, e: &WakeupEvent, offset_ns: i64) {
        let ts = e.ts as i64 + offset_ns;
        let s = self.stacks.as_deref();
        let (k, u) = crate::stacks::resolve_pair(s, e.tgid, e.kstack, e.ustack, ts);
        let (wk, wu) =
            crate::stacks::resolve_pair(s, e.waker_tgid, e.waker_kstack, e.waker_ustack, ts);
        let c = &mut self.c;
        c.ts.append_value(ts);
        c.cpu.append_value(e.cpu as i32);
        c.pid.append_value(e.pid as i32);
        c.tgid.append_value(e.tgid as i32);
        c.comm.append_value(&e.comm);
        c.kthread
            .append_value(e.flags as u32 & abi::WAKEUP_KTHREAD != 0);
        c.state.append_value(e.state as i64);
        c.blocked.append_value(e.blocked_ns as i64);
        c.kstack.append_value(k);
        c.ustack.append_value(u);
        c.waker_pid.append_value(e.waker_pid as i32);
        c.waker_tgid.append_value(e.waker_tgid as i32);
        c.waker_comm.append_value(&e.waker_comm);
        c.waker_kthread
            .append_value(e.flags as u32 & abi::WAKEUP_WAKER_KTHREAD != 0);
        c.waker_kstack.append_value(wk);
        c.waker_ustack.append_value(wu);
    }

    fn finish(&mut self) -> RecordBatch {
        self.c.take_batch()
    }

    fn after_flush(&mut self, sink: &mut Sink<'_>, last: bool) {
        crate::stacks::hand_over(self.stacks.as_deref(), sink, last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;

    #[test]
    fn a_wakeup_becomes_a_row_of_the_table() {
        let mut c = Cols::new(4, None);
        let mut e = WakeupEvent {
            kind: abi::KIND_WAKEUP,
            ts: 1000,
            blocked_ns: 5000,
            pid: 7,
            tgid: 6,
            waker_pid: 9,
            waker_tgid: 9,
            kstack: 3,
            ustack: -1,
            waker_kstack: 4,
            waker_ustack: -2,
            state: 1,
            flags: abi::WAKEUP_KTHREAD as u8,
            ..Default::default()
        };
        e.comm[..3].copy_from_slice(b"rdr");
        e.waker_comm[..3].copy_from_slice(b"wtr");
        c.append(&e, 10);
        let b = c.finish();
        assert_eq!(b.schema(), ktape_format::wakeup::TABLE.schema());
        let i32s = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<Int32Type>()
                .value(0)
        };
        assert_eq!(
            (i32s("pid"), i32s("waker_pid"), i32s("kstack_id")),
            (7, 9, 3)
        );
        assert_eq!((i32s("ustack_id"), i32s("waker_ustack_id")), (-1, -2));
        let kt = b.column_by_name("kthread").unwrap().as_boolean().value(0);
        let wkt = b.column_by_name("waker_kthread").unwrap().as_boolean().value(0);
        assert!(kt && !wkt);
    }
}
