//! The `bio` family: one row per completed block I/O request.
//!
//! The kernel side (`bpf/bio.bpf.c`) pairs a request's io_start, insert,
//! issue and completion by request pointer and hands over one
//! [`BioEvent`] at completion, with op and flags already normalized to
//! ktape's codes; here the events become rows of the `bio` table.

use std::collections::HashMap;
use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::bio::{BioSkel, BioSkelBuilder};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol, OptI64Col};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{Attached, DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};
use crate::procfs::DiskNames;

mod sweep;

use sweep::BioLoaded;

pub use ktape_bpf::abi::BioEvent;

/// `BioEvent::has`: an insert was seen, so `queue_ns` is meaningful.
pub const HAS_QUEUE: u8 = abi::BIO_HAS_QUEUE as u8;
/// `BioEvent::has`: the submitter was seen.
pub const HAS_SUBMITTER: u8 = abi::BIO_HAS_SUBMITTER as u8;

/// The `bio` family.
pub struct Bio;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Bio = Bio;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&ktape_format::bio::TABLE];

impl Family for Bio {
    fn name(&self) -> &'static str {
        "bio"
    }
    fn about(&self) -> &'static str {
        "block I/O requests, one row per completion"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_BIO
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_BIO]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // tp_btf gives typed, trusted arguments and is cheaper; raw_tp is
        // the fallback for kernels that refuse it.
        Ok(Box::new(BioLoaded {
            inner: bpf::with_fallback(|f| load_flavour(ctx, f))?,
            untimed: HashMap::new(),
            swept_ns: 0,
        }))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(BioDecoder::new(ctx, BioRows::new(ctx)))
    }
}

fn load_flavour(ctx: &LoadCtx, flavour: Flavour) -> Result<Attached<BioSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "bio",
        hooks: flavour.name(),
        flavour,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, BioSkelBuilder::default(), |_| {})
}

