//! What an event family is, and the table of families `-e` accepts.
//!
//! A family has two halves that live on different threads: its BPF object
//! ([`Loaded`], owned by the main thread, which attaches and detaches it)
//! and its [`Decoder`] (owned by the drain thread, which turns ring records
//! into Arrow batches). Adding a family means a `bpf/<name>.bpf.c` (its
//! record struct and codes in `bpf/ktape.h`) and a `src/<name>.rs` with
//! `FAMILY` (implementing [`Family`]) and `Options`: `build.rs` lists the
//! BPF files, and [`registry!`] declares the rest from that list. The
//! shared parts: [`bpf::Object`] loads any family's object (its programs
//! of one flavour, its rodata, the shared maps), [`bpf::with_fallback`]
//! tries the second flavour, [`Attached`] attaches over an impl of
//! [`Skeleton`], and [`crate::fixed::FixedDecoder`] decodes fixed-size
//! records.

use std::fmt;
use std::os::fd::AsFd;
use std::time::Duration;

use arrow_array::RecordBatch;
use ktape_format::TableSpec;
use libbpf_rs::{Link, ProgramMut};

use crate::bpf::{self, BpfError, Flavour};
use crate::procfs::DiskNames;
use crate::rings::Rings;

/// Where a decoder puts a finished batch.
pub type Sink<'a> = dyn FnMut(&'static TableSpec, RecordBatch) + 'a;

/// One `-e` event family.
pub trait Family: Sync {
    /// The `-e` name, also the name of its table(s) and modules.
    fn name(&self) -> &'static str;
    /// What it records, for the `-e` help (a phrase, no final period).
    fn about(&self) -> &'static str;
    /// Index of the family's loss counters (`KTAPE_FAMILY_*` in ktape.h).
    fn id(&self) -> u32;
    /// The record kind(s) it writes into the rings (`KTAPE_KIND_*`).
    fn kinds(&self) -> &'static [u32];
    /// The tables it writes.
    fn tables(&self) -> &'static [&'static TableSpec];
    /// Whether its hooks are classic tracepoints, which need tracefs.
    fn needs_tracefs(&self) -> bool {
        false
    }
    /// Whether its rows refer to stacks, so the recording needs the
    /// `stacks` table (see [`crate::stacks`]).
    fn uses_stacks(&self) -> bool {
        false
    }
    /// Opens and loads its BPF object (not yet attached): this is where
    /// the kernel may refuse it.
    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError>;
    /// A decoder for the drain thread.
    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder>;
}

impl fmt::Debug for dyn Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What loading needs.
pub struct LoadCtx<'a> {
    /// The shared per-CPU rings and loss counters.
    pub rings: &'a Rings,
    /// `-p`: only this process (0: all).
    pub targ_tgid: u32,
    /// Every family's own options, validated.
    pub options: &'a Options,
}

/// A loaded BPF object. Dropping it closes every program and map it owns.
pub trait Loaded {
    /// Attaches every program.
    fn attach(&mut self) -> Result<(), BpfError>;
    /// Detaches every program; maps stay readable until drop.
    fn detach(&mut self);
    /// Which hook flavour loaded (`tp_btf`, `raw_tp` …), for the log.
    fn hooks(&self) -> &'static str;
    /// Kernel ids of its programs and own maps, to wait for their release
    /// at exit.
    fn kernel_ids(&self) -> KernelIds;
    /// First step of a clean stop, for families that pair an operation's
    /// start with its end in the kernel: detaches the programs that see
    /// operations start, so that those in flight can still end and be
    /// recorded; returns how long to give them. Default: nothing to do.
    fn quiesce(&mut self) -> Duration {
        Duration::ZERO
    }
    /// Operations that started but whose end no program will see (found
    /// in the family's in-flight map), removed from it and returned to be
    /// counted as lost. Called about once a second (a family may walk its
    /// map less often), and once more with `last` after every program is
    /// detached. Default: none.
    fn sweep(&mut self, _now_mono_ns: i64, _last: bool) -> Vec<UserLoss> {
        Vec::new()
    }
}

