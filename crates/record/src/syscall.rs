//! The `syscall` family: every system call, counted in the kernel per
//! second x process x syscall x errno (`syscall` rows, what bcc's syscount
//! sums), and the slow calls one by one (`syscall_slow` rows).
//!
//! The kernel side (`bpf/syscall.bpf.c`) keeps the per-call work in the
//! kernel: a hash entry per key, whose key carries the second the calls
//! returned in. Only slow calls go through the rings (fixed-size
//! [`SyscallEvent`]s). The decoder, on the drain thread, harvests the
//! seconds that are over at every flush with
//! [`crate::seconds::SecondMap`], and every entry after the programs are
//! detached; the loaded object hands it the map through [`AGGREGATES`].

use std::os::fd::AsFd;
use std::sync::Mutex;

use arrow_array::RecordBatch;
use ktape_bpf::syscall::{SyscallSkel, SyscallSkelBuilder};
use ktape_format::syscall::{display_name, AGG_TABLE, SLOW_TABLE};
use ktape_format::TableSpec;
use libbpf_rs::{MapHandle, ProgramMut};

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, I64ListCol, TsCol};
use crate::family::{
    DecodeCtx, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink, Skeleton,
};
use crate::fixed::{FixedDecoder, Rows};
use crate::seconds::{self, SecondMap};

pub use ktape_bpf::abi::{SyscallAgg, SyscallEvent, SyscallKey};

/// Options of the syscall family.
#[derive(Debug, Clone, clap::Args)]
pub struct SyscallOptions {
    /// syscall: calls that take at least this many milliseconds also get a
    /// `syscall_slow` row of their own (0: none; every call is counted in
    /// the `syscall` table either way).
    #[arg(long, value_name = "MS", default_value_t = ktape_format::syscall::DEFAULT_SLOW_MS)]
    pub syscall_slow: u64,
    /// syscall: room in the kernel for this many (second, process,
    /// syscall, errno) counters at once; a call that finds it full is
    /// counted as lost (map_full). Memory is used only as keys appear.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEYS)]
    pub syscall_keys: u32,
}

/// Default of `--syscall-keys`: a few thousand keys a second on a busy
/// host, kept for about two seconds, with room to spare.
pub const DEFAULT_KEYS: u32 = 65536;

impl FamilyOptions for SyscallOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        if !(1024..=1 << 22).contains(&self.syscall_keys) {
            return Err(OptionError(format!(
                "--syscall-keys must be between 1024 and {}, not {}",
                1 << 22,
                self.syscall_keys
            )));
        }
        if self.syscall_slow > 3_600_000 {
            return Err(OptionError(format!(
                "--syscall-slow is in milliseconds and at most an hour (3600000), not {}",
                self.syscall_slow
            )));
        }
        Ok(())
    }
}

/// The aggregate map of the loaded object, for the decoder (set by
/// [`Family::load`], taken by [`Family::decoder`]).
static AGGREGATES: Mutex<Option<MapHandle>> = Mutex::new(None);

/// The `syscall` family.
pub struct Syscall;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Syscall = Syscall;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = SyscallOptions;

static TABLES: [&TableSpec; 2] = [&AGG_TABLE, &SLOW_TABLE];

impl Family for Syscall {
    fn name(&self) -> &'static str {
        "syscall"
    }
    fn about(&self) -> &'static str {
        "every syscall, counted per second and process in the kernel; slow ones one by one"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_SYSCALL
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_SYSCALL_SLOW]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let attached = bpf::with_fallback(|flavour| {
            let obj = bpf::Object {
                family: "syscall",
                hooks: flavour.name(),
                flavour,
                skip: &[],
                stacks: false,
            };
            let opts = &ctx.options.syscall;
            obj.attached(ctx, SyscallSkelBuilder::default(), |open| {
                let _ = open.maps.ktape_syscall_agg.set_max_entries(opts.syscall_keys);
                if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                    ro.slow_ns = opts.syscall_slow * 1_000_000;
                    ro.skip_tgid = std::process::id();
                }
            })
        })?;
        let handle = seconds::handle(
            attached.skel().maps.ktape_syscall_agg.as_fd(),
            "ktape_syscall_agg",
        )?;
        *AGGREGATES.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        let map = AGGREGATES.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::new(SyscallDecoder::new(ctx, Columns::new(ctx, map)))
    }
}

