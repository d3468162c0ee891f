//! The `exec` family: one `exec` row per execve/execveat (failed ones
//! too), one `fork` row per task created and one `exit` row per task that
//! ends.
//!
//! The kernel side (`bpf/exec.bpf.c`) copies the filename and arguments at
//! the syscall's entry, pairs entry and return by thread id (following a
//! non-leader thread's change of id through `sched_process_exec`), and
//! hands over one variable-length exec record (an [`ExecEventHeader`] and
//! the used part of its arguments) at the return; task exits
//! and forks come as fixed-size [`ExitEvent`]s and [`ForkEvent`]s. Each exec also becomes a `process`
//! row (`source = exec`), so rows recorded later resolve to the new
//! command line.

use std::os::fd::AsFd;

use ktape_bpf::exec::{ExecSkel, ExecSkelBuilder};
use ktape_format::exec::{split_exit_code, EXEC_TABLE, EXIT_TABLE, FORK_TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi::{self, cstr};
use crate::columns::{BoolCol, CommDict, I32Col, I64Col, TextCol, TextListCol, TsCol};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{
    Attached, DecodeCtx, DecodeError, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError,
    Sink, Skeleton,
};
use crate::procfs::ProcessRows;

mod columns;

use columns::{ExecColumns, ExitColumns, ForkColumns};

pub use ktape_bpf::abi::{ExecEventHeader, ExitEvent, ForkEvent};

/// Bytes of argv kept per exec (`KTAPE_EXEC_ARGS_BUF`).
pub const ARGS_BUF: usize = crate::abi::EXEC_ARGS_BUF as usize;
/// Size of an exec record without its `args` (`KTAPE_EXEC_EVENT_HDR`).
pub const EXEC_HDR: usize = crate::abi::EXEC_EVENT_HDR as usize;

/// Options of the exec family.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecOptions {
    /// exec: arguments kept per exec (1 to 128), as bcc's execsnoop
    /// --max-args; the `truncated` column says when there were more.
    #[arg(long, value_name = "N", default_value_t = ktape_format::exec::DEFAULT_MAX_ARGS)]
    pub max_args: u32,
}

impl FamilyOptions for ExecOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        let max = ktape_format::exec::MAX_ARGS;
        if self.max_args == 0 || self.max_args > max {
            return Err(OptionError(format!(
                "--max-args must be between 1 and {max}, not {}",
                self.max_args
            )));
        }
        Ok(())
    }
}

/// The `exec` family.
pub struct Exec;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Exec = Exec;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = ExecOptions;

static TABLES: [&TableSpec; 3] = [&EXEC_TABLE, &FORK_TABLE, &EXIT_TABLE];

impl Family for Exec {
    fn name(&self) -> &'static str {
        "exec"
    }
    fn about(&self) -> &'static str {
        "execs with arguments, forks, and task exits"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_EXEC
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_EXEC, abi::KIND_FORK, abi::KIND_EXIT]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn needs_tracefs(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // As for bio: tp_btf for the scheduler hooks, raw_tp as the
        // fallback; the syscall hooks are classic tracepoints either way.
        Ok(Box::new(bpf::with_fallback(|f| load_flavour(ctx, f))?))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(ExecDecoder::new(ctx))
    }
}

fn load_flavour(ctx: &LoadCtx, flavour: Flavour) -> Result<Attached<ExecSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "exec",
        hooks: if flavour.btf() {
            "tracepoint+tp_btf"
        } else {
            "tracepoint+raw_tp"
        },
        flavour,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, ExecSkelBuilder::default(), |open| {
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.max_args = ctx.options.exec.max_args;
        }
    })
}

