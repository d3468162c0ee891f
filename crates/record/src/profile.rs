//! The `profile` family: timed CPU samples with kernel and user stacks.
//!
//! One software `cpu-clock` perf event per online CPU, at `-F` samples per
//! second (bcc's profile default, 49 Hz: not a multiple of common timer
//! rates, so samples do not march in step with periodic work), each
//! running `bpf/profile.bpf.c`. A sample record carries its stacks: the
//! kernel stack's addresses, and the user stack either walked by frame
//! pointers in the kernel (`--call-graph fp`) or as registers and a copy of
//! the stack's top that [`crate::unwind`] unwinds with the modules' CFI
//! (`--call-graph dwarf`, the default: distribution binaries are built
//! without frame pointers, and even with them a frameless leaf hides its
//! caller). [`crate::stacks`] then turns each distinct stack into a
//! recording-wide id and symbolizes it once.

use std::os::fd::AsFd;
use std::sync::Arc;

use ktape_bpf::profile::{ProfileSkel, ProfileSkelBuilder};
use ktape_format::stacks::{LOST_STACK, MAX_DEPTH, NO_STACK};
use ktape_format::TableSpec;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, I32Col, I64Col, TsCol};
use crate::family::{
    DecodeCtx, DecodeError, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
};
use crate::perf::{CpuClocks, Sampled, HOOKS};
use crate::stacks::Stacks;
use crate::unwind::DwarfUnwinder;

pub use ktape_bpf::abi::ProfileEvent;

/// How user stacks are taken (`--call-graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallGraph {
    /// The kernel follows frame pointers: cheapest, complete only for
    /// code built with them, and a frameless leaf loses its caller.
    Fp,
    /// The kernel copies this many bytes of user stack; user space unwinds
    /// them with `.eh_frame` (as `perf record --call-graph dwarf`).
    Dwarf(u32),
}

/// Stack bytes copied per sample by default: python3's deepest stacks on
/// Debian 12 use under 6 KiB between the sampled frame and `main`; 16 KiB
/// leaves room for deeper C and C++ programs at a cost measured in the
/// README (perf's default is 8 KiB).
pub const DEFAULT_STACK_SIZE: u32 = 16384;

impl std::str::FromStr for CallGraph {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (mode, size) = match s.split_once(',') {
            Some((m, n)) => (m, Some(n)),
            None => (s, None),
        };
        match (mode, size) {
            ("fp", None) => Ok(CallGraph::Fp),
            ("dwarf", None) => Ok(CallGraph::Dwarf(DEFAULT_STACK_SIZE)),
            ("dwarf", Some(n)) => {
                let n: u32 = n
                    .parse()
                    .map_err(|_| format!("dwarf,{n}: the stack size is a number of bytes"))?;
                if !(64..=abi::STACK_COPY_MAX).contains(&n) || !n.is_multiple_of(8) {
                    return Err(format!(
                        "dwarf,{n}: the stack size must be a multiple of 8 from 64 to {}",
                        abi::STACK_COPY_MAX
                    ));
                }
                Ok(CallGraph::Dwarf(n))
            }
            _ => Err(format!(
                "{s}: expected fp, dwarf or dwarf,SIZE (bytes of stack copied per sample, default {DEFAULT_STACK_SIZE})"
            )),
        }
    }
}

/// Options of the profile family (`-F` is shared with runqlen: see
/// [`crate::perf::SampleOptions`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileOptions {
    /// profile: keep samples of the idle task (excluded by default).
    #[arg(long)]
    pub idle: bool,

    /// profile: how user stacks are taken: dwarf[,SIZE] copies SIZE bytes
    /// of user stack per sample (default 16384) and unwinds them with the
    /// binaries' .eh_frame, complete without frame pointers; fp follows
    /// frame pointers (cheaper, but partial on binaries built without
    /// them, as most distribution packages are).
    #[arg(long, value_name = "MODE", default_value = "dwarf")]
    pub call_graph: CallGraph,
}

impl FamilyOptions for ProfileOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        Ok(())
    }
}

/// The `profile` family.
pub struct Profile;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Profile = Profile;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = ProfileOptions;

static TABLES: [&TableSpec; 1] = [&ktape_format::profile::TABLE];

