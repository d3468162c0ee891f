//! The `profile` family: timed CPU samples with kernel and user stacks.
//!
//! One software `cpu-clock` perf event per online CPU, at `-F` samples per
//! second (bcc's profile default, 49 Hz: not a multiple of common timer
//! rates, so samples do not march in step with periodic work), each
//! running `bpf/profile.bpf.c`. A sample is a 56-byte record with two ids
//! into the shared stack map; [`crate::stacks`] turns them into
//! recording-wide stack ids and symbolizes each distinct stack once.

use std::os::fd::AsFd;

use arrow_array::RecordBatch;
use ktape_bpf::profile::{ProfileSkel, ProfileSkelBuilder};
use ktape_format::TableSpec;

use crate::abi;
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, CommDict, I32Col, I64Col, TsCol};
use crate::family::{
    DecodeCtx, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
};
use crate::fixed::{FixedDecoder, Rows};
use crate::perf::{CpuClocks, Sampled, HOOKS};
use crate::stacks::Stacks;

pub use ktape_bpf::abi::ProfileEvent;

/// Options of the profile family (`-F` is shared with runqlen: see
/// [`crate::perf::SampleOptions`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileOptions {
    /// profile: keep samples of the idle task (excluded by default).
    #[arg(long)]
    pub idle: bool,
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
        let obj = bpf::Object {
            family: "profile",
            hooks: HOOKS,
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: true,
        };
        let skel = obj.load(ctx, ProfileSkelBuilder::default(), |open| {
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.targ_idle = ctx.options.profile.idle as u8;
            }
        })?;
        Ok(Box::new(Sampled {
            skel,
            family: "profile",
            prog: |s: &ProfileSkel<'static>| &s.progs.ktape_profile,
            rodata: |s: &ProfileSkel<'static>| s.maps.rodata.as_fd(),
            stacks: true,
            freq: ctx
                .options
                .sampling
                .frequency
                .unwrap_or(ktape_format::profile::DEFAULT_HZ),
            clocks: CpuClocks::default(),
        }))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(ProfileDecoder::new(
            ctx,
            Cols::new(ctx.batch_rows, crate::stacks::existing()),
        ))
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

/// The columns, and the stacks their ids go through.
pub struct Cols {
    c: ProfileColumns,
    /// `None` only in unit tests (ids pass through).
    stacks: Option<std::sync::Arc<Stacks>>,
}

impl Cols {
    fn new(cap: usize, stacks: Option<std::sync::Arc<Stacks>>) -> Self {
        Cols {
            c: ProfileColumns::with_capacity(cap),
            stacks,
        }
    }
}

/// Decodes samples into `profile` rows, and hands the stacks on.
pub type ProfileDecoder = FixedDecoder<Cols>;

impl Rows for Cols {
    type Record = ProfileEvent;

    fn table(&self) -> &'static TableSpec {
        &ktape_format::profile::TABLE
    }

    fn len(&self) -> usize {
        self.c.rows()
    }

    fn append(&mut self, e: &ProfileEvent, offset_ns: i64) {
        let ts = e.ts as i64 + offset_ns;
        let (k, u) =
            crate::stacks::resolve_pair(self.stacks.as_deref(), e.tgid, e.kstack, e.ustack, ts);
        self.c.ts.append_value(ts);
        self.c.cpu.append_value(e.cpu as i32);
        self.c.pid.append_value(e.pid as i32);
        self.c.tgid.append_value(e.tgid as i32);
        self.c.comm.append_value(&e.comm);
        self.c.cgroup_id.append_value(e.cgroup_id as i64);
        self.c.kstack.append_value(k);
        self.c.ustack.append_value(u);
    }

    fn finish(&mut self) -> RecordBatch {
        self.c.take_batch()
    }

    fn after_flush(&mut self, sink: &mut Sink<'_>, last: bool) {
        crate::stacks::hand_over(self.stacks.as_deref(), sink, last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;

    #[test]
    fn samples_become_sorted_rows() {
        let ctx = DecodeCtx {
            clock_offset_ns: 10,
            disks: Default::default(),
            batch_rows: 100,
        };
        let mut d = ProfileDecoder::new(&ctx, Cols::new(100, None));
        for (ts, k) in [(300u64, 4), (100, -1)] {
            let mut comm = [0u8; 16];
            comm[..4].copy_from_slice(b"spin");
            let e = ProfileEvent {
                kind: abi::KIND_PROFILE,
                cpu: 1,
                ts,
                cgroup_id: 9,
                pid: 5,
                tgid: 5,
                kstack: k,
                ustack: 7,
                comm,
            };
            // SAFETY: Plain.
            d.decode(unsafe { plain::as_bytes(&e) }).unwrap();
        }
        assert!(d.decode(&[50, 0, 0, 0]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |t, b| out.push((t.name, b)));
        d.flush(&mut |t, b| out.push((t.name, b)));
        assert_eq!(out.len(), 1);
        let b = &out[0].1;
        assert_eq!(b.schema(), ktape_format::profile::TABLE.schema());
        assert_eq!(
            b.column(6).as_primitive::<Int32Type>().values().to_vec(),
            vec![-1, 4]
        );
        assert_eq!(
            b.column(7).as_primitive::<Int32Type>().values().to_vec(),
            vec![7, 7]
        );
    }
}