/// Events lost that user space found (not the kernel's counters): what
/// [`Loaded::sweep`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLoss {
    /// Loss reason (`abi::LOSS_*`).
    pub reason: u32,
    /// When the lost event began, CLOCK_MONOTONIC ns (the loss row goes to
    /// that second).
    pub mono_ns: i64,
    /// Events lost.
    pub count: u64,
}

/// What [`Attached`] needs of a family's loaded skeleton.
pub trait Skeleton: 'static {
    /// The programs of `flavour` (only those were loaded), in the order
    /// they must be attached.
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>>;
    /// Kernel ids of the maps it owns (not the shared rings).
    fn own_maps(&self) -> Vec<u32>;
}

/// The [`Loaded`] of most families: a skeleton whose programs attach
/// where their section names say (tracepoints of either flavour).
pub struct Attached<S: Skeleton> {
    family: &'static str,
    hooks: &'static str,
    flavour: Flavour,
    skel: S,
    /// Each link with its program's name.
    links: Vec<(String, Link)>,
}

impl<S: Skeleton> Attached<S> {
    /// A loaded skeleton of `family`; `hooks` names them in the log.
    /// `flavour` only selects [`Skeleton::programs`]: families with a
    /// single set of programs pass [`Flavour::TpBtf`] and ignore it.
    pub fn new(family: &'static str, hooks: &'static str, flavour: Flavour, skel: S) -> Self {
        Attached {
            family,
            hooks,
            flavour,
            skel,
            links: Vec::new(),
        }
    }

    /// The loaded skeleton (its maps, for sweeps).
    pub fn skel(&self) -> &S {
        &self.skel
    }

    /// Detaches the programs with these names, keeping the others.
    pub fn detach_programs(&mut self, names: &[&str]) {
        self.links.retain(|(n, _)| !names.contains(&n.as_str()));
    }
}

impl<S: Skeleton> Loaded for Attached<S> {
    fn attach(&mut self) -> Result<(), BpfError> {
        let progs = self.skel.programs(self.flavour);
        let names: Vec<String> = progs
            .iter()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        let links = bpf::attach_all(self.family, progs)?;
        self.links.extend(names.into_iter().zip(links));
        Ok(())
    }

    fn detach(&mut self) {
        self.links.clear();
    }

    fn hooks(&self) -> &'static str {
        self.hooks
    }

    fn kernel_ids(&self) -> KernelIds {
        KernelIds {
            progs: self
                .skel
                .programs(self.flavour)
                .iter()
                .filter_map(|p| libbpf_rs::Program::id_from_fd(p.as_fd()).ok())
                .collect(),
            maps: self.skel.own_maps(),
        }
    }
}

/// Kernel ids of BPF objects.
#[derive(Debug, Default, Clone)]
pub struct KernelIds {
    pub progs: Vec<u32>,
    pub maps: Vec<u32>,
}

/// What decoding needs.
#[derive(Debug, Clone)]
pub struct DecodeCtx {
    /// Wall clock minus monotonic, ns.
    pub clock_offset_ns: i64,
    /// Disk names at record time.
    pub disks: DiskNames,
    /// Cut a batch once this many rows are buffered.
    pub batch_rows: usize,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{family} record of {got} bytes, expected {want}")]
    Short {
        family: &'static str,
        got: usize,
        want: usize,
    },
}

/// Turns one family's ring records into Arrow batches, on the drain thread.
pub trait Decoder: Send {
    /// Takes one record (called from the ring callback: must not block or
    /// allocate).
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError>;
    /// End of one drain cycle: sort the cycle's rows by time, append them
    /// to the columns, and hand over a batch if enough rows are buffered.
    fn end_cycle(&mut self, sink: &mut Sink<'_>);
    /// Hands over whatever is buffered (once a second and at exit).
    fn flush(&mut self, sink: &mut Sink<'_>);
    /// The last flush of the recording (after the programs are detached):
    /// may wait for work still in flight elsewhere.
    fn finish(&mut self, sink: &mut Sink<'_>) {
        self.flush(sink);
    }
}

/// The options of a family that has none.
#[derive(Debug, Default, clap::Args)]
pub struct NoOptions {}

impl FamilyOptions for NoOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        Ok(())
    }
}