impl Family for Profile {
    fn name(&self) -> &'static str {
        "profile"
    }
    fn about(&self) -> &'static str {
        "CPU samples with kernel and user stacks, -F per second"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_PROFILE
    }
    fn kinds(&self) -> &'static [u32] {
        &[abi::KIND_PROFILE]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    fn uses_stacks(&self) -> bool {
        true
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // The stack service (ids and symbolization); the samples carry
        // their stacks, so this object has no stack map.
        crate::stacks::shared()?;
        let obj = bpf::Object {
            family: "profile",
            hooks: HOOKS,
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: false,
        };
        let cpus = libbpf_rs::num_possible_cpus().map_err(|source| BpfError::Map {
            map: "ktape_profile_scratch",
            source,
        })? as u32;
        let graph = ctx.options.profile.call_graph;
        let mut sized = Ok(());
        let skel = obj.load(ctx, ProfileSkelBuilder::default(), |open| {
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.targ_idle = ctx.options.profile.idle as u8;
                let (mode, size) = match graph {
                    CallGraph::Fp => (abi::CALL_GRAPH_FP, 0),
                    CallGraph::Dwarf(n) => (abi::CALL_GRAPH_DWARF, n),
                };
                ro.targ_call_graph = mode as u8;
                ro.targ_stack_size = size;
            }
            sized = open.maps.ktape_profile_scratch.set_max_entries(cpus);
        })?;
        sized.map_err(|source| BpfError::Map {
            map: "ktape_profile_scratch",
            source,
        })?;
        Ok(Box::new(Sampled {
            skel,
            family: "profile",
            prog: |s: &ProfileSkel<'static>| &s.progs.ktape_profile,
            rodata: |s: &ProfileSkel<'static>| s.maps.rodata.as_fd(),
            stacks: false,
            freq: ctx
                .options
                .sampling
                .frequency
                .unwrap_or(ktape_format::profile::DEFAULT_HZ),
            clocks: CpuClocks::default(),
        }))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(ProfileDecoder::new(ctx, crate::stacks::existing()))
    }
}

table_columns! {
    /// Columns of `profile`.
    pub struct ProfileColumns for ktape_format::profile::TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    cgroup_id: I64Col,
    kstack: I32Col,
    ustack: I32Col,
}

const HDR: usize = std::mem::size_of::<ProfileEvent>();

/// Decodes samples into `profile` rows: the records of a drain cycle are
/// copied into one reused buffer (the ring callback must not allocate or
/// block), then, in time order, their stacks are unwound and resolved to
/// ids and the rows appended.
pub struct ProfileDecoder {
    offset_ns: i64,
    batch_rows: usize,
    c: ProfileColumns,
    /// `None` only in unit tests (stacks get no ids: -1 / -2 only).
    stacks: Option<Arc<Stacks>>,
    unwinder: DwarfUnwinder,
    /// This cycle's records, back to back, and (ts, start, len) of each.
    buf: Vec<u8>,
    recs: Vec<(u64, usize, usize)>,
    frames: Vec<u64>,
}

impl ProfileDecoder {
    fn new(ctx: &DecodeCtx, stacks: Option<Arc<Stacks>>) -> Self {
        ProfileDecoder {
            offset_ns: ctx.clock_offset_ns,
            batch_rows: ctx.batch_rows,
            c: ProfileColumns::with_capacity(ctx.batch_rows),
            stacks,
            unwinder: DwarfUnwinder::new(MAX_DEPTH),
            buf: Vec::with_capacity(1 << 20),
            recs: Vec::with_capacity(1024),
            frames: Vec::with_capacity(MAX_DEPTH),
        }
    }

    fn append(&mut self, rec: &[u8]) {
        let mut e = ProfileEvent::default();
        plain::copy_from_bytes(&mut e, rec).expect("checked in decode");
        let ts = e.ts as i64 + self.offset_ns;
        // Every stack lands in the one reused `frames` buffer: no
        // allocation per sample (only a new stack is copied, once).
        let mut frames = std::mem::take(&mut self.frames);
        let words = |b: &[u8], out: &mut Vec<u64>| {
            out.clear();
            out.extend(
                b.chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes"))),
            );
        };
        let kend = HDR + e.kframes as usize * 8;
        let uend = kend + e.uframes as usize * 8;
        let send = uend + e.stack_len as usize;
        let flags = e.flags as u32;
        let k = if flags & abi::PROF_KSTACK == 0 {
            NO_STACK
        } else if flags & abi::PROF_KLOST != 0 || e.kframes == 0 {
            LOST_STACK
        } else {
            words(&rec[HDR..kend], &mut frames);
            self.resolve(false, e.tgid, &frames, ts)
        };
        let u = if flags & abi::PROF_USTACK == 0 {
            NO_STACK
        } else if flags & abi::PROF_ULOST != 0 {
            LOST_STACK
        } else if e.uframes > 0 {
            words(&rec[kend..uend], &mut frames);
            self.resolve(true, e.tgid, &frames, ts)
        } else {
            self.unwinder.unwind(
                e.tgid,
                e.mm,
                (e.ip, e.sp, e.bp),
                &rec[uend..send],
                &mut frames,
            );
            if frames.is_empty() {
                LOST_STACK
            } else {
                self.resolve(true, e.tgid, &frames, ts)
            }
        };
        self.frames = frames;
        self.c.ts.append_value(ts);
        self.c.cpu.append_value(e.cpu as i32);
        self.c.pid.append_value(e.pid as i32);
        self.c.tgid.append_value(e.tgid as i32);
        self.c.comm.append_value(&e.comm);
        self.c.cgroup_id.append_value(e.cgroup_id as i64);
        self.c.kstack.append_value(k);
        self.c.ustack.append_value(u);
    }

