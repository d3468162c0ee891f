//! The `signal` family: one `signal` row per kill/tkill/tgkill call
//! (failed ones too, what bcc's killsnoop shows) and one per signal the
//! kernel generates outside those calls (SIGSEGV, SIGPIPE, SIGCHLD, the
//! OOM killer's SIGKILL), which killsnoop never sees.
//!
//! The kernel side (`bpf/signal.bpf.c`) parks each call by thread id at
//! its entry, folds the `signal_generate` of the same signal in the same
//! thread into it (so a kill is one row, not two) and hands over one
//! fixed-size [`SignalEvent`] at the return; other generations come as
//! records of their own with source `kernel`.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::signal::{SignalSkel, SignalSkelBuilder};
use ktape_format::signal::{RESULTS, RESULT_NONE, SOURCES, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, OptI32Col, TsCol};
use crate::family::{Attached, DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::SignalEvent;

/// The `signal` family.
pub struct Signal;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Signal = Signal;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Signal {
    fn name(&self) -> &'static str {
        "signal"
    }
    fn about(&self) -> &'static str {
        "kill/tkill/tgkill calls (failed ones too), and signals the kernel sends"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_SIGNAL
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_SIGNAL]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // signal_generate as tp_btf, raw_tp as the fallback; the syscall
        // hooks are classic tracepoints either way.
        Ok(Box::new(bpf::with_fallback(|f| load_flavour(ctx, f))?))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(SignalDecoder::new(ctx, Columns::with_capacity(0)))
    }
}

fn load_flavour(ctx: &LoadCtx, flavour: Flavour) -> Result<Attached<SignalSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "signal",
        hooks: if flavour.btf() {
            "tracepoint+tp_btf"
        } else {
            "tracepoint+raw_tp"
        },
        flavour,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, SignalSkelBuilder::default(), |_| {})
}

impl Skeleton for SignalSkel<'static> {
    /// The exits first, then signal_generate, the entries last: a call
    /// parked at its entry always finds the hooks that complete it.
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        let generate = match flavour {
            Flavour::TpBtf => &p.ktape_signal_generate,
            Flavour::RawTp => &p.ktape_signal_generate_raw,
        };
        vec![
            &p.ktape_kill_exit,
            &p.ktape_tkill_exit,
            &p.ktape_tgkill_exit,
            generate,
            &p.ktape_kill_enter,
            &p.ktape_tkill_enter,
            &p.ktape_tgkill_enter,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [m.ktape_signal_start.as_fd(), m.rodata.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

table_columns! {
    /// Columns of the `signal` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    uid: I64Col,
    comm: CommDict,
    cgroup_id: I64Col,
    source: DictCol,
    sig: I32Col,
    target: I32Col,
    target_tgid: OptI32Col,
    target_comm: CommDict,
    ret: OptI32Col,
    code: OptI32Col,
    result: DictCol,
    generated: I32Col,
}

/// Decodes signal records into `signal` batches, in time order per drain
/// cycle (the per-CPU rings interleave).
pub type SignalDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = SignalEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &SignalEvent, offset_ns: i64) {
        let generated = e.has & abi::SIGNAL_HAS_GEN as u8 != 0;
        let kernel = e.source as u32 == abi::SIGNAL_KERNEL;
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.uid.append_value(e.uid as i64);
        self.comm.append_value(&e.comm);
        self.cgroup_id.append_value(e.cgroup_id as i64);
        self.source
            .append_value(SOURCES.get(e.source as usize).copied().unwrap_or("unknown"));
        self.sig.append_value(e.sig);
        self.target.append_value(e.target);
        if generated || e.has & abi::SIGNAL_HAS_TGID as u8 != 0 {
            self.target_tgid.append_value(e.target_tgid);
        } else {
            self.target_tgid.append_null();
        }
        if generated {
            self.target_comm.append_value(&e.target_comm);
            self.code.append_value(e.code);
            self.result.append_value(
                RESULTS
                    .get(e.result as usize)
                    .copied()
                    .unwrap_or("unknown"),
            );
        } else {
            self.target_comm.append_null();
            self.code.append_null();
            self.result.append_value(RESULT_NONE);
        }
        if kernel {
            self.ret.append_null();
        } else {
            self.ret.append_value(e.ret);
        }
        self.generated.append_value(e.generated as i32);
    }

    fn finish(&mut self) -> RecordBatch {
        self.take_batch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::DiskNames;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;

    #[test]
    fn calls_and_kernel_signals_become_rows() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = SignalDecoder::new(&ctx, Columns::with_capacity(0));
        let mut failed = SignalEvent {
            kind: abi::KIND_SIGNAL,
            ts: 300,
            pid: 7,
            tgid: 7,
            sig: 15,
            target: 999_999,
            ret: -3,
            source: abi::SIGNAL_KILL as u8,
            ..Default::default()
        };
        failed.comm[..4].copy_from_slice(b"bash");
        let mut kernel = failed;
        kernel.ts = 100;
        kernel.sig = 11;
        kernel.target = 8;
        kernel.target_tgid = 8;
        kernel.ret = 0;
        kernel.code = 1;
        kernel.generated = 1;
        kernel.source = abi::SIGNAL_KERNEL as u8;
        kernel.has = abi::SIGNAL_HAS_GEN as u8;
        kernel.target_comm[..3].copy_from_slice(b"seg");
        // SAFETY: SignalEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&failed) }).unwrap();
        d.decode(unsafe { plain::as_bytes(&kernel) }).unwrap();
        assert!(d.decode(&[0u8; 20]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let col = |n: &str| b.column(TABLE.schema().index_of(n).unwrap()).clone();
        let ret = col("ret");
        let ret = ret.as_primitive::<Int32Type>();
        assert!(ret.is_null(0) && ret.value(1) == -3, "kernel row first (by time)");
        let tgid = col("target_tgid");
        let tgid = tgid.as_primitive::<Int32Type>();
        assert!(tgid.value(0) == 8 && tgid.is_null(1));
        assert!(col("target_comm").is_null(1) && col("code").is_null(1));
        let src = col("source");
        let src = src.as_dictionary::<Int32Type>();
        let names = src.values().as_string::<i32>();
        let s: Vec<&str> = src.keys().values().iter().map(|&k| names.value(k as usize)).collect();
        assert_eq!(s, vec!["kernel", "kill"]);
        let res = col("result");
        let res = res.as_dictionary::<Int32Type>();
        let names = res.values().as_string::<i32>();
        let r: Vec<&str> = res.keys().values().iter().map(|&k| names.value(k as usize)).collect();
        assert_eq!(r, vec!["delivered", "none"]);
    }
}