/// A family option that parses but makes no sense; the message names the
/// flag and says what it accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct OptionError(pub String);

/// The command-line options of one family (or of the families that share
/// them), declared with clap in the family's module so that a new option
/// touches that module only.
pub trait FamilyOptions {
    /// Checks the values as given and fills in the parsed ones (fields
    /// marked `#[arg(skip)]`), before anything touches the kernel.
    fn validate(&mut self) -> Result<(), OptionError>;
}

/// Declares the registry from the list `build.rs` makes of `bpf/*.bpf.c`
/// (through `with_families!`): each family's module (`mod bio;`, whose
/// `FAMILY` is the instance and `Options` its option group, possibly
/// [`NoOptions`]), [`FAMILIES`] in name order, and [`Options`] with one
/// flattened group per family under the heading "X options", then the
/// groups several families share (`shared`), each under its own heading.
macro_rules! registry {
    (
        families: [$($module:ident)*]
        shared: [$($field:ident: $ty:ty => $heading:literal,)*]
    ) => {
        $(
            #[cfg(target_os = "linux")]
            mod $module;
        )*

        #[cfg(target_os = "linux")]
        mod registry {
            use crate::family::{Family, FamilyOptions, OptionError};

            /// Every family, in the order `--help` lists them.
            pub static FAMILIES: &[&dyn Family] = &[$(&crate::$module::FAMILY,)*];

            /// The module of each of [`FAMILIES`], by name.
            #[cfg(test)]
            pub static MODULES: &[&str] = &[$(stringify!($module),)*];

            /// The options of every family, flattened into the command line.
            #[derive(Debug, clap::Args)]
            pub struct Options {
                $(
                    #[command(flatten, next_help_heading = concat!(stringify!($module), " options"))]
                    pub $module: crate::$module::Options,
                )*
                $(
                    #[command(flatten, next_help_heading = $heading)]
                    pub $field: $ty,
                )*
            }

            impl Options {
                /// Validates every group, in the order they are declared.
                pub fn validate(&mut self) -> Result<(), OptionError> {
                    $(FamilyOptions::validate(&mut self.$module)?;)*
                    $(FamilyOptions::validate(&mut self.$field)?;)*
                    Ok(())
                }
            }
        }
    };
}
pub(crate) use registry;

pub use crate::registry::{Options, FAMILIES};

/// A family by `-e` name.
pub fn by_name(name: &str) -> Option<&'static dyn Family> {
    FAMILIES.iter().copied().find(|f| f.name() == name)
}

/// The help of `-e`: every family with what it records.
pub fn events_help() -> String {
    let each: Vec<String> = FAMILIES
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.about()))
        .collect();
    format!(
        "Event families to record, comma-separated. Valid: {}. Stacks are unwound with frame \
         pointers and symbolized while recording",
        each.join(", ")
    )
}

/// The valid `-e` names.
pub fn names() -> Vec<&'static str> {
    FAMILIES.iter().map(|f| f.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_consistent() {
        let mut ids = Vec::new();
        let mut kinds = Vec::new();
        for (f, module) in FAMILIES.iter().zip(crate::registry::MODULES) {
            // One name per family at every layer: `bpf/X.bpf.c`, `src/X.rs`, `-e X`.
            assert_eq!(f.name(), *module, "the family in src/{module}.rs");
            assert!(by_name(f.name()).is_some());
            assert!(!f.tables().is_empty());
            for t in f.tables() {
                assert_eq!(
                    t.family,
                    f.name(),
                    "table {} of family {}",
                    t.name,
                    f.name()
                );
                assert!(
                    ktape_format::table(t.name).is_some(),
                    "{} is not a ktape-format table",
                    t.name
                );
            }
            assert!(f.id() < crate::abi::MAX_FAMILIES);
            ids.push(f.id());
            kinds.extend_from_slice(f.kinds());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), FAMILIES.len(), "family ids are unique");
        let n = kinds.len();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), n, "record kinds are unique");
    }
}
