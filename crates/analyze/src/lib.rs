//! `ktape-analyze`: bcc-style reports from ktape recordings, on any machine,
//! without root or BPF.
//!
//! A recording is plain Parquet (see `ktape-format`); each report here reads
//! only the columns and row groups it needs, in parallel over
//! (segment, row group) scan units with rayon, and folds rows into small
//! per-thread accumulators that are merged at the end, so memory stays
//! bounded however large the recording is (biosnoop is the exception by
//! nature: it sorts the rows it prints, keeping only the printed columns).
//!
//! Layout, one module per report plus shared pieces:
//!
//! * the reports: one module each, declared with its subcommands in the
//!   one list at the end of this file, which makes [`Command`]. Some hold
//!   more than one: [`verify`] (verify and recover), [`profile`] (profile
//!   and offcputime), [`tcp`] (the six TCP reports). [`profile`],
//!   [`offwaketime`], [`wakeuptime`] and [`flamegraph`] share the stack
//!   code in [`stacks`]; runqlat, cpudist
//!   and runqslower pair scheduler events through [`pairing`];
//!   [`heatmap`] draws the histograms of biolatency, runqlat and fsdist,
//!   one per time step, as an SVG; [`perfetto`] writes the recording as
//!   a Perfetto trace for its timeline UI; [`report`] puts the other reports'
//!   outputs on one HTML page;
//! * [`crosscheck`]: rows against the kernel's own counters;
//! * [`hist`]: log2 and linear histograms, printed exactly like bcc's
//!   libbpf-tools `print_log2_hist` / `print_linear_hist`;
//! * [`cli`]: the command line's shared pieces; each report module owns
//!   its clap arguments (`…Args`) and turns them into its `…Options`;
//! * [`common`]: the options every report takes ([`common::Options`]),
//!   opening recordings (paths and globs) and the notes about the input;
//!   [`window`]: the time window and `--interval` steps; [`scan`]: the
//!   parallel scans and their guards;
//! * [`filter`]: the row filters (`-p`, `--comm`, `--cgroup`);
//! * [`loss`]: reading the `loss` table so that no result hides lost events;
//! * [`tables`]: which tables each report reads, and the error or warning
//!   when one is missing, so that no result is quietly different;
//! * [`time`]: parsing `--from/--to` and durations, formatting times;
//! * [`columns`]: typed access to Arrow columns by name;
//! * [`output`]: small helpers for text and JSON output; [`progress`]:
//!   the progress bar on a terminal;
//! * [`error`]: the error type, each variant naming what went wrong.
//!
//! Text output matches the bcc tool a report replaces, byte for byte in the
//! histogram and table blocks; `--json` gives machine output. Warnings
//! (lost events, empty results) go to the second writer (stderr in the
//! binary) so stdout stays what bcc would print.

pub mod cli;
pub mod columns;
pub mod common;
pub mod crosscheck;
pub mod error;
pub mod filter;
pub mod hist;
pub mod loss;
pub mod output;
pub mod pairing;
pub mod progress;
pub mod scan;
pub mod stacks;
pub mod tables;
pub mod time;
pub mod window;

pub use common::Options;
pub use error::{Error, Result};
pub use filter::Filter;

