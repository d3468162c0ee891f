//! What loading BPF needs around libbpf: the privilege check, the memlock
//! limit, and libbpf's own log, captured so that a refusal can be
//! explained in the error instead of as pages of stderr.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::OpenObject;

/// Why a family's BPF object could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("opening the {family} BPF object failed: {source}")]
    Open {
        family: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("the kernel refused BPF program `{program}` of family {family} ({hooks}): {source}{}", log_suffix(.log))]
    Load {
        family: &'static str,
        program: String,
        hooks: &'static str,
        log: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("attaching BPF program `{program}` of family {family} failed: {source}{}", log_suffix(.log))]
    Attach {
        family: &'static str,
        program: String,
        log: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("creating BPF map {map} failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
}

fn log_suffix(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("\nlibbpf said:\n{log}")
    }
}

/// libbpf's recent warnings (bounded: a verifier log can be megabytes).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
const LOG_LINES: usize = 40;

fn capture(level: libbpf_rs::PrintLevel, msg: String) {
    if std::env::var_os("KTAPE_LIBBPF_DEBUG").is_some() {
        crate::status::say_raw(&msg);
    }
    if level != libbpf_rs::PrintLevel::Warn {
        return;
    }
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    for line in msg.lines() {
        if log.len() >= LOG_LINES {
            log.remove(0);
        }
        log.push(line.to_string());
    }
}

/// Routes libbpf's messages into the capture buffer (or to stderr when
/// `KTAPE_LIBBPF_DEBUG` is set).
pub fn capture_libbpf_log() {
    let level = if std::env::var_os("KTAPE_LIBBPF_DEBUG").is_some() {
        libbpf_rs::PrintLevel::Debug
    } else {
        libbpf_rs::PrintLevel::Warn
    };
    libbpf_rs::set_print(Some((level, capture)));
}

/// The hooks of a family's scheduler or block programs: typed `tp_btf`
/// (plain loads from trusted pointers), or `raw_tp` with probe reads, the
/// fallback for kernels that refuse the first. Both are in every object;
/// only the chosen flavour's programs are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    TpBtf,
    RawTp,
}

impl Flavour {
    /// Whether this is the tp_btf flavour.
    pub fn btf(self) -> bool {
        self == Flavour::TpBtf
    }

    /// `tp_btf` or `raw_tp`, for the log and errors.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::TpBtf => "tp_btf",
            Flavour::RawTp => "raw_tp",
        }
    }
}

/// Loads with tp_btf, and with raw_tp when the kernel refuses that or when
/// `KTAPE_HOOKS=raw_tp` asks for it. When both fail, the tp_btf error is
/// the one returned: it is the one worth fixing.
pub fn with_fallback<T>(load: impl Fn(Flavour) -> Result<T, BpfError>) -> Result<T, BpfError> {
    if std::env::var("KTAPE_HOOKS").as_deref() == Ok("raw_tp") {
        return load(Flavour::RawTp);
    }
    load(Flavour::TpBtf).or_else(|first| load(Flavour::RawTp).map_err(|_| first))
}

/// How a family's BPF object is loaded, apart from its rodata: what
/// [`Object::load`] needs to open it, choose its programs, share the
/// recording's maps with it and load it.
pub struct Object<'a> {
    /// The family, for errors.
    pub family: &'static str,
    /// Names the hooks in the log and errors (`tp_btf`, `tracepoint` …).
    pub hooks: &'static str,
    /// Of the programs in `tp_btf/` and `raw_tp/` sections, only this
    /// flavour's load (families with one set pass [`Flavour::TpBtf`]).
    pub flavour: Flavour,
    /// Programs not to load at all, by name (hooks this kernel lacks).
    pub skip: &'a [&'a str],
    /// Whether it writes stack ids, so it shares the stack map of
    /// [`crate::stacks`].
    pub stacks: bool,
}

