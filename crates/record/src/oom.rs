//! The `oom` family: one `oom` row per task the OOM killer chooses, with
//! the task whose allocation triggered it (what bcc's oomkill prints) and
//! the victim's memory.
//!
//! The kernel side (`bpf/oom.bpf.c`) hands over one fixed-size
//! [`OomEvent`] at `oom:mark_victim`, with sizes in pages; the decoder
//! turns them into bytes with this host's page size and adds
//! `/proc/loadavg` as read when the row arrives (bcc reads it when it
//! prints, which is the same moment give or take a drain cycle). OOM
//! kills are rare, so the file read per row costs nothing that matters.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::oom::{OomSkel, OomSkelBuilder};
use ktape_format::oom::TABLE;
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, I32Col, I64Col, TextCol, TsCol};
use crate::family::{Attached, DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::OomEvent;

/// The `oom` family.
pub struct Oom;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Oom = Oom;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Oom {
    fn name(&self) -> &'static str {
        "oom"
    }
    fn about(&self) -> &'static str {
        "OOM kills: the victim, its memory, and the task that triggered the kill"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_OOM
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_OOM]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        Ok(Box::new(bpf::with_fallback(|f| load_flavour(ctx, f))?))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(OomDecoder::new(ctx, OomRows::new(page_size())))
    }
}

fn load_flavour(ctx: &LoadCtx, flavour: Flavour) -> Result<Attached<OomSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "oom",
        hooks: if flavour.btf() { "tp_btf" } else { "raw_tp" },
        flavour,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, OomSkelBuilder::default(), |_| {})
}

impl Skeleton for OomSkel<'static> {
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        vec![match flavour {
            Flavour::TpBtf => &p.ktape_mark_victim,
            Flavour::RawTp => &p.ktape_mark_victim_raw,
        }]
    }

    fn own_maps(&self) -> Vec<u32> {
        [self.maps.rodata.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

/// This host's page size in bytes (4096 when sysconf cannot tell).
fn page_size() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as i64
    } else {
        4096
    }
}

/// `/proc/loadavg` without its newline, or empty when it cannot be read.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

table_columns! {
    /// Columns of the `oom` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    cgroup_id: I64Col,
    victim_pid: I32Col,
    victim_tgid: I32Col,
    victim_comm: CommDict,
    victim_uid: I64Col,
    victim_cgroup_id: I64Col,
    oom_score_adj: I32Col,
    total_vm: I64Col,
    anon_rss: I64Col,
    file_rss: I64Col,
    shmem_rss: I64Col,
    pgtables: I64Col,
    page_size: I32Col,
    loadavg: TextCol,
}

/// The `oom` columns and the host facts each row adds to its record.
pub struct OomRows {
    cols: Columns,
    page_size: i64,
    /// Where the load average is read; a function so tests need no /proc.
    loadavg: fn() -> String,
}

impl OomRows {
    fn new(page_size: i64) -> Self {
        OomRows {
            cols: Columns::with_capacity(0),
            page_size,
            loadavg,
        }
    }
}

/// Decodes OOM records into `oom` batches, in time order per drain cycle.
pub type OomDecoder = FixedDecoder<OomRows>;

impl Rows for OomRows {
    type Record = OomEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.cols.rows()
    }

    fn append(&mut self, e: &OomEvent, offset_ns: i64) {
        let c = &mut self.cols;
        let pages = |n: u64| (n as i64).saturating_mul(self.page_size);
        c.ts.append_value(e.ts as i64 + offset_ns);
        c.cpu.append_value(e.cpu as i32);
        c.pid.append_value(e.pid as i32);
        c.tgid.append_value(e.tgid as i32);
        c.comm.append_value(&e.comm);
        c.cgroup_id.append_value(e.cgroup_id as i64);
        c.victim_pid.append_value(e.victim_pid as i32);
        c.victim_tgid.append_value(e.victim_tgid as i32);
        c.victim_comm.append_value(&e.victim_comm);
        c.victim_uid.append_value(e.victim_uid as i64);
        c.victim_cgroup_id.append_value(e.victim_cgroup_id as i64);
        c.oom_score_adj.append_value(e.oom_score_adj as i32);
        c.total_vm.append_value(pages(e.total_vm));
        c.anon_rss.append_value(pages(e.anon_rss));
        c.file_rss.append_value(pages(e.file_rss));
        c.shmem_rss.append_value(pages(e.shmem_rss));
        c.pgtables.append_value(e.pgtables as i64);
        c.page_size.append_value(self.page_size as i32);
        c.loadavg.append_value((self.loadavg)());
    }

    fn finish(&mut self) -> RecordBatch {
        self.cols.take_batch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::DiskNames;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};

    #[test]
    fn kills_become_rows_with_bytes_and_loadavg() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut rows = OomRows::new(4096);
        rows.loadavg = || "0.99 0.39 0.30 3/282 22724".to_string();
        let mut d = OomDecoder::new(&ctx, rows);
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"perl");
        let later = OomEvent {
            kind: abi::KIND_OOM,
            ts: 500,
            total_vm: 10,
            anon_rss: 3,
            pgtables: 8192,
            pid: 7,
            tgid: 7,
            victim_pid: 8,
            victim_tgid: 8,
            oom_score_adj: -17,
            victim_comm: comm,
            ..Default::default()
        };
        let earlier = OomEvent {
            ts: 100,
            victim_pid: 9,
            ..later
        };
        // SAFETY: OomEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&later) }).unwrap();
        d.decode(unsafe { plain::as_bytes(&earlier) }).unwrap();
        assert!(d.decode(&[0u8; 20]).is_err(), "a short record is refused");
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let col = |n: &str| b.column(TABLE.schema().index_of(n).unwrap()).clone();
        let victim = col("victim_pid");
        assert_eq!(
            victim.as_primitive::<Int32Type>().values().to_vec(),
            vec![9, 8],
            "sorted by time"
        );
        let vm = col("total_vm");
        assert_eq!(vm.as_primitive::<Int64Type>().value(1), 40_960);
        let anon = col("anon_rss");
        assert_eq!(anon.as_primitive::<Int64Type>().value(1), 12_288);
        let pgt = col("pgtables");
        assert_eq!(pgt.as_primitive::<Int64Type>().value(1), 8192, "already bytes");
        let adj = col("oom_score_adj");
        assert_eq!(adj.as_primitive::<Int32Type>().value(1), -17);
        let load = col("loadavg");
        assert_eq!(load.as_string::<i32>().value(0), "0.99 0.39 0.30 3/282 22724");
    }
}
