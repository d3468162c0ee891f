//! The `mount` family: one `mount` row per mount, umount, fsopen,
//! fsconfig, fsmount or move_mount call, failed ones included (what bcc's
//! mountsnoop shows).
//!
//! The kernel side (`bpf/mount.bpf.c`) copies the arguments at the
//! syscall's entry, pairs entry and return by thread id and hands over one
//! fixed-size [`MountEvent`] at the return with the result, the latency
//! and the mount namespace. Mounts are rare, so the record is simply big
//! enough for its four strings.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::mount::{MountSkel, MountSkelBuilder};
use ktape_format::mount::{call_name, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi::{self, cstr};
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, DictCol, I32Col, I64Col, TsCol};
use crate::family::{DecodeCtx, Decoder, Family, LoadCtx, Loaded, Skeleton};
use crate::fixed::{FixedDecoder, Rows};

pub use ktape_bpf::abi::MountEvent;

/// The `mount` family.
pub struct Mount;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Mount = Mount;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

/// The new mount API's calls (Linux 5.2): optional, as bcc's are, so the
/// family still records mount and umount on a kernel without them.
const NEW_API: [(&str, &str, &str); 4] = [
    ("sys_enter_fsopen", "ktape_fsopen_enter", "ktape_fsopen_exit"),
    ("sys_enter_fsconfig", "ktape_fsconfig_enter", "ktape_fsconfig_exit"),
    ("sys_enter_fsmount", "ktape_fsmount_enter", "ktape_fsmount_exit"),
    ("sys_enter_move_mount", "ktape_move_mount_enter", "ktape_move_mount_exit"),
];

impl Family for Mount {
    fn name(&self) -> &'static str {
        "mount"
    }
    fn about(&self) -> &'static str {
        "mount/umount/fsopen/fsconfig/fsmount/move_mount calls, failed ones too"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_MOUNT
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_MOUNT]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let skip: Vec<&str> = NEW_API
            .iter()
            .filter(|(event, _, _)| !crate::tracefs::event_exists("syscalls", event))
            .flat_map(|&(_, enter, exit)| [enter, exit])
            .collect();
        let obj = bpf::Object {
            family: "mount",
            hooks: "tracepoint",
            flavour: Flavour::TpBtf,
            skip: &skip,
            stacks: false,
        };
        let attached = obj.attached(ctx, MountSkelBuilder::default(), |_| {})?;
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(MountDecoder::new(ctx, Columns::with_capacity(0)))
    }
}

impl Skeleton for MountSkel<'static> {
    /// The loaded programs, exits first so that no entry waits for an
    /// exit hook that is not there yet.
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        [
            &p.ktape_mount_exit,
            &p.ktape_umount_exit,
            &p.ktape_fsopen_exit,
            &p.ktape_fsconfig_exit,
            &p.ktape_fsmount_exit,
            &p.ktape_move_mount_exit,
            &p.ktape_mount_enter,
            &p.ktape_umount_enter,
            &p.ktape_fsopen_enter,
            &p.ktape_fsconfig_enter,
            &p.ktape_fsmount_enter,
            &p.ktape_move_mount_enter,
        ]
        .into_iter()
        .filter(|p| p.autoload())
        .collect()
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_mount_start.as_fd(),
            m.ktape_mount_heap.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

table_columns! {
    /// Columns of the `mount` table, in column order.
    pub struct Columns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    mntns: I64Col,
    call: DictCol,
    ret: I64Col,
    latency_ns: I64Col,
    source: DictCol,
    target: DictCol,
    fstype: DictCol,
    data: DictCol,
    flags: I64Col,
    attr_flags: I64Col,
    cmd: I32Col,
    aux: I32Col,
    fd: I32Col,
    to_fd: I32Col,
}

/// Decodes mount records into `mount` batches, in time order per drain
/// cycle (the per-CPU rings interleave).
pub type MountDecoder = FixedDecoder<Columns>;

impl Rows for Columns {
    type Record = MountEvent;

    fn table(&self) -> &'static TableSpec {
        &TABLE
    }

    fn len(&self) -> usize {
        self.rows()
    }

    fn append(&mut self, e: &MountEvent, offset_ns: i64) {
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.mntns.append_value(e.mnt_ns as i64);
        self.call.append_value(call_name(e.call));
        self.ret.append_value(e.ret);
        self.latency_ns.append_value(e.latency_ns as i64);
        self.source.append_value(cstr(&e.source));
        self.target.append_value(cstr(&e.target));
        self.fstype.append_value(cstr(&e.fstype));
        self.data.append_value(cstr(&e.data));
        self.flags.append_value(e.flags as i64);
        self.attr_flags.append_value(e.attr_flags as i64);
        self.cmd.append_value(e.cmd);
        self.aux.append_value(e.aux);
        self.fd.append_value(e.fd);
        self.to_fd.append_value(e.to_fd);
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
    fn mounts_become_rows_in_time_order() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        };
        let mut d = MountDecoder::new(&ctx, Columns::with_capacity(0));
        let mut m = MountEvent {
            kind: abi::KIND_MOUNT,
            ts: 200,
            call: abi::MOUNT_CALL_MOUNT as u8,
            flags: 1,
            mnt_ns: 4026531841,
            fd: -1,
            to_fd: -1,
            cmd: -1,
            ..Default::default()
        };
        m.source[..5].copy_from_slice(b"tmpfs");
        m.target[..6].copy_from_slice(b"/mnt/x");
        m.fstype[..5].copy_from_slice(b"tmpfs");
        let mut u = MountEvent {
            ts: 100,
            call: abi::MOUNT_CALL_UMOUNT as u8,
            ret: -22,
            ..m
        };
        u.source = [0; abi::MOUNT_PATH_LEN as usize];
        // SAFETY: MountEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&m) }).unwrap();
        d.decode(unsafe { plain::as_bytes(&u) }).unwrap();
        assert!(d.decode(&[0u8; 100]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), TABLE.schema());
        let ret = b.column(7).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(ret.values().to_vec(), vec![-22, 0], "sorted by time");
        let ns = b.column(5).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(ns.value(1), 4026531841);
    }
}
