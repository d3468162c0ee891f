//! The `sync` family: one `sync` row per sync, fsync, fdatasync, msync,
//! sync_file_range or syncfs call, at its entry (what bcc's syncsnoop
//! shows, with the arguments besides).
//!
//! The kernel side (`bpf/sync.bpf.c`) reserves one fixed-size
//! [`SyncEvent`] per call at its entry: there is nothing to pair.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::sync::{SyncSkel, SyncSkelBuilder};
use ktape_format::sync::{call_name, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol};
use crate::family::{DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::SyncEvent;

/// The `sync` family (not `Sync`, which would shadow the marker trait).
pub struct SyncCalls;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: SyncCalls = SyncCalls;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for SyncCalls {
    fn name(&self) -> &'static str {
        "sync"
    }
    fn about(&self) -> &'static str {
        "sync/fsync/fdatasync/msync/sync_file_range/syncfs calls, at their entry"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_SYNC
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_SYNC]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let obj = bpf::Object {
            family: "sync",
            hooks: "tracepoint",
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: false,
        };
        let attached = obj.attached(ctx, SyncSkelBuilder::default(), |_| {})?;
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(SyncDecoder::new(ctx, Columns::with_capacity(0)))
    }
}

impl Skeleton for SyncSkel<'static> {
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        vec![
            &p.ktape_sync_enter,
            &p.ktape_fsync_enter,
            &p.ktape_fdatasync_enter,
            &p.ktape_msync_enter,
            &p.ktape_sync_file_range_enter,
            &p.ktape_syncfs_enter,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        [self.maps.rodata.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

table_columns! {
    /// Columns of the `sync` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    call: DictCol,
    fd: I32Col,
    offset: I64Col,
    nbytes: I64Col,
    flags: I64Col,
}

/// Decodes sync records into `sync` batches, in time order per drain
/// cycle (the per-CPU rings interleave).
pub type SyncDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = SyncEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &SyncEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.call.append_value(call_name(e.call));
        self.fd.append_value(e.fd);
        self.offset.append_value(e.offset as i64);
        self.nbytes.append_value(e.nbytes as i64);
        self.flags.append_value(e.flags as i64);
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

    #[test]
    fn syncs_become_rows_in_time_order() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = SyncDecoder::new(&ctx, Columns::with_capacity(0));
        let fsync = SyncEvent {
            kind: abi::KIND_SYNC,
            ts: 200,
            fd: 3,
            call: abi::SYNC_CALL_FSYNC as u8,
            ..Default::default()
        };
        let sync = SyncEvent {
            ts: 100,
            fd: -1,
            call: abi::SYNC_CALL_SYNC as u8,
            ..fsync
        };
        // SAFETY: SyncEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&fsync) }).unwrap();
        d.decode(unsafe { plain::as_bytes(&sync) }).unwrap();
        assert!(d.decode(&[0u8; 20]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let fd = b.column(6).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(fd.values().to_vec(), vec![-1, 3], "sorted by time");
    }
}