    fn resolve(&self, user: bool, tgid: u32, addrs: &[u64], ts: i64) -> i32 {
        match &self.stacks {
            Some(s) => s.resolve_addrs(user, tgid, addrs, ts),
            None => NO_STACK,
        }
    }

    fn hand_over(&mut self, sink: &mut Sink<'_>) {
        if self.c.rows() > 0 {
            sink(&ktape_format::profile::TABLE, self.c.take_batch());
        }
    }
}

impl Decoder for ProfileDecoder {
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        let short = |want| DecodeError::Short {
            family: "profile",
            got: rec.len(),
            want,
        };
        let mut e = ProfileEvent::default();
        plain::copy_from_bytes(&mut e, rec).map_err(|_| short(HDR))?;
        let want = HDR + (e.kframes as usize + e.uframes as usize) * 8 + e.stack_len as usize;
        if rec.len() < want {
            return Err(short(want));
        }
        self.recs.push((e.ts, self.buf.len(), want));
        self.buf.extend_from_slice(&rec[..want]);
        Ok(())
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        // Stable: each CPU's ring is in time order, so this merges runs.
        let mut recs = std::mem::take(&mut self.recs);
        recs.sort_by_key(|r| r.0);
        let buf = std::mem::take(&mut self.buf);
        for &(_, at, len) in &recs {
            self.append(&buf[at..at + len]);
            if self.c.rows() >= self.batch_rows {
                sink(&ktape_format::profile::TABLE, self.c.take_batch());
            }
        }
        recs.clear();
        self.recs = recs;
        self.buf = buf;
        self.buf.clear();
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink);
        crate::stacks::hand_over(self.stacks.as_deref(), sink, false);
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink);
        crate::stacks::hand_over(self.stacks.as_deref(), sink, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;

    fn record(ts: u64, flags: u32, kframes: &[u64], stack: &[u8]) -> Vec<u8> {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"spin");
        let e = ProfileEvent {
            kind: abi::KIND_PROFILE,
            cpu: 1,
            ts,
            cgroup_id: 9,
            pid: 5,
            tgid: 5,
            kframes: kframes.len() as u16,
            stack_len: stack.len() as u32,
            flags: flags as u8,
            comm,
            ..Default::default()
        };
        // SAFETY: Plain.
        let mut v = unsafe { plain::as_bytes(&e) }.to_vec();
        for f in kframes {
            v.extend_from_slice(&f.to_ne_bytes());
        }
        v.extend_from_slice(stack);
        v
    }

    #[test]
    fn samples_become_sorted_rows_with_their_stacks_state() {
        let ctx = DecodeCtx {
            clock_offset_ns: 10,
            disks: Default::default(),
            batch_rows: 100,
        };
        let mut d = ProfileDecoder::new(&ctx, None);
        let lost_user = abi::PROF_USTACK | abi::PROF_ULOST;
        d.decode(&record(300, abi::PROF_KSTACK | abi::PROF_KLOST, &[], &[]))
            .unwrap();
        d.decode(&record(100, lost_user, &[], &[])).unwrap();
        // A record shorter than its header says is refused, not guessed.
        let mut short = record(200, abi::PROF_KSTACK, &[1, 2], &[0; 16]);
        short.truncate(short.len() - 1);
        assert!(d.decode(&short).is_err());
        assert!(d.decode(&[50, 0, 0, 0]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), ktape_format::profile::TABLE.schema());
        let col = |i: usize| b.column(i).as_primitive::<Int32Type>().values().to_vec();
        // Sorted by time: the user-lost sample (ts 100) first.
        assert_eq!(col(6), vec![NO_STACK, LOST_STACK]);
        assert_eq!(col(7), vec![LOST_STACK, NO_STACK]);
    }

    #[test]
    fn call_graph_parses_like_perf() {
        assert_eq!("fp".parse::<CallGraph>(), Ok(CallGraph::Fp));
        assert_eq!(
            "dwarf".parse::<CallGraph>(),
            Ok(CallGraph::Dwarf(DEFAULT_STACK_SIZE))
        );
        assert_eq!("dwarf,8192".parse::<CallGraph>(), Ok(CallGraph::Dwarf(8192)));
        for bad in ["lbr", "dwarf,7", "dwarf,100000", "dwarf,x", "fp,8"] {
            let e = bad.parse::<CallGraph>().unwrap_err();
            assert!(e.contains(bad.rsplit(',').next().unwrap()), "{e}");
        }
    }
}
