//! The `open` family: one `open` row per open/openat/openat2 call, failed
//! ones included (what bcc's opensnoop shows).
//!
//! The kernel side (`bpf/open.bpf.c`) copies path, flags and mode at the
//! syscall's entry, pairs entry and return by thread id and hands over one
//! fixed-size [`OpenEvent`] at the return with the latency.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::open::{KtapeOpenSkel, KtapeOpenSkelBuilder};
use ktape_format::open::TABLE;
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi::{self, cstr};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol, OptI32Col};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::OpenEvent;

/// The `open` family.
pub struct Open;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Open = Open;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Open {
    fn name(&self) -> &'static str {
        "open"
    }
    fn about(&self) -> &'static str {
        "open/openat/openat2 calls, failed ones too"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_OPEN
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_OPEN]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // open(2) does not exist on every architecture (arm64 has only
        // openat); its hooks are optional.
        let skip: &[&str] = if crate::tracefs::event_exists("syscalls", "sys_enter_open") {
            &[]
        } else {
            &["ktape_open_enter", "ktape_open_exit"]
        };
        let obj = bpf::Object {
            family: "open",
            hooks: "tracepoint",
            flavour: Flavour::TpBtf,
            skip,
            stacks: false,
        };
        let attached = obj.attached(ctx, KtapeOpenSkelBuilder::default(), |_| {})?;
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(OpenDecoder::new(ctx, Columns::with_capacity(0)))
    }
}

impl Skeleton for KtapeOpenSkel<'static> {
    /// The loaded programs, exits first so that no entry waits for an
    /// exit hook that is not there yet.
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        [
            &p.ktape_open_exit,
            &p.ktape_openat_exit,
            &p.ktape_openat2_exit,
            &p.ktape_open_enter,
            &p.ktape_openat_enter,
            &p.ktape_openat2_enter,
        ]
        .into_iter()
        .filter(|p| p.autoload())
        .collect()
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_open_start.as_fd(),
            m.ktape_open_heap.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

table_columns! {
    /// Columns of the `open` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    uid: I64Col,
    comm: CommDict,
    path: DictCol,
    flags: I64Col,
    mode: I32Col,
    fd: OptI32Col,
    errno: I32Col,
    latency_ns: I64Col,
}


/// Decodes open records into `open` batches, in time order per drain
/// cycle (the per-CPU rings interleave).
pub type OpenDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = OpenEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &OpenEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.uid.append_value(e.uid as i64);
        self.comm.append_value(&e.comm);
        self.path.append_value(cstr(&e.path));
        self.flags.append_value(e.flags as i64);
        self.mode.append_value(e.mode as i32);
        if e.ret >= 0 {
            self.fd.append_value(e.ret);
            self.errno.append_value(0);
        } else {
            self.fd.append_null();
            self.errno.append_value(-e.ret);
        }
        self.latency_ns.append_value(e.latency_ns as i64);
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
    use arrow_array::Array;

    #[test]
    fn opens_become_rows_in_time_order() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = OpenDecoder::new(&ctx, Columns::with_capacity(0));
        let mut ok = OpenEvent {
            kind: abi::KIND_OPEN,
            ts: 200,
            latency_ns: 7,
            flags: 0o101,
            mode: 0o644,
            pid: 5,
            tgid: 5,
            ret: 3,
            ..Default::default()
        };
        ok.path[..4].copy_from_slice(b"/etc");
        let mut bad = ok;
        bad.ts = 100;
        bad.ret = -2;
        // SAFETY: OpenEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&ok) }).unwrap();
        d.decode(unsafe { plain::as_bytes(&bad) }).unwrap();
        assert!(d.decode(&[0u8; 20]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let fd = b.column(9).as_primitive::<arrow_array::types::Int32Type>();
        assert!(fd.is_null(0) && fd.value(1) == 3, "sorted by time");
        let errno = b.column(10).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(errno.values().to_vec(), vec![2, 0]);
    }
}
