//! The `stat` family: one `stat` row per statfs, stat, lstat, fstat,
//! newfstatat or statx call, failed ones included (what bcc's statsnoop
//! shows), or only the failed ones with `--stat-failed-only`.
//!
//! Stats are high-rate, so the kernel side (`bpf/stat.bpf.c`) keeps a
//! small per-thread entry and sends a record only as long as its path: a
//! [`StatEvent`] cut after the path's NUL. [`StatDecoder`] pads each record
//! back to the full struct (the bytes past the NUL are zeros) and hands it
//! to the shared [`FixedDecoder`].

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::stat::{StatSkel, StatSkelBuilder};
use ktape_format::stat::{call_name, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol};
use crate::family::{
    DecodeCtx, DecodeError, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
    Skeleton,
};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::StatEvent;

/// Options of the stat family.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StatOptions {
    /// stat: keep only failed stat calls, dropping successful ones in the
    /// kernel before their path is read (for "who looks for missing
    /// files" on a host doing a million stats a second; statsnoop then
    /// shows what `-x` would).
    #[arg(long)]
    pub stat_failed_only: bool,
}

impl FamilyOptions for StatOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        Ok(())
    }
}

/// The `stat` family.
pub struct Stat;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Stat = Stat;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = StatOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

/// The calls whose tracepoints an architecture may lack (arm64 has no
/// stat, lstat or fstat of its own, only newfstatat): optional.
const OPTIONAL: [(&str, &str, &str); 3] = [
    ("sys_enter_newstat", "ktape_newstat_enter", "ktape_newstat_exit"),
    ("sys_enter_newlstat", "ktape_newlstat_enter", "ktape_newlstat_exit"),
    ("sys_enter_newfstat", "ktape_newfstat_enter", "ktape_newfstat_exit"),
];

impl Family for Stat {
    fn name(&self) -> &'static str {
        "stat"
    }
    fn about(&self) -> &'static str {
        "statfs/stat/lstat/fstat/newfstatat/statx calls, failed ones too"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_STAT
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_STAT]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let skip: Vec<&str> = OPTIONAL
            .iter()
            .filter(|(event, _, _)| !crate::tracefs::event_exists("syscalls", event))
            .flat_map(|&(_, enter, exit)| [enter, exit])
            .collect();
        let obj = bpf::Object {
            family: "stat",
            hooks: "tracepoint",
            flavour: Flavour::TpBtf,
            skip: &skip,
            stacks: false,
        };
        let failed_only = ctx.options.stat.stat_failed_only;
        let attached = obj.attached(ctx, StatSkelBuilder::default(), |open| {
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.failed_only = failed_only as u8;
            }
        })?;
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(StatDecoder(FixedDecoder::new(ctx, Columns::with_capacity(0))))
    }
}

impl Skeleton for StatSkel<'static> {
    /// The loaded programs, exits first so that no entry waits for an
    /// exit hook that is not there yet.
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        [
            &p.ktape_statfs_exit,
            &p.ktape_newstat_exit,
            &p.ktape_newlstat_exit,
            &p.ktape_newfstat_exit,
            &p.ktape_newfstatat_exit,
            &p.ktape_statx_exit,
            &p.ktape_statfs_enter,
            &p.ktape_newstat_enter,
            &p.ktape_newlstat_enter,
            &p.ktape_newfstat_enter,
            &p.ktape_newfstatat_enter,
            &p.ktape_statx_enter,
        ]
        .into_iter()
        .filter(|p| p.autoload())
        .collect()
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_stat_start.as_fd(),
            m.ktape_stat_heap.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

table_columns! {
    /// Columns of the `stat` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    call: DictCol,
    dfd: I32Col,
    path: DictCol,
    errno: I32Col,
    latency_ns: I64Col,
}

/// Decodes stat records, each as long as its path, into `stat` batches
/// in time order per drain cycle.
pub struct StatDecoder(FixedDecoder<Columns>);

impl Decoder for StatDecoder {
    #[inline]
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        const HDR: usize = abi::STAT_EVENT_HDR as usize;
        const SIZE: usize = abi::STAT_EVENT_SIZE as usize;
        if rec.len() < HDR + 1 {
            return Err(DecodeError::Short {
                family: "stat",
                got: rec.len(),
                want: HDR + 1,
            });
        }
        let mut full = [0u8; SIZE];
        let n = rec.len().min(SIZE);
        full[..n].copy_from_slice(&rec[..n]);
        self.0.decode(&full)
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        self.0.end_cycle(sink)
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.0.flush(sink)
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        self.0.finish(sink)
    }
}

impl Rows for Columns {
    type Record = StatEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &StatEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.call.append_value(call_name(e.call));
        self.dfd.append_value(e.dfd);
        // path_len is the kernel's count; the NUL decides if they differ.
        let len = (e.path_len as usize).min(e.path.len());
        self.path.append_value(abi::cstr(&e.path[..len]));
        self.errno.append_value(if e.ret < 0 { -e.ret } else { 0 });
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
    use arrow_array::types::Int32Type;
    use arrow_array::Array;

    fn strings(a: &dyn Array) -> Vec<String> {
        let d = a.as_dictionary::<Int32Type>();
        let v = d.values().as_string::<i32>();
        d.keys()
            .iter()
            .map(|k| v.value(k.unwrap() as usize).to_string())
            .collect()
    }

    /// A record as the kernel sends it: cut after the path's NUL.
    fn record(ts: u64, ret: i32, path: &str) -> Vec<u8> {
        let mut e = StatEvent {
            kind: abi::KIND_STAT,
            ts,
            ret,
            dfd: -100,
            call: abi::STAT_CALL_NEWFSTATAT as u8,
            path_len: path.len() as u16,
            ..Default::default()
        };
        e.path[..path.len()].copy_from_slice(path.as_bytes());
        // SAFETY: StatEvent is Plain.
        let bytes = unsafe { plain::as_bytes(&e) };
        bytes[..abi::STAT_EVENT_HDR as usize + path.len() + 1].to_vec()
    }

    #[test]
    fn short_records_become_rows_in_time_order() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = StatDecoder(FixedDecoder::new(&ctx, Columns::with_capacity(0)));
        d.decode(&record(200, 0, "/etc/passwd")).unwrap();
        d.decode(&record(100, -2, "/nope")).unwrap();
        d.decode(&record(300, 0, "")).unwrap();
        assert!(d.decode(&[0u8; 40]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let errno = b.column(8).as_primitive::<Int32Type>();
        assert_eq!(errno.values().to_vec(), vec![2, 0, 0], "sorted by time");
        assert_eq!(strings(b.column(7)), ["/nope", "/etc/passwd", ""]);
        assert_eq!(strings(b.column(5))[0], "newfstatat");
    }
}