/// Declares every report's module and [`Command`], the subcommands: each
/// entry is a module and its subcommands, a variant per subcommand (its
/// kebab-case name is the subcommand, its doc comment the one-line help)
/// holding the module's clap arguments, which run the report through
/// [`cli::Run`].
macro_rules! reports {
    ($($module:ident { $($(#[doc = $doc:expr])* $name:ident($($args:ident)::+),)* })*) => {
        $(pub mod $module;)*

        /// The subcommands of `ktape-analyze`, in `--help` order.
        #[derive(clap::Subcommand)]
        pub enum Command {
            $($($(#[doc = $doc])* $name($module::$($args)::+),)*)*
        }

        impl Command {
            /// Runs the subcommand's report.
            pub fn run(self, out: &mut output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
                use cli::Run;
                match self {
                    $($(Command::$name(a) => a.run(out),)*)*
                }
            }
        }
    };
}

// The one list of reports: a new report is its module and an entry here.
reports! {
    summary {
        /// Where, when and how a recording was made; rows and bytes per table; lost events; what is incomplete; the cross-checks against the kernel's own counters.
        Summary(SummaryArgs),
    }
    verify {
        /// Checks every segment file of recordings against its checksums and decodes every row; names each damaged file (exit status 1 if any).
        Verify(VerifyCli),
        /// Turns the unfinished segments a killed recorder left into complete segment files, as of their last checkpoint (so pandas, DuckDB and Spark read them).
        Recover(RecoverCli),
    }
    biolatency {
        /// Block I/O latency as a log2 histogram (bcc biolatency).
        Biolatency(BiolatencyArgs),
    }
    biosnoop {
        /// One line per block I/O request (bcc biosnoop).
        Biosnoop(BiosnoopArgs),
    }
    bitesize {
        /// Block I/O sizes as a log2 histogram in KiB per process name (bcc bitesize).
        Bitesize(BitesizeArgs),
    }
    biotop {
        /// The processes doing the most block I/O, per disk and direction (bcc biotop).
        Biotop(BiotopArgs),
    }
    execsnoop {
        /// One line per exec, with its arguments (bcc execsnoop; needs -e exec).
        Execsnoop(ExecsnoopArgs),
    }
    exitsnoop {
        /// One line per process exit, with its age and status (bcc exitsnoop; needs -e exec).
        Exitsnoop(ExitsnoopArgs),
    }
    irqs {
        /// Time (or runs) per hard IRQ handler, exact at any interrupt rate (bcc hardirqs; needs -e irq).
        Hardirqs(HardirqsArgs),
        /// Time (or runs) per softirq vector, exact at any rate (bcc softirqs; needs -e irq).
        Softirqs(SoftirqsArgs),
    }
    pidpersec {
        /// New tasks (or, with --processes, new processes) per second (bcc pidpersec; needs -e exec).
        Pidpersec(PidpersecArgs),
    }
    killsnoop {
        /// One line per signal sent: kill/tkill/tgkill calls and the kernel's own signals (bcc killsnoop; needs -e signal).
        Killsnoop(KillsnoopArgs),
    }
    runqlat {
        /// Run-queue (scheduler) latency as a log2 histogram (bcc runqlat).
        Runqlat(RunqlatArgs),
    }
    tcp {
        /// Active TCP connections: connect() calls (bcc tcpconnect).
        Tcpconnect(tcpconnect::TcpconnectArgs),
        /// Accepted TCP connections (bcc tcpaccept).
        Tcpaccept(tcpaccept::TcpacceptArgs),
        /// One line per closed TCP connection with bytes and duration (bcc tcplife).
        Tcplife(tcplife::TcplifeArgs),
        /// TCP connect latency, SYN sent to established (bcc tcpconnlat).
        Tcpconnlat(tcpconnlat::TcpconnlatArgs),
        /// Retransmitted TCP segments (bcc tcpretrans).
        Tcpretrans(tcpretrans::TcpretransArgs),
        /// Every TCP state transition with the time spent in the old state (bcc tcpstates).
        Tcpstates(tcpstates::TcpstatesArgs),
    }
    profile {
        /// CPU samples by stack (bcc profile; needs -e profile).
        Profile(ProfileArgs),
        /// Time blocked off CPU by stack, in microseconds (bcc offcputime; needs -e offcpu).
        Offcputime(OffcputimeArgs),
    }
    wakeuptime {
        /// Time blocked by waker kernel stack, with waker and target names, in microseconds (bcc wakeuptime; needs -e wakeup).
        Wakeuptime(WakeuptimeArgs),
    }
    offwaketime {
        /// Time blocked by the blocked stack and the waker's stack, in microseconds (bcc offwaketime; needs -e wakeup).
        Offwaketime(OffwaketimeArgs),
    }
    flamegraph {
        /// SVG flame graph of CPU samples, off-CPU time or off-CPU time with wakers (inferno); --diff compares two windows or recordings.
        Flamegraph(FlamegraphArgs),
    }
    heatmap {
        /// Latency heat map as SVG: time columns, log2 latency rows, colour by count (bio, runqlat, fileio, offcpu, tcpconnlat; or FlameScope's map of CPU samples); --json gives the cells.
        Heatmap(HeatmapArgs),
    }
    perfetto {
        /// Perfetto trace (protobuf) for ui.perfetto.dev: CPU scheduling, CPU samples with stacks, off-CPU, block I/O, file ops, TCP, execs, exits and loss on one timeline.
        Perfetto(PerfettoArgs),
    }
    report {
        /// One self-contained HTML page for whole recordings: the summary, then each family's histograms, heat maps, flame graphs and top lists, each with the command that prints it.
        Report(ReportArgs),
    }
    runqslower {
        /// Run-queue waits longer than a threshold, with the task that ran meanwhile (bcc runqslower).
        Runqslower(RunqslowerArgs),
    }
    runqlen {
        /// Run-queue length as a linear histogram (bcc runqlen; needs -e runqlen).
        Runqlen(RunqlenArgs),
    }
    cpuunclaimed {
        /// Idle CPUs while tasks waited on other CPUs' run queues (bcc cpuunclaimed; needs -e runqlen).
        Cpuunclaimed(CpuunclaimedArgs),
    }
    cpudist {
        /// On-CPU (or, with -O, off-CPU) time per scheduling slice as a log2 histogram (bcc cpudist).
        Cpudist(CpudistArgs),
    }
    opensnoop {
        /// One line per open/openat/openat2 call (bcc opensnoop; needs -e open).
        Opensnoop(OpensnoopArgs),
    }
    fsslower {
        /// File operations slower than a threshold (bcc fsslower/ext4slower; needs -e fileio).
        Fsslower(FsslowerArgs),
    }
    fsdist {
        /// File operation latency per operation (read, write, open, fsync) as log2 histograms (bcc fsdist; needs -e fileio, and -e open for opens).
        Fsdist(FsdistArgs),
        /// fsdist -t ext4 (bcc ext4dist).
        Ext4dist(Ext4distArgs),
        /// fsdist -t xfs (bcc xfsdist).
        Xfsdist(XfsdistArgs),
        /// fsdist -t btrfs (bcc btrfsdist).
        Btrfsdist(BtrfsdistArgs),
    }
    filetop {
        /// Files read and written the most, by thread (bcc filetop; needs -e fileio).
        Filetop(FiletopArgs),
    }
    cachestat {
        /// Page-cache hits, misses and dirtied pages per second (bcc cachestat; needs -e cache).
        Cachestat(CachestatArgs),
    }
    syscount {
        /// System calls counted by syscall or by process, exact at any rate (bcc syscount; needs -e syscall).
        Syscount(SyscountArgs),
    }
    syscallslower {
        /// One line per system call slower than a threshold (needs -e syscall).
        Syscallslower(SyscallslowerArgs),
    }
    mountsnoop {
        /// One line per mount/umount/fsopen/fsconfig/fsmount/move_mount call (bcc mountsnoop; needs -e mount).
        Mountsnoop(MountsnoopArgs),
    }
    statsnoop {
        /// One line per stat/lstat/fstat/statfs/newfstatat/statx call (bcc statsnoop; needs -e stat).
        Statsnoop(StatsnoopArgs),
    }
    syncsnoop {
        /// One line per sync/fsync/fdatasync/msync/sync_file_range/syncfs call (bcc syncsnoop; needs -e sync).
        Syncsnoop(SyncsnoopArgs),
    }
    oomkill {
        /// One line per OOM kill: the victim, the task that triggered it, loadavg (bcc oomkill; needs -e oom).
        Oomkill(OomkillArgs),
    }
}