impl Skeleton for ExecSkel<'static> {
    /// The entry hooks come last, so that no entry is recorded before its
    /// exit and move hooks exist.
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        let (sched, exit, fork) = match flavour {
            Flavour::TpBtf => (&p.ktape_exec_sched, &p.ktape_exit, &p.ktape_fork),
            Flavour::RawTp => (
                &p.ktape_exec_sched_raw,
                &p.ktape_exit_raw,
                &p.ktape_fork_raw,
            ),
        };
        vec![
            &p.ktape_exec_exit,
            &p.ktape_execat_exit,
            sched,
            exit,
            fork,
            &p.ktape_exec_enter,
            &p.ktape_execat_enter,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_exec_start.as_fd(),
            m.ktape_exec_heap.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

/// Decodes exec, fork and exit records into `exec`, `fork`, `exit` and
/// `process` batches.
pub struct ExecDecoder {
    offset_ns: i64,
    /// This cycle's exec records, copied back to back; `(ts, start, len)`
    /// locate each (no allocation per record once the buffers have grown).
    exec_bytes: Vec<u8>,
    exec_cycle: Vec<(u64, usize, usize)>,
    exit_cycle: Vec<ExitEvent>,
    fork_cycle: Vec<ForkEvent>,
    exec: ExecColumns,
    exit: ExitColumns,
    fork: ForkColumns,
    procs: ProcessRows,
    exec_rows: usize,
    exit_rows: usize,
    fork_rows: usize,
    batch_rows: usize,
    /// Scratch for joining arguments into a command line.
    cmdline: String,
}

impl ExecDecoder {
    /// A decoder for one recording.
    pub fn new(ctx: &DecodeCtx) -> Self {
        ExecDecoder {
            offset_ns: ctx.clock_offset_ns,
            exec_bytes: Vec::new(),
            exec_cycle: Vec::new(),
            exit_cycle: Vec::new(),
            fork_cycle: Vec::new(),
            exec: ExecColumns::with_capacity(0),
            exit: ExitColumns::with_capacity(0),
            fork: ForkColumns::with_capacity(0),
            procs: ProcessRows::default(),
            exec_rows: 0,
            exit_rows: 0,
            fork_rows: 0,
            batch_rows: ctx.batch_rows,
            cmdline: String::new(),
        }
    }

    fn append_exec(&mut self, rec: &[u8]) {
        let mut h = ExecEventHeader::default();
        plain::copy_from_bytes(&mut h, rec).expect("checked in decode");
        let args = &rec[EXEC_HDR..];
        let ts = h.ts as i64 + self.offset_ns;
        let c = &mut self.exec;
        let comm = cstr(&h.comm);
        c.ts.append_value(ts);
        c.cpu.append_value(h.cpu as i32);
        c.pid.append_value(h.pid as i32);
        c.tgid.append_value(h.tgid as i32);
        c.ppid.append_value(h.ppid as i32);
        c.uid.append_value(h.uid as i64);
        c.comm.append_value(&h.comm);
        c.filename.append_value(cstr(&h.filename));
        self.cmdline.clear();
        for (i, a) in args
            .split(|&b| b == 0)
            .take(h.args_count as usize)
            .enumerate()
        {
            let a = String::from_utf8_lossy(a);
            c.args.append_item(&a);
            if i > 0 {
                self.cmdline.push(' ');
            }
            self.cmdline.push_str(&a);
        }
        c.args.end_row();
        c.truncated.append_value(h.truncated != 0);
        c.ret.append_value(h.ret);
        c.cgroup_id.append_value(h.cgroup_id as i64);
        if h.ret == 0 {
            // The cgroup path is not known here; the id is in `exec`.
            self.procs.push(
                ts,
                h.pid as i32,
                h.tgid as i32,
                h.ppid as i32,
                h.uid as i64,
                &comm,
                &self.cmdline,
                "",
                "exec",
            );
        }
    }

    fn append_exit(&mut self, e: &ExitEvent) {
        let c = &mut self.exit;
        let (code, sig, core) = split_exit_code(e.exit_code);
        c.ts.append_value(e.ts as i64 + self.offset_ns);
        c.cpu.append_value(e.cpu as i32);
        c.pid.append_value(e.pid as i32);
        c.tgid.append_value(e.tgid as i32);
        c.ppid.append_value(e.ppid as i32);
        c.comm.append_value(&e.comm);
        c.exit_code.append_value(code);
        c.signal.append_value(sig);
        c.core_dumped.append_value(core);
        c.lifetime_ns
            .append_value(e.ts.saturating_sub(e.start_ns) as i64);
        c.cgroup_id.append_value(e.cgroup_id as i64);
    }

    fn append_fork(&mut self, e: &ForkEvent) {
        let c = &mut self.fork;
        c.ts.append_value(e.ts as i64 + self.offset_ns);
        c.cpu.append_value(e.cpu as i32);
        c.pid.append_value(e.pid as i32);
        c.tgid.append_value(e.tgid as i32);
        c.comm.append_value(&e.comm);
        c.child_pid.append_value(e.child_pid as i32);
        c.child_tgid.append_value(e.child_tgid as i32);
        c.thread.append_value(e.child_tgid == e.tgid);
        c.uid.append_value(e.uid as i64);
        c.cgroup_id.append_value(e.cgroup_id as i64);
    }

    fn flush_fork(&mut self, sink: &mut Sink<'_>) {
        if self.fork_rows == 0 {
            return;
        }
        self.fork_rows = 0;
        sink(&FORK_TABLE, self.fork.take_batch());
    }

    fn flush_exec(&mut self, sink: &mut Sink<'_>) {
        if self.exec_rows == 0 {
            return;
        }
        self.exec_rows = 0;
        sink(&EXEC_TABLE, self.exec.take_batch());
        let procs = std::mem::take(&mut self.procs).finish();
        if procs.num_rows() > 0 {
            sink(&ktape_format::process::TABLE, procs);
        }
    }

    fn flush_exit(&mut self, sink: &mut Sink<'_>) {
        if self.exit_rows == 0 {
            return;
        }
        self.exit_rows = 0;
        sink(&EXIT_TABLE, self.exit.take_batch());
    }
}

impl Decoder for ExecDecoder {
    #[inline]
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        match abi::record_kind(rec) {
            Some(abi::KIND_EXEC) => {
                let mut h = ExecEventHeader::default();
                if rec.len() < EXEC_HDR || plain::copy_from_bytes(&mut h, rec).is_err() {
                    return Err(DecodeError::Short {
                        family: "exec",
                        got: rec.len(),
                        want: EXEC_HDR,
                    });
                }
                let want = EXEC_HDR + (h.args_size as usize).min(ARGS_BUF);
                if rec.len() < want {
                    return Err(DecodeError::Short {
                        family: "exec",
                        got: rec.len(),
                        want,
                    });
                }
                let start = self.exec_bytes.len();
                self.exec_bytes.extend_from_slice(&rec[..want]);
                self.exec_cycle.push((h.ts, start, want));
                Ok(())
            }
            Some(abi::KIND_FORK) => {
                let mut e = ForkEvent::default();
                plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
                    family: "exec",
                    got: rec.len(),
                    want: std::mem::size_of::<ForkEvent>(),
                })?;
                self.fork_cycle.push(e);
                Ok(())
            }
            _ => {
                let mut e = ExitEvent::default();
                plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
                    family: "exec",
                    got: rec.len(),
                    want: std::mem::size_of::<ExitEvent>(),
                })?;
                self.exit_cycle.push(e);
                Ok(())
            }
        }
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        if !self.exec_cycle.is_empty() {
            let mut cycle = std::mem::take(&mut self.exec_cycle);
            let bytes = std::mem::take(&mut self.exec_bytes);
            cycle.sort_unstable_by_key(|r| r.0);
            for &(_, start, len) in &cycle {
                self.append_exec(&bytes[start..start + len]);
                self.exec_rows += 1;
                if self.exec_rows >= self.batch_rows {
                    self.flush_exec(sink);
                }
            }
            cycle.clear();
            self.exec_cycle = cycle;
            self.exec_bytes = bytes;
            self.exec_bytes.clear();
        }
        if !self.fork_cycle.is_empty() {
            let mut cycle = std::mem::take(&mut self.fork_cycle);
            cycle.sort_unstable_by_key(|e| e.ts);
            for e in &cycle {
                self.append_fork(e);
                self.fork_rows += 1;
                if self.fork_rows >= self.batch_rows {
                    self.flush_fork(sink);
                }
            }
            cycle.clear();
            self.fork_cycle = cycle;
        }
        if !self.exit_cycle.is_empty() {
            let mut cycle = std::mem::take(&mut self.exit_cycle);
            cycle.sort_unstable_by_key(|e| e.ts);
            for e in &cycle {
                self.append_exit(e);
                self.exit_rows += 1;
                if self.exit_rows >= self.batch_rows {
                    self.flush_exit(sink);
                }
            }
            cycle.clear();
            self.exit_cycle = cycle;
        }
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.flush_exec(sink);
        self.flush_fork(sink);
        self.flush_exit(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::DiskNames;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    fn exec_record(ts: u64, pid: u32, ret: i32, args: &[&str], truncated: u8) -> Vec<u8> {
        let mut h = ExecEventHeader {
            kind: abi::KIND_EXEC,
            cpu: 2,
            ts,
            cgroup_id: 9,
            pid,
            tgid: pid,
            ppid: 1,
            uid: 1000,
            ret,
            args_count: args.len() as u16,
            truncated,
            ..Default::default()
        };
        h.comm[..4].copy_from_slice(b"true");
        h.filename[..9].copy_from_slice(b"/bin/true");
        let mut a = Vec::new();
        for s in args {
            a.extend_from_slice(s.as_bytes());
            a.push(0);
        }
        h.args_size = a.len() as u32;
        // SAFETY: ExecEventHeader is Plain.
        let mut rec = unsafe { plain::as_bytes(&h) }.to_vec();
        assert_eq!(rec.len(), EXEC_HDR);
        rec.extend_from_slice(&a);
        rec
    }

    fn ctx() -> DecodeCtx {
        DecodeCtx {
            clock_offset_ns: 1_000,
            disks: DiskNames::new(),
            batch_rows: 1000,
        }
    }

    #[test]
    fn execs_and_exits_become_rows() {
        let mut d = ExecDecoder::new(&ctx());
        d.decode(&exec_record(200, 7, 0, &["/bin/true", "a", "b c"], 0))
            .unwrap();
        d.decode(&exec_record(100, 8, -2, &["nope"], 1)).unwrap();
        let mut exit = ExitEvent {
            kind: abi::KIND_EXIT,
            ts: 500,
            start_ns: 100,
            pid: 7,
            tgid: 7,
            exit_code: 3 << 8,
            ..Default::default()
        };
        exit.comm[..4].copy_from_slice(b"true");
        // SAFETY: ExitEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&exit) }).unwrap();
        let mut fork = ForkEvent {
            kind: abi::KIND_FORK,
            ts: 300,
            pid: 7,
            tgid: 7,
            child_pid: 9,
            child_tgid: 9,
            uid: 1000,
            ..Default::default()
        };
        fork.comm[..4].copy_from_slice(b"true");
        // SAFETY: ForkEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&fork) }).unwrap();
        fork.child_pid = 10;
        fork.child_tgid = 7;
        fork.ts = 250;
        // SAFETY: ForkEvent is Plain.
        d.decode(unsafe { plain::as_bytes(&fork) }).unwrap();
        assert!(d.decode(&exec_record(1, 1, 0, &["x"], 0)[..100]).is_err());
        let mut cut = exec_record(1, 1, 0, &["xyz"], 0);
        cut.truncate(EXEC_HDR + 2);
        assert!(d.decode(&cut).is_err(), "args shorter than args_size");
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        let names: Vec<_> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["exec", "process", "fork", "exit"]);
        let b = &out[0].1;
        assert_eq!(b.schema(), EXEC_TABLE.schema());
        let pid = b.column(2).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(pid.values().to_vec(), vec![8, 7], "sorted by time");
        let args = b.column(8).as_list::<i32>();
        let row = |i: usize| -> Vec<String> {
            let v = args.value(i);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|j| s.value(j).to_string()).collect()
        };
        assert_eq!(row(0), ["nope"]);
        assert_eq!(row(1), ["/bin/true", "a", "b c"]);
        let tr = b.column(9).as_boolean();
        assert!(tr.value(0) && !tr.value(1));
        let ret = b.column(10).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(ret.values().to_vec(), vec![-2, 0]);
        let procs = &out[1].1;
        assert_eq!(procs.num_rows(), 1, "only the successful exec");
        assert_eq!(
            procs.column(6).as_string::<i32>().value(0),
            "/bin/true a b c"
        );
        let f = &out[2].1;
        assert_eq!(f.schema(), FORK_TABLE.schema());
        let child = f.column(5).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(child.values().to_vec(), vec![10, 9], "sorted by time");
        let thread = f.column(7).as_boolean();
        assert!(thread.value(0) && !thread.value(1));
        let e = &out[3].1;
        assert_eq!(e.schema(), EXIT_TABLE.schema());
        let code = e.column(6).as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(code.value(0), 3);
        let life = e.column(9).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(life.value(0), 400);
    }
}