impl Object<'_> {
    /// Opens the object of `builder`, keeps only the programs that must
    /// load, sets the constants every object has (`-p`, the wakeup
    /// threshold) and lets `rodata` set the family's own, shares the rings
    /// and loss counters (and the stack map) with it, and loads it.
    pub fn load<B>(
        &self,
        ctx: &crate::family::LoadCtx,
        builder: B,
        rodata: impl FnOnce(&mut B::Output),
    ) -> Result<<B::Output as OpenSkel<'static>>::Output, BpfError>
    where
        B: SkelBuilder<'static>,
        B::Output: ktape_bpf::CommonRodata,
    {
        let fam = self.family;
        let rings = ctx.rings;
        let stacks = if self.stacks {
            Some(crate::stacks::shared()?)
        } else {
            None
        };
        let mut open = open(fam, builder)?;
        let other = match self.flavour {
            Flavour::TpBtf => "raw_tp/",
            Flavour::RawTp => "tp_btf/",
        };
        for mut p in open.open_object_mut().progs_mut() {
            let name = p.name().to_string_lossy();
            if p.section().to_string_lossy().starts_with(other) || self.skip.contains(&&*name) {
                p.set_autoload(false);
            }
        }
        ktape_bpf::CommonRodata::set_common(&mut open, ctx.targ_tgid, rings.wakeup_bytes());
        rodata(&mut open);
        {
            let (mut ring_map, mut loss_map, mut stack_map) = (None, None, None);
            for m in open.open_object_mut().maps_mut() {
                match m.name().to_str() {
                    Some("ktape_rings") => ring_map = Some(m),
                    Some("ktape_loss") => loss_map = Some(m),
                    Some("ktape_stacks") => stack_map = Some(m),
                    _ => {}
                }
            }
            let missing = |map: &str| {
                open_err(fam)(libbpf_rs::Error::from(std::io::Error::other(format!(
                    "the object has no map {map}"
                ))))
            };
            let (mut ring_map, mut loss_map) = (
                ring_map.ok_or_else(|| missing("ktape_rings"))?,
                loss_map.ok_or_else(|| missing("ktape_loss"))?,
            );
            rings
                .share_with(&mut ring_map, &mut loss_map)
                .map_err(open_err(fam))?;
            if let Some(stacks) = stacks {
                let mut stack_map = stack_map.ok_or_else(|| missing("ktape_stacks"))?;
                stacks.share_with(&mut stack_map).map_err(open_err(fam))?;
            }
        }
        load(fam, self.hooks, open)
    }

    /// [`Object::load`], as the [`Attached`](crate::family::Attached) of
    /// the family's skeleton.
    pub fn attached<B>(
        &self,
        ctx: &crate::family::LoadCtx,
        builder: B,
        rodata: impl FnOnce(&mut B::Output),
    ) -> Result<crate::family::Attached<<B::Output as OpenSkel<'static>>::Output>, BpfError>
    where
        B: SkelBuilder<'static>,
        B::Output: ktape_bpf::CommonRodata,
        <B::Output as OpenSkel<'static>>::Output: crate::family::Skeleton,
    {
        let skel = self.load(ctx, builder, rodata)?;
        Ok(crate::family::Attached::new(
            self.family,
            self.hooks,
            self.flavour,
            skel,
        ))
    }
}

/// Opens a family's skeleton. The skeleton borrows its object storage for
/// as long as it lives, and the recorder keeps it until exit, so the (tiny)
/// storage is leaked rather than threaded through every owner; dropping
/// the skeleton still closes the BPF object.
pub fn open<B: SkelBuilder<'static>>(
    family: &'static str,
    builder: B,
) -> Result<B::Output, BpfError> {
    let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    builder.open(storage).map_err(open_err(family))
}

/// The error of a failed step before load (opening, sharing maps).
pub fn open_err(family: &'static str) -> impl Fn(libbpf_rs::Error) -> BpfError {
    move |source| BpfError::Open { family, source }
}

/// Loads an opened skeleton. A refusal carries libbpf's log and the
/// program it blamed, and names `hooks`.
pub fn load<O: OpenSkel<'static>>(
    family: &'static str,
    hooks: &'static str,
    open: O,
) -> Result<O::Output, BpfError> {
    take_log();
    open.load().map_err(|source| {
        let log = take_log();
        BpfError::Load {
            family,
            program: blamed_program(&log).unwrap_or_else(|| "(object)".into()),
            hooks,
            log,
            source,
        }
    })
}