impl Skeleton for BioSkel<'static> {
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        match flavour {
            // Completion first: a request whose issue was seen must have
            // its completion seen too, or it would look unpaired.
            Flavour::TpBtf => vec![
                &p.ktape_bio_done,
                &p.ktape_bio_issue,
                &p.ktape_bio_insert,
                &p.ktape_bio_start,
            ],
            Flavour::RawTp => vec![
                &p.ktape_bio_done_raw,
                &p.ktape_bio_issue_raw,
                &p.ktape_bio_insert_raw,
                &p.ktape_bio_start_raw,
            ],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        [self.maps.ktape_bio_rq.as_fd(), self.maps.rodata.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

/// The rwbs and `-F` names of one (op, flags) pair, computed once.
struct OpNames {
    rwbs: String,
    flags: String,
}

table_columns! {
    /// Columns of the `bio` table, in column order.
    struct Columns for ktape_format::bio::TABLE;
    ts: TsCol,
    cpu: I32Col,
    dev: I64Col,
    disk: DictCol,
    op: DictCol,
    flags: DictCol,
    sector: I64Col,
    bytes: I64Col,
    latency_ns: I64Col,
    queue_ns: OptI64Col,
    error: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    cgroup_id: I64Col,
}


/// Decodes bio records into `bio` batches.
pub type BioDecoder = FixedDecoder<BioRows>;

/// The `bio` columns, and what names a row's disk and op.
pub struct BioRows {
    disks: DiskNames,
    names: HashMap<(u8, u16), OpNames>,
    cols: Columns,
}

impl BioRows {
    /// Rows for one recording.
    pub fn new(ctx: &DecodeCtx) -> Self {
        BioRows {
            disks: ctx.disks.clone(),
            names: HashMap::new(),
            cols: Columns::with_capacity(ctx.batch_rows),
        }
    }
}

impl Rows for BioRows {
    type Record = BioEvent;

    fn table(&self) -> &'static TableSpec {
        &ktape_format::bio::TABLE
    }

    fn len(&self) -> usize {
        self.cols.rows()
    }

    fn finish(&mut self) -> RecordBatch {
        self.cols.take_batch()
    }

    fn append(&mut self, e: &BioEvent, offset_ns: i64) {
        let c = &mut self.cols;
        c.ts.append_value(e.ts as i64 + offset_ns);
        c.cpu.append_value(e.cpu as i32);
        c.dev.append_value(e.dev as i64);
        c.disk
            .append_value(self.disks.get(&e.dev).map(String::as_str).unwrap_or("?"));
        let names = self
            .names
            .entry((e.op, e.flags))
            .or_insert_with(|| OpNames {
                rwbs: ktape_format::bio::rwbs(e.op, e.flags),
                flags: ktape_format::bio::flag_set_name(e.op, e.flags),
            });
        c.op.append_value(&names.rwbs);
        c.flags.append_value(&names.flags);
        c.sector.append_value(e.sector as i64);
        c.bytes.append_value(e.bytes as i64);
        c.latency_ns.append_value(e.latency_ns as i64);
        if e.has & HAS_QUEUE != 0 {
            c.queue_ns.append_value(e.queue_ns as i64);
        } else {
            c.queue_ns.append_null();
        }
        c.error.append_value(e.error);
        let known = e.has & HAS_SUBMITTER != 0;
        c.pid.append_value(if known { e.pid as i32 } else { 0 });
        c.tgid.append_value(if known { e.tgid as i32 } else { 0 });
        c.comm.append_value(if known { &e.comm } else { &[0; 16] });
        c.cgroup_id.append_value(e.cgroup_id as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampNanosecondType};
    use arrow_array::Array;
    use ktape_format::bio::{flag, op};

    fn event(ts: u64, pid: u32) -> BioEvent {
        let mut comm = [0u8; 16];
        comm[..2].copy_from_slice(b"dd");
        BioEvent {
            kind: abi::KIND_BIO,
            cpu: 1,
            ts,
            sector: 2048,
            latency_ns: 150_000,
            queue_ns: 5_000,
            cgroup_id: 77,
            dev: 254 << 20,
            bytes: 4096,
            pid,
            tgid: pid,
            error: 0,
            flags: flag::SYNC,
            op: op::WRITE,
            has: HAS_QUEUE | HAS_SUBMITTER,
            comm,
        }
    }

    fn bytes_of(e: &BioEvent) -> Vec<u8> {
        // SAFETY: BioEvent is Plain.
        unsafe { plain::as_bytes(e) }.to_vec()
    }

    fn ctx(batch_rows: usize) -> DecodeCtx {
        let mut disks = DiskNames::new();
        disks.insert(254 << 20, "vda".into());
        DecodeCtx {
            clock_offset_ns: 1_000_000_000_000,
            disks,
            batch_rows,
        }
    }

    #[test]
    fn events_become_sorted_rows() {
        let mut d = BioDecoder::new(&ctx(1000), BioRows::new(&ctx(1000)));
        let mut no_queue = event(300, 42);
        no_queue.has = HAS_SUBMITTER;
        no_queue.dev = 7 << 20;
        no_queue.flags = flag::RAHEAD;
        no_queue.op = op::READ;
        for e in [event(500, 42), no_queue, event(100, 43)] {
            d.decode(&bytes_of(&e)).unwrap();
        }
        assert!(
            d.decode(&[1, 0, 0, 0, 9]).is_err(),
            "short records are refused"
        );
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        assert!(out.is_empty(), "below batch_rows nothing is cut");
        d.flush(&mut |t, b| out.push((t.name, b)));
        let [(name, b)] = &out[..] else {
            panic!("one batch expected")
        };
        assert_eq!(*name, "bio");
        assert_eq!(b.schema(), ktape_format::bio::TABLE.schema());
        let ts: Vec<i64> = b
            .column(0)
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        assert_eq!(
            ts,
            vec![1_000_000_000_100, 1_000_000_000_300, 1_000_000_000_500]
        );
        let strs = |i: usize| -> Vec<String> {
            let dict = b.column(i).as_dictionary::<Int32Type>();
            let vals = dict.values().as_string::<i32>();
            dict.keys()
                .values()
                .iter()
                .map(|&k| vals.value(k as usize).to_string())
                .collect()
        };
        assert_eq!(strs(3), vec!["vda", "?", "vda"]);
        assert_eq!(strs(4), vec!["WS", "RA", "WS"]);
        assert_eq!(strs(5), vec!["Sync-Write", "ReadAhead-Read", "Sync-Write"]);
        assert_eq!(strs(13), vec!["dd", "dd", "dd"]);
        let q = b.column(9).as_primitive::<Int64Type>();
        assert_eq!(
            (q.is_null(0), q.is_null(1), q.value(0)),
            (false, true, 5_000)
        );
        let pid = b.column(11).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(pid.values().to_vec(), vec![43, 42, 42]);
        // A request whose submitter was not seen has no pid or comm.
        let mut anon = event(600, 42);
        anon.has = HAS_QUEUE;
        d.decode(&bytes_of(&anon)).unwrap();
        let mut out = Vec::new();
        d.end_cycle(&mut |_, _| unreachable!());
        d.flush(&mut |_, b| out.push(b));
        let b = &out[0];
        assert_eq!(
            b.column(11)
                .as_primitive::<arrow_array::types::Int32Type>()
                .value(0),
            0
        );
        let comm = b.column(13).as_dictionary::<Int32Type>();
        assert_eq!(
            comm.values()
                .as_string::<i32>()
                .value(comm.keys().value(0) as usize),
            ""
        );
        let mut after = Vec::new();
        d.flush(&mut |t, b| after.push((t.name, b)));
        assert!(after.is_empty(), "nothing left to flush");
    }

    #[test]
    fn batches_are_cut_at_batch_rows() {
        let mut d = BioDecoder::new(&ctx(2), BioRows::new(&ctx(2)));
        for i in 0..5 {
            d.decode(&bytes_of(&event(i, 1))).unwrap();
        }
        let mut out = Vec::new();
        d.end_cycle(&mut |_, b| out.push(b.num_rows()));
        assert_eq!(out, vec![2, 2]);
        d.flush(&mut |_, b| out.push(b.num_rows()));
        assert_eq!(out, vec![2, 2, 1]);
    }
}
