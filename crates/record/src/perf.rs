//! Per-CPU software timers for the sampling families (profile, runqlen):
//! one `cpu-clock` perf event per online CPU in frequency mode, each with
//! the family's BPF program attached. Both families sample every task on
//! the CPU, so the events are opened with pid -1 and a CPU.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys as sys;
use libbpf_rs::{Link, ProgramMut};

use crate::bpf::{self, BpfError};
use crate::family::{KernelIds, Loaded};

/// `-F`, shared by the families that sample on a cpu-clock perf event
/// (profile, runqlen).
#[derive(Debug, Clone, clap::Args)]
pub struct SampleOptions {
    /// profile, runqlen: samples a second on each CPU (1 to 10000), as
    /// bcc's -F. Default: 49 for profile, 99 for runqlen (both off the
    /// 100 Hz timer tick, so samples do not lock onto it).
    #[arg(short = 'F', long = "frequency", value_name = "HZ")]
    pub frequency: Option<u64>,
}

impl crate::family::FamilyOptions for SampleOptions {
    fn validate(&mut self) -> Result<(), crate::family::OptionError> {
        if let Some(f @ (0 | 10_001..)) = self.frequency {
            return Err(crate::family::OptionError(format!(
                "-F must be between 1 and 10000 samples per second, not {f}"
            )));
        }
        Ok(())
    }
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,5`); all
/// CPUs the process can count if that file cannot be read.
pub fn online_cpus() -> Vec<u32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let cpus = ktape_format::meta::parse_cpu_list(&text);
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n as u32).collect();
    }
    cpus
}

/// Opens a software cpu-clock event that fires `freq` times a second on
/// `cpu`, whatever task runs there.
fn open_cpu_clock(cpu: u32, freq: u64) -> std::io::Result<OwnedFd> {
    let mut attr = sys::perf_event_attr {
        type_: sys::PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<sys::perf_event_attr>() as u32,
        config: sys::PERF_COUNT_SW_CPU_CLOCK as u64,
        ..Default::default()
    };
    attr.__bindgen_anon_1.sample_freq = freq;
    attr.set_freq(1);
    // SAFETY: attr is a valid, fully initialized perf_event_attr.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const sys::perf_event_attr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// One cpu-clock event per online CPU with `prog` attached. Dropping the
/// result detaches: each link is dropped before its event's fd.
#[derive(Default)]
pub struct CpuClocks {
    events: Vec<(Link, OwnedFd)>,
}

impl CpuClocks {
    /// Opens the events at `freq` Hz and attaches `prog` (named `name` in
    /// errors) of `family` to each.
    pub fn attach(
        family: &'static str,
        name: &str,
        prog: &ProgramMut<'_>,
        freq: u64,
    ) -> Result<CpuClocks, BpfError> {
        let mut clocks = CpuClocks::default();
        for cpu in online_cpus() {
            let attach_err = |source: libbpf_rs::Error| BpfError::Attach {
                family,
                program: format!("{name} (cpu-clock perf event on CPU {cpu})"),
                log: bpf::take_log(),
                source,
            };
            bpf::take_log();
            let fd = open_cpu_clock(cpu, freq).map_err(|e| attach_err(e.into()))?;
            let link = prog.attach_perf_event(fd.as_raw_fd()).map_err(attach_err)?;
            clocks.events.push((link, fd));
        }
        Ok(clocks)
    }
}

/// How the families run by per-CPU cpu-clock events attach, for the log.
pub const HOOKS: &str = "perf_event cpu-clock";

/// A loaded family whose one program runs from a cpu-clock perf event on
/// every CPU (profile, runqlen): its object, the rate, and once attached
/// the events.
pub struct Sampled<S: 'static> {
    /// The loaded object.
    pub skel: S,
    /// The family, for errors.
    pub family: &'static str,
    /// Events per second per CPU.
    pub freq: u64,
    /// The program the events run.
    pub prog: for<'a> fn(&'a S) -> &'a ProgramMut<'static>,
    /// Its read-only data map.
    pub rodata: for<'a> fn(&'a S) -> BorrowedFd<'a>,
    /// Whether it refers to the shared stack map.
    pub stacks: bool,
    /// The attached events (none until attached).
    pub clocks: CpuClocks,
}

impl<S: 'static> Loaded for Sampled<S> {
    fn attach(&mut self) -> Result<(), BpfError> {
        let prog = (self.prog)(&self.skel);
        let name = prog.name().to_string_lossy().into_owned();
        self.clocks = CpuClocks::attach(self.family, &name, prog, self.freq)?;
        Ok(())
    }

    fn detach(&mut self) {
        self.clocks = CpuClocks::default();
    }

    fn hooks(&self) -> &'static str {
        HOOKS
    }

    fn kernel_ids(&self) -> KernelIds {
        let stacks = self.stacks.then(crate::stacks::existing).flatten();
        KernelIds {
            progs: libbpf_rs::Program::id_from_fd((self.prog)(&self.skel).as_fd())
                .into_iter()
                .collect(),
            maps: bpf::map_id((self.rodata)(&self.skel))
                .into_iter()
                .chain(stacks.and_then(|s| s.map_id()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_has_online_cpus() {
        assert!(!online_cpus().is_empty());
    }
}