/// Attaches a family's programs in order. On an error the links made so
/// far are dropped (so detached) and the error names the program along with
/// libbpf's log.
pub fn attach_all<'a>(
    family: &'static str,
    progs: impl IntoIterator<Item = &'a libbpf_rs::ProgramMut<'static>>,
) -> Result<Vec<libbpf_rs::Link>, BpfError> {
    let mut links = Vec::new();
    for prog in progs {
        take_log();
        let link = prog.attach().map_err(|source| BpfError::Attach {
            family,
            program: prog.name().to_string_lossy().into_owned(),
            log: take_log(),
            source,
        })?;
        links.push(link);
    }
    Ok(links)
}

/// Takes the captured log.
pub fn take_log() -> String {
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let s = log.join("\n");
    log.clear();
    s
}

/// The program libbpf blamed in its log (`prog 'NAME': ...`), if any.
pub fn blamed_program(log: &str) -> Option<String> {
    let i = log.find("prog '")? + "prog '".len();
    let end = log[i..].find('\'')?;
    Some(log[i..i + end].to_string())
}

/// The effective capability set from `/proc/self/status`.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether a capability set may load and attach tracing programs.
pub fn caps_suffice(cap_eff: u64) -> bool {
    let has = |c: u32| cap_eff & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Refuses early, in one sentence, when we cannot load BPF at all.
pub fn check_privileges() -> anyhow::Result<()> {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_cap_eff(&s));
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = match caps {
        Some(c) => caps_suffice(c),
        None => root,
    };
    if !ok {
        anyhow::bail!(
            "ktape-record needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; run it with sudo"
        );
    }
    Ok(())
}

/// The kernel id of a map.
pub fn map_id(fd: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    libbpf_rs::MapInfo::new(fd).ok().map(|i| i.info.id)
}

/// Waits (up to `timeout`) until the kernel has released these programs
/// and maps.
///
/// Closing the last fd does not free them at once: links are torn down
/// after an RCU grace period, and maps go when the last program using them
/// does. For some milliseconds after exit they would still be listed, and
/// whoever checks for leftovers right after we exit (scripts, tests) must
/// see none, so we wait here.
pub fn wait_released(ids: &crate::family::KernelIds, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // An id that still resolves is an object still alive; the fd we
        // get back is dropped at once.
        let alive = ids
            .progs
            .iter()
            .any(|&id| libbpf_rs::Program::fd_from_id(id).is_ok())
            || ids
                .maps
                .iter()
                .any(|&id| libbpf_rs::MapHandle::from_map_id(id).is_ok());
        if !alive {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Lifts RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps against it,
/// and per-CPU rings are large.
pub fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit; failure only matters on old kernels, where
    // map creation then reports it.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        let root = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(root), Some(0x1ff_ffff_ffff));
        assert!(caps_suffice(0x1ff_ffff_ffff));
        assert!(!caps_suffice(0));
        assert!(caps_suffice((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!caps_suffice(1 << CAP_BPF));
        assert!(caps_suffice(1 << CAP_SYS_ADMIN));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn blame() {
        let log = "libbpf: prog 'ktape_bio_done': BPF program load failed: Permission denied\nlibbpf: prog 'ktape_bio_done': -- BEGIN PROG LOAD LOG --";
        assert_eq!(blamed_program(log).as_deref(), Some("ktape_bio_done"));
        assert_eq!(blamed_program("nothing"), None);
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn load_error_names_the_program_and_the_cause() {
        let e = BpfError::Load {
            family: "bio",
            program: "ktape_bio_done".into(),
            hooks: "tp_btf",
            log: "libbpf: prog 'ktape_bio_done': BPF program load failed: Permission denied".into(),
            source: libbpf_rs::Error::from_raw_os_error(13),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "the kernel refused BPF program `ktape_bio_done` of family bio (tp_btf): "
            ),
            "{msg}"
        );
        assert!(
            msg.contains("libbpf said:\nlibbpf: prog 'ktape_bio_done'"),
            "{msg}"
        );
    }
}