impl Skeleton for SyscallSkel<'static> {
    /// Exits first, so that no entry waits for an exit hook that is not
    /// there yet.
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        match flavour {
            Flavour::TpBtf => vec![&p.ktape_sys_exit, &p.ktape_sys_enter],
            Flavour::RawTp => vec![&p.ktape_sys_exit_raw, &p.ktape_sys_enter_raw],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_syscall_start.as_fd(),
            m.ktape_syscall_agg.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

table_columns! {
    /// Columns of `syscall_slow`, in column order.
    pub struct SlowColumns for SLOW_TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    nr: I32Col,
    syscall: DictCol,
    ret: I64Col,
    latency_ns: I64Col,
    cgroup_id: I64Col,
}

table_columns! {
    /// Columns of `syscall`, in column order.
    pub struct AggColumns for AGG_TABLE;
    ts: TsCol,
    tgid: I32Col,
    comm: CommDict,
    nr: I32Col,
    syscall: DictCol,
    errno: I32Col,
    count: I64Col,
    total_ns: I64Col,
    max_ns: I64Col,
    latency_hist: I64ListCol,
}

/// Slow calls (from the rings) and the aggregates (from the map).
pub struct Columns {
    slow: SlowColumns,
    agg: AggColumns,
    map: SecondMap<SyscallKey, SyscallAgg>,
    offset_ns: i64,
}

impl Columns {
    fn new(ctx: &DecodeCtx, map: Option<MapHandle>) -> Self {
        Columns {
            slow: SlowColumns::with_capacity(0),
            agg: AggColumns::with_capacity(0),
            map: SecondMap::new("syscall", map),
            offset_ns: ctx.clock_offset_ns,
        }
    }

    /// Moves the entries of the seconds that are over (all of them when
    /// `last`) from the map into `syscall` rows.
    fn harvest(&mut self, now_mono_ns: i64, last: bool) {
        let entries = self.map.harvest(now_mono_ns, last, |k| k.sec);
        entries.sort_unstable_by_key(|(k, _)| (k.sec, k.tgid, k.nr, k.err));
        for (k, a) in entries.iter() {
            let c = &mut self.agg;
            c.ts.append_value(k.sec as i64 * 1_000_000_000 + self.offset_ns);
            c.tgid.append_value(k.tgid as i32);
            c.comm.append_value(&a.comm);
            c.nr.append_value(k.nr as i32);
            c.syscall.append_value(display_name(k.nr));
            c.errno.append_value(k.err as i32);
            c.count.append_value(a.count as i64);
            c.total_ns.append_value(a.total_ns as i64);
            c.max_ns.append_value(a.max_ns as i64);
            let used = a.hist.iter().rposition(|&n| n != 0).map_or(0, |i| i + 1);
            c.latency_hist
                .append_row(a.hist[..used].iter().map(|&n| n as i64));
        }
    }
}

/// Decodes slow-call records into `syscall_slow` batches and harvests the
/// aggregates into `syscall` batches at each flush.
pub type SyscallDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = SyscallEvent;

    fn table(&self) -> &'static TableSpec {
        &SLOW_TABLE
    }

    fn len(&self) -> usize {
        self.slow.rows()
    }

    fn append(&mut self, e: &SyscallEvent, offset_ns: i64) {
        let c = &mut self.slow;
        c.ts.append_value(e.ts as i64 + offset_ns);
        c.cpu.append_value(e.cpu as i32);
        c.pid.append_value(e.pid as i32);
        c.tgid.append_value(e.tgid as i32);
        c.comm.append_value(&e.comm);
        c.nr.append_value(e.nr as i32);
        c.syscall.append_value(display_name(e.nr));
        c.ret.append_value(e.ret);
        c.latency_ns.append_value(e.latency_ns as i64);
        c.cgroup_id.append_value(e.cgroup_id as i64);
    }

    fn finish(&mut self) -> RecordBatch {
        self.slow.take_batch()
    }

    fn after_flush(&mut self, sink: &mut Sink<'_>, last: bool) {
        self.harvest(crate::clock::mono_now_ns(), last);
        if self.agg.rows() > 0 {
            sink(&AGG_TABLE, self.agg.take_batch());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::DiskNames;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    #[test]
    fn slow_calls_become_rows_with_names() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = SyscallDecoder::new(&ctx, Columns::new(&ctx, None));
        let e = SyscallEvent {
            kind: abi::KIND_SYSCALL_SLOW,
            ts: 500,
            latency_ns: 20_000_000,
            ret: -4,
            nr: 0,
            pid: 9,
            tgid: 8,
            ..Default::default()
        };
        // SAFETY: SyscallEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&e) }).unwrap();
        assert!(d.decode(&[0u8; 10]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.finish(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1, "no map: no aggregate batch");
        let b = &out[0].1;
        assert_eq!(b.schema(), SLOW_TABLE.schema());
        let ret = b.column(7).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(ret.value(0), -4);
        let name = b.column(6).as_dictionary::<arrow_array::types::Int32Type>();
        let values = name.values().as_string::<i32>();
        let want = if cfg!(target_arch = "x86_64") { "read" } else { "syscall_0" };
        assert_eq!(values.value(name.keys().value(0) as usize), want);
        assert!(!ret.is_null(0));
    }
}
