//! The `fileio` family: one `file_op` row per read, write, pread64,
//! pwrite64, readv, writev, fsync or fdatasync on a regular file, at least
//! `--min-latency` long (bcc's fsslower and filetop, from syscall
//! tracepoints).
//!
//! The kernel side (`bpf/fileio.bpf.c`) resolves the fd to its file at the
//! syscall's entry and drops everything that is not a regular file there;
//! it pairs entry and return by pid_tgid, drops calls shorter than
//! `--min-latency`, and hands over one fixed-size [`FileOpEvent`] with the
//! file's filesystem type, device, inode and name.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::fileio::{FileioSkel, FileioSkelBuilder};
use ktape_format::fileio::{op_name, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi::{self, cstr};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{
    DecodeCtx, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Skeleton,
};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::FileOpEvent;

/// Options of the fileio family.
#[derive(Debug, Clone, clap::Args)]
pub struct FileioOptions {
    /// fileio: shortest file operation recorded (filtered in the kernel),
    /// in microseconds or with a unit (`500us`, `1ms`, `2s`). Default: 0,
    /// every operation (filetop needs them all; fsslower filters again).
    #[arg(long, value_name = "TIME", default_value = "0")]
    pub min_latency: String,
    /// `--min-latency` in ns, once validated.
    #[arg(skip)]
    pub min_latency_ns: u64,
}

impl FamilyOptions for FileioOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        self.min_latency_ns = crate::cli::parse_min_time("--min-latency", &self.min_latency)?;
        Ok(())
    }
}

/// The `fileio` family.
pub struct Fileio;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Fileio = Fileio;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = FileioOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Fileio {
    fn name(&self) -> &'static str {
        "fileio"
    }
    fn about(&self) -> &'static str {
        "reads, writes and syncs of regular files, --min-latency and longer"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_FILEIO
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_FILE_OP]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let obj = bpf::Object {
            family: "fileio",
            hooks: "tracepoint",
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: false,
        };
        let attached = obj.attached(ctx, FileioSkelBuilder::default(), |open| {
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.min_latency_ns = ctx.options.fileio.min_latency_ns;
                ro.skip_tgid = std::process::id();
            }
        })?;
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(FileOpDecoder::new(ctx, Columns::with_capacity(0)))
    }
}

impl Skeleton for FileioSkel<'static> {
    /// The programs, exits first so that no entry waits for an exit hook
    /// that is not there yet.
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        vec![
            &p.ktape_read_exit,
            &p.ktape_write_exit,
            &p.ktape_pread64_exit,
            &p.ktape_pwrite64_exit,
            &p.ktape_readv_exit,
            &p.ktape_writev_exit,
            &p.ktape_fsync_exit,
            &p.ktape_fdatasync_exit,
            &p.ktape_read_enter,
            &p.ktape_write_enter,
            &p.ktape_pread64_enter,
            &p.ktape_pwrite64_enter,
            &p.ktape_readv_enter,
            &p.ktape_writev_enter,
            &p.ktape_fsync_enter,
            &p.ktape_fdatasync_enter,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_fileio_start.as_fd(),
            m.ktape_fileio_heap.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

table_columns! {
    /// Columns of the `file_op` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    op: DictCol,
    fs: DictCol,
    dev: I64Col,
    inode: I64Col,
    path: DictCol,
    offset: I64Col,
    bytes: I64Col,
    ret: I64Col,
    latency_ns: I64Col,
    cgroup_id: I64Col,
}


/// Decodes file operation records into `file_op` batches, in time order
/// per drain cycle (the per-CPU rings interleave).
pub type FileOpDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = FileOpEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &FileOpEvent, offset_ns: i64) {
        let op = op_name(e.op);
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.op.append_value(op);
        self.fs.append_value(cstr(&e.fs));
        self.dev.append_value(e.dev as i64);
        self.inode.append_value(e.inode as i64);
        self.path.append_value(cstr(&e.name));
        self.offset.append_value(e.offset);
        // fsync's return is 0 or an error: never bytes.
        let moves_data = !matches!(op, "fsync" | "fdatasync");
        self.bytes
            .append_value(if moves_data && e.ret > 0 { e.ret } else { 0 });
        self.ret.append_value(e.ret);
        self.latency_ns.append_value(e.latency_ns as i64);
        self.cgroup_id.append_value(e.cgroup_id as i64);
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
    use arrow_array::types::Int64Type;

    #[test]
    fn ops_become_rows_in_time_order_with_bytes() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = FileOpDecoder::new(&ctx, Columns::with_capacity(0));
        let mut w = FileOpEvent {
            kind: abi::KIND_FILE_OP,
            ts: 200,
            ret: 4096,
            op: 1,
            offset: 8192,
            ..Default::default()
        };
        w.fs[..4].copy_from_slice(b"ext4");
        w.name[..5].copy_from_slice(b"a.log");
        let mut sync = w;
        sync.ts = 100;
        sync.op = 6;
        sync.ret = 0;
        sync.offset = 0;
        let mut failed = w;
        failed.ts = 300;
        failed.ret = -9;
        // SAFETY: FileOpEvent is Plain.
        for e in [&w, &sync, &failed] {
            d.decode(unsafe { plain::as_bytes(e) }).unwrap();
        }
        assert!(d.decode(&[0u8; 20]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let col = |n: &str| b.column(TABLE.schema().index_of(n).unwrap()).clone();
        let bytes = col("bytes");
        assert_eq!(
            bytes.as_primitive::<Int64Type>().values().to_vec(),
            vec![0, 4096, 0]
        );
        let ret = col("ret");
        assert_eq!(
            ret.as_primitive::<Int64Type>().values().to_vec(),
            vec![0, 4096, -9]
        );
        let ts = col("ts");
        let ts = ts.as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(ts.values().to_vec(), vec![1100, 1200, 1300]);
    }
}
