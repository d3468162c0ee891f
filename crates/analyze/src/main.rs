//! `ktape-analyze`: bcc-style reports from ktape recordings, anywhere, no
//! root, no BPF.
//!
//! ```text
//! ktape-analyze summary out.parquet
//! ktape-analyze biolatency -D -m out.parquet
//! ktape-analyze biolatency -T --interval 10s --count 6 'recs/host=*/out.parquet'
//! ktape-analyze biosnoop -Q --min-latency 5ms --from +30s --to +1m out.parquet
//! ktape-analyze biolatency --json -p 1234 out.parquet | jq .
//! ktape-analyze execsnoop -x -t out.parquet
//! ktape-analyze exitsnoop -x out.parquet
//! ktape-analyze runqlat -L -m out.parquet
//! ktape-analyze tcpconnect -t -U -P 80,443 out.parquet
//! ktape-analyze tcplife -w -D 5432 out.parquet
//! ktape-analyze tcpconnlat --min 100ms out.parquet
//! ktape-analyze runqslower -P --min-latency 5ms out.parquet
//! ktape-analyze runqlen -C out.parquet
//! ktape-analyze cpudist -O -L out.parquet
//! ktape-analyze profile -f -p 1234 out.parquet
//! ktape-analyze offcputime -K -m 1000 out.parquet
//! ktape-analyze flamegraph -o cpu.svg out.parquet
//! ktape-analyze flamegraph --diff -o diff.svg before.parquet after.parquet
//! ktape-analyze opensnoop -x -e out.parquet
//! ktape-analyze fsslower -t ext4 -m 1 out.parquet
//! ktape-analyze filetop -s wbytes -i 5 out.parquet
//! ktape-analyze cachestat -T out.parquet
//! ```
//!
//! This file is only the command line: clap parses flags into the
//! library's plain option structs (`ktape_analyze::*Options`), and errors
//! become one `error: …` line (`{:#}`, so the file name that the library
//! put in the message shows) and exit status 1. A closed pipe
//! (`… | head`) is success.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ktape_analyze::biolatency::{self, BiolatencyOptions};
use ktape_analyze::biosnoop::{self, BiosnoopOptions};
use ktape_analyze::cachestat::{self, CachestatOptions};
use ktape_analyze::common::open_recordings;
use ktape_analyze::cpudist::{self, CpudistOptions};
use ktape_analyze::execsnoop::{self, ExecsnoopOptions, ExitsnoopOptions};
use ktape_analyze::filetop::{self, FiletopOptions, SortBy};
use ktape_analyze::flamegraph::{self, Before, FlamegraphOptions, Kind};
use ktape_analyze::fsslower::{self, FsslowerOptions};
use ktape_analyze::opensnoop::{self, OpensnoopOptions};
use ktape_analyze::output::{is_broken_pipe, Out};
use ktape_analyze::profile::{self, OffcpuOptions, ProfileOptions};
use ktape_analyze::runqlat::{self, RunqlatOptions};
use ktape_analyze::runqlen::{self, RunqlenOptions};
use ktape_analyze::runqslower::{self, RunqslowerOptions};
use ktape_analyze::stacks::StackParts;
use ktape_analyze::summary::{self, SummaryOptions};
use ktape_analyze::tcp::tcpaccept::AcceptOptions;
use ktape_analyze::tcp::tcpconnect::ConnectOptions;
use ktape_analyze::tcp::tcpconnlat::ConnlatOptions;
use ktape_analyze::tcp::tcplife::LifeOptions;
use ktape_analyze::tcp::tcpretrans::RetransOptions;
use ktape_analyze::tcp::tcpstates::StatesOptions;
use ktape_analyze::tcp::{self, Report, TcpOptions};
use ktape_analyze::time::{parse_duration, parse_time_spec, DefaultUnit, TimeSpec};
use ktape_analyze::verify;
use ktape_analyze::{Filter, Options};

#[derive(Parser)]
#[command(
    name = "ktape-analyze",
    version,
    about = "Reports from ktape recordings (bcc-style output, no root needed)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Where, when and how a recording was made; rows and bytes per table; lost events; what is incomplete; the cross-checks against the kernel's own counters.
    Summary {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Checks every segment file of recordings against its checksums and decodes every row; names each damaged file (exit status 1 if any).
    Verify(VerifyArgs),
    /// Turns the unfinished segments a killed recorder left into complete segment files, as of their last checkpoint (so pandas, DuckDB and Spark read them).
    Recover(VerifyArgs),
    /// Block I/O latency as a log2 histogram (bcc biolatency).
    Biolatency(BiolatencyArgs),
    /// One line per block I/O request (bcc biosnoop).
    Biosnoop(BiosnoopArgs),
    /// One line per exec, with its arguments (bcc execsnoop; needs -e exec).
    Execsnoop(ExecsnoopArgs),
    /// One line per process exit, with its age and status (bcc exitsnoop; needs -e exec).
    Exitsnoop(ExitsnoopArgs),
    /// Run-queue (scheduler) latency as a log2 histogram (bcc runqlat).
    Runqlat(RunqlatArgs),
    /// Active TCP connections: connect() calls (bcc tcpconnect).
    Tcpconnect(TcpconnectArgs),
    /// Accepted TCP connections (bcc tcpaccept).
    Tcpaccept(TcpacceptArgs),
    /// One line per closed TCP connection with bytes and duration (bcc tcplife).
    Tcplife(TcplifeArgs),
    /// TCP connect latency, SYN sent to established (bcc tcpconnlat).
    Tcpconnlat(TcpconnlatArgs),
    /// Retransmitted TCP segments (bcc tcpretrans).
    Tcpretrans(TcpretransArgs),
    /// Every TCP state transition with the time spent in the old state (bcc tcpstates).
    Tcpstates(TcpstatesArgs),
    /// CPU samples by stack (bcc profile; needs -e profile).
    Profile(ProfileArgs),
    /// Time blocked off CPU by stack, in microseconds (bcc offcputime; needs -e offcpu).
    Offcputime(OffcputimeArgs),
    /// SVG flame graph of CPU samples or off-CPU time (inferno); --diff compares two windows or recordings.
    Flamegraph(FlamegraphArgs),
    /// Run-queue waits longer than a threshold, with the task that ran meanwhile (bcc runqslower).
    Runqslower(RunqslowerArgs),
    /// Run-queue length as a linear histogram (bcc runqlen; needs -e runqlen).
    Runqlen(RunqlenArgs),
    /// On-CPU (or, with -O, off-CPU) time per scheduling slice as a log2 histogram (bcc cpudist).
    Cpudist(CpudistArgs),
    /// One line per open/openat/openat2 call (bcc opensnoop; needs -e open).
    Opensnoop(OpensnoopArgs),
    /// File operations slower than a threshold (bcc fsslower/ext4slower; needs -e fileio).
    Fsslower(FsslowerArgs),
    /// Files read and written the most, by thread (bcc filetop; needs -e fileio).
    Filetop(FiletopArgs),
    /// Page-cache hits, misses and dirtied pages per second (bcc cachestat; needs -e cache).
    Cachestat(CachestatArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// Recordings (directories such as out.parquet); glob patterns are expanded.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CachestatArgs {
    /// Include a TIME column (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Sum the recorded seconds into intervals this long (plain numbers are seconds; 10s, 1m …). Default: one line per recorded second.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many lines.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct FsslowerArgs {
    /// Only operations at least this long (plain numbers are milliseconds, as bcc; 0 prints all; 500us, 1s …).
    #[arg(short = 'm', long = "min", value_name = "MS", value_parser = parse_ms_arg, default_value = "10")]
    min: i64,
    /// Only this filesystem type (as the kernel names it: ext4, xfs, btrfs …).
    #[arg(short = 't', long = "type", value_name = "FS")]
    fs: Option<String>,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct FiletopArgs {
    /// Sort by all (reads + writes + bytes), reads, writes, rbytes or wbytes.
    #[arg(short = 's', long = "sort", value_name = "BY", default_value = "all")]
    sort: String,
    /// At most this many rows per table.
    #[arg(short = 'r', long = "maxrows", value_name = "N", default_value_t = 20)]
    max_rows: usize,
    /// One table per interval of recorded time (plain numbers are seconds; 500ms, 1m …), each after its time.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many intervals (needs --interval).
    #[arg(long, value_name = "N", requires = "interval")]
    count: Option<u64>,
    /// Print interval times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: CommonArgs,
}

/// -U/-K/-d, shared by the stack reports.
#[derive(Args)]
struct PartsArgs {
    /// User stacks only.
    #[arg(short = 'U', long = "user-stacks-only", conflicts_with = "kernel_only")]
    user_only: bool,
    /// Kernel stacks only.
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_only: bool,
    /// A delimiter between kernel and user frames (`--`; `-` when folded).
    #[arg(short = 'd', long)]
    delimited: bool,
}

impl PartsArgs {
    fn parts(&self) -> StackParts {
        StackParts {
            user_only: self.user_only,
            kernel_only: self.kernel_only,
            delimited: self.delimited,
        }
    }
}

#[derive(Args)]
struct ProfileArgs {
    /// Folded output (`comm;user frames;kernel frames count`), for flame graph tools.
    #[arg(short = 'f', long)]
    folded: bool,
    #[command(flatten)]
    parts: PartsArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct OffcputimeArgs {
    /// Folded output (`comm;user frames;kernel frames total_us`).
    #[arg(short = 'f', long)]
    folded: bool,
    /// Only episodes of at least this many microseconds.
    #[arg(short = 'm', long = "min-block-time", value_name = "US")]
    min_us: Option<u64>,
    /// Only episodes of at most this many microseconds.
    #[arg(short = 'M', long = "max-block-time", value_name = "US")]
    max_us: Option<u64>,
    /// Only this task state at switch-out: 0 = preempted (runnable), else a bitmask (1 interruptible, 2 uninterruptible).
    #[arg(long, value_name = "STATE")]
    state: Option<i64>,
    #[command(flatten)]
    parts: PartsArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct FlamegraphArgs {
    /// Where to write the SVG.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// cpu: width is CPU samples (profile table); offcpu: width is time blocked (offcpu table).
    #[arg(long = "type", value_name = "TYPE", default_value = "cpu", value_parser = ["cpu", "offcpu"])]
    kind: String,
    /// Differential flame graph: with two PATHs, the first is before and the second after; with one, --before gives the before window and --from/--to the after window.
    #[arg(long)]
    diff: bool,
    /// With --diff on one recording: the before window, FROM,TO (same forms as --from).
    #[arg(long, value_name = "FROM,TO", requires = "diff")]
    before: Option<String>,
    #[command(flatten)]
    parts: PartsArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct OpensnoopArgs {
    /// Only failed opens.
    #[arg(short = 'x', long)]
    failed: bool,
    #[command(flatten)]
    clock: ClockArgs,
    /// Print the UID column.
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// Extended fields: FLAGS (octal O_* flags) and MODE.
    #[arg(short = 'e', long)]
    extended: bool,
    /// Only commands whose name contains NAME.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// -4/-6, shared by the TCP reports.
#[derive(Args)]
struct IpArgs {
    /// Only IPv4.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// Only IPv6.
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
}

impl IpArgs {
    fn ip(&self) -> Option<i32> {
        if self.ipv4 {
            Some(4)
        } else if self.ipv6 {
            Some(6)
        } else {
            None
        }
    }
}

/// -T/--localtime, shared by the TCP reports with a time-of-day column.
#[derive(Args)]
struct ClockArgs {
    /// Include a TIME column (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    time: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
}

/// -L/-D port filters, shared by tcplife and tcpstates.
#[derive(Args)]
struct PortArgs {
    /// Only these local ports (comma-separated).
    #[arg(
        short = 'L',
        long = "localport",
        value_name = "PORTS",
        value_delimiter = ','
    )]
    local_ports: Vec<i32>,
    /// Only these remote ports (comma-separated).
    #[arg(
        short = 'D',
        long = "remoteport",
        value_name = "PORTS",
        value_delimiter = ','
    )]
    remote_ports: Vec<i32>,
}

#[derive(Args)]
struct TcpconnectArgs {
    /// Include a TIME(s) column (seconds since the first connect).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Include a UID column (the connecting task's real user id).
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// Only connects made by this user id.
    #[arg(short = 'u', long, value_name = "UID")]
    uid: Option<i64>,
    /// Include the source port (SPORT); with -c, count per source port too (LPORT).
    #[arg(short = 's', long = "source-port")]
    source_port: bool,
    /// Count connects per source address, destination address and port.
    #[arg(short = 'c', long)]
    count: bool,
    /// Only these destination ports (comma-separated).
    #[arg(short = 'P', long, value_name = "PORTS", value_delimiter = ',')]
    port: Vec<i32>,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct TcpacceptArgs {
    #[command(flatten)]
    clock: ClockArgs,
    /// Include a TIME(s) column (seconds since the first accept).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Only these local ports (comma-separated).
    #[arg(short = 'P', long, value_name = "PORTS", value_delimiter = ',')]
    port: Vec<i32>,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct TcplifeArgs {
    #[command(flatten)]
    clock: ClockArgs,
    /// Wide address columns (fit IPv6 addresses).
    #[arg(short = 'w', long)]
    wide: bool,
    #[command(flatten)]
    ports: PortArgs,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct TcpconnlatArgs {
    /// Only connects at least this slow: 500us, 5ms, 1s; a plain number is milliseconds (bcc's positional min_ms).
    #[arg(long = "min", value_name = "DUR", value_parser = parse_ms_arg)]
    min: Option<i64>,
    /// Include a TIME(s) column (seconds since the first connect).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Include the local port (LPORT).
    #[arg(short = 'L', long)]
    lport: bool,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct TcpretransArgs {
    /// Count retransmits per flow instead of listing them.
    #[arg(short = 'c', long)]
    count: bool,
    /// Print the TIME column in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct TcpstatesArgs {
    #[command(flatten)]
    clock: ClockArgs,
    /// Include a TIME(s) column (seconds since the first transition).
    #[arg(short = 't', long)]
    timestamp: bool,
    #[command(flatten)]
    ports: PortArgs,
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options every report takes.
#[derive(Args)]
struct CommonArgs {
    /// Recordings (directories such as out.parquet); glob patterns are expanded.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
    /// Start of the time window: RFC 3339 (2025-01-31T12:00:00Z) or an offset from the recording's start (+10s, +1m30s; plain numbers are seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    from: Option<TimeSpec>,
    /// End of the time window (exclusive), same forms as --from.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    to: Option<TimeSpec>,
    /// Only this process id (tgid).
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<i32>,
    /// Only this thread name (exact match on the kernel's 15-byte comm).
    #[arg(long, value_name = "COMM")]
    comm: Option<String>,
    /// Only this cgroup v2 id (the cgroup directory's inode number).
    #[arg(long, value_name = "ID")]
    cgroup: Option<i64>,
}

impl CommonArgs {
    fn options(&self) -> Options {
        Options {
            from: self.from,
            to: self.to,
            filter: Filter {
                pid: self.pid,
                comm: self.comm.clone(),
                cgroup_id: self.cgroup,
            },
            json: self.json,
        }
    }
}

#[derive(Args)]
struct BiolatencyArgs {
    /// Millisecond histogram.
    #[arg(short = 'm', long = "milliseconds")]
    millis: bool,
    /// Include OS queued time (queue_ns + latency_ns).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// A histogram per disk.
    #[arg(short = 'D', long = "disks")]
    per_disk: bool,
    /// A histogram per set of I/O flags.
    #[arg(short = 'F', long = "flags")]
    per_flag: bool,
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Only this disk (e.g. vda).
    #[arg(short = 'd', long, value_name = "DISK")]
    disk: Option<String>,
    /// One histogram per interval of recorded time (plain numbers are seconds; 500ms, 1m …); times are printed.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many intervals (needs --interval).
    #[arg(long, value_name = "N", requires = "interval")]
    count: Option<u64>,
    /// One histogram per value of KEY across a fleet: a `KEY=VALUE` folder above each recording (fleet/host=web1/out.parquet), or for `host` the recorded host name.
    #[arg(long, value_name = "KEY")]
    by: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct BiosnoopArgs {
    /// Include OS queued time (QUE(ms) column).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// Only this disk (e.g. vda).
    #[arg(short = 'd', long, value_name = "DISK")]
    disk: Option<String>,
    /// Only requests whose LAT is at least this long: 500us, 5ms, 1.5s; a plain number is milliseconds.
    #[arg(long, value_name = "DUR", value_parser = parse_ms_arg)]
    min_latency: Option<i64>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct ExecsnoopArgs {
    /// Include failed execs.
    #[arg(short = 'x', long)]
    fails: bool,
    /// Print the time of day (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    time: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Print seconds since the start of the window (TIME(s) column).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Print the UID column.
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// Only commands whose name contains NAME.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: Option<String>,
    /// Only execs with an argument containing LINE.
    #[arg(short = 'l', long, value_name = "LINE")]
    line: Option<String>,
    /// Print at most this many arguments (` ...` marks more).
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_args: usize,
    /// Put double quotes around each argument.
    #[arg(short = 'q', long)]
    quote: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct ExitsnoopArgs {
    /// Print the time of day (bcc's TIME(s) column: HH:MM:SS, UTC unless --localtime).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Print -t times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Only exits with a non-zero status or a signal.
    #[arg(short = 'x', long)]
    failed: bool,
    /// Every thread's exit, not only processes'.
    #[arg(short = 'T', long)]
    threads: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct RunqslowerArgs {
    /// Only waits longer than this: 500us, 5ms; a plain number is microseconds (bcc's positional min_us). Default 10ms.
    #[arg(long = "min-latency", value_name = "DUR", value_parser = parse_us_arg)]
    min_latency: Option<i64>,
    /// Only this thread id.
    #[arg(short = 't', long = "tid", value_name = "TID")]
    tid: Option<i32>,
    /// Also print the task that was switched out for it (PREV COMM, PREV TID).
    #[arg(short = 'P', long = "previous")]
    previous: bool,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct RunqlenArgs {
    /// A histogram (or occupancy) per CPU.
    #[arg(short = 'C', long = "cpus")]
    per_cpu: bool,
    /// Run-queue occupancy: the share of samples with a task waiting.
    #[arg(short = 'O', long = "runqocc")]
    occupancy: bool,
    /// Print the time (HH:MM:SS, end of the window) before the output.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CpudistArgs {
    /// Off-CPU time (switch-out to next switch-in) instead of on-CPU time.
    #[arg(short = 'O', long = "offcpu")]
    offcpu: bool,
    #[command(flatten)]
    hist: RunqlatArgs,
}

#[derive(Args)]
struct RunqlatArgs {
    /// Millisecond histogram.
    #[arg(short = 'm', long = "milliseconds")]
    millis: bool,
    /// A histogram per process.
    #[arg(short = 'P', long = "pids")]
    per_process: bool,
    /// A histogram per thread.
    #[arg(short = 'L', long = "tids")]
    per_thread: bool,
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// One histogram per interval of recorded time (plain numbers are seconds; 500ms, 1m …); times are printed.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_secs_arg)]
    interval: Option<i64>,
    /// Print at most this many intervals (needs --interval).
    #[arg(long, value_name = "N", requires = "interval")]
    count: Option<u64>,
    #[command(flatten)]
    common: CommonArgs,
}

impl RunqlatArgs {
    fn options(&self) -> RunqlatOptions {
        RunqlatOptions {
            common: self.common.options(),
            millis: self.millis,
            per_process: self.per_process,
            per_thread: self.per_thread,
            timestamp: self.timestamp,
            localtime: self.localtime,
            interval_ns: self.interval,
            count: self.count,
        }
    }
}

fn parse_time_arg(s: &str) -> Result<TimeSpec, String> {
    parse_time_spec(s).map_err(|e| e.to_string())
}

fn parse_secs_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Seconds).map_err(|e| e.to_string())
}

fn parse_us_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Micros).map_err(|e| e.to_string())
}

fn parse_ms_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Millis).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut stdout = BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut stderr = stderr.lock();
    let mut out = Out::new(&mut stdout, &mut stderr);
    match cli.command {
        Command::Verify(a) => {
            let opts = verify::VerifyOptions {
                paths: a.paths,
                json: a.json,
            };
            let damaged = verify::run_verify(&opts, &mut out).context("verify")?;
            out.out.flush()?;
            if damaged > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Recover(a) => {
            let opts = verify::VerifyOptions {
                paths: a.paths,
                json: a.json,
            };
            verify::run_recover(&opts, &mut out).context("recover")?;
        }
        Command::Summary { common } => {
            let recs = open_recordings(&common.paths)?;
            summary::run(
                &recs,
                &SummaryOptions {
                    common: common.options(),
                },
                &mut out,
            )
            .context("summary")?;
        }
        Command::Biolatency(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = BiolatencyOptions {
                common: a.common.options(),
                millis: a.millis,
                queued: a.queued,
                per_disk: a.per_disk,
                per_flag: a.per_flag,
                timestamp: a.timestamp,
                localtime: a.localtime,
                disk: a.disk,
                interval_ns: a.interval,
                count: a.count,
                by: a.by,
            };
            biolatency::run(&recs, &opts, &mut out).context("biolatency")?;
        }
        Command::Biosnoop(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = BiosnoopOptions {
                common: a.common.options(),
                queued: a.queued,
                disk: a.disk,
                min_latency_ns: a.min_latency.unwrap_or(0),
            };
            biosnoop::run(&recs, &opts, &mut out).context("biosnoop")?;
        }
        Command::Execsnoop(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = ExecsnoopOptions {
                common: a.common.options(),
                failed: a.fails,
                time: a.time,
                localtime: a.localtime,
                timestamp: a.timestamp,
                uid: a.print_uid,
                name: a.name,
                line: a.line,
                max_args: a.max_args,
                quote: a.quote,
            };
            execsnoop::run(&recs, &opts, &mut out).context("execsnoop")?;
        }
        Command::Exitsnoop(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = ExitsnoopOptions {
                common: a.common.options(),
                time: a.timestamp,
                localtime: a.localtime,
                failed: a.failed,
                threads: a.threads,
            };
            execsnoop::run_exits(&recs, &opts, &mut out).context("exitsnoop")?;
        }
        Command::Runqlat(a) => {
            let recs = open_recordings(&a.common.paths)?;
            runqlat::run(&recs, &a.options(), &mut out).context("runqlat")?;
        }
        Command::Runqslower(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = RunqslowerOptions {
                common: a.common.options(),
                min_ns: a.min_latency.unwrap_or(runqslower::DEFAULT_MIN_NS),
                tid: a.tid,
                previous: a.previous,
                localtime: a.localtime,
            };
            runqslower::run(&recs, &opts, &mut out).context("runqslower")?;
        }
        Command::Runqlen(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = RunqlenOptions {
                common: a.common.options(),
                per_cpu: a.per_cpu,
                occupancy: a.occupancy,
                timestamp: a.timestamp,
                localtime: a.localtime,
            };
            runqlen::run(&recs, &opts, &mut out).context("runqlen")?;
        }
        Command::Cpudist(a) => {
            let recs = open_recordings(&a.hist.common.paths)?;
            let opts = CpudistOptions {
                hist: a.hist.options(),
                offcpu: a.offcpu,
            };
            cpudist::run(&recs, &opts, &mut out).context("cpudist")?;
        }
        Command::Tcpconnect(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::Connect(ConnectOptions {
                timestamp: a.timestamp,
                print_uid: a.print_uid,
                uid: a.uid,
                source_port: a.source_port,
                count: a.count,
                ports: a.port,
            }),
            &mut out,
        )?,
        Command::Tcpaccept(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::Accept(AcceptOptions {
                time: a.clock.time,
                localtime: a.clock.localtime,
                timestamp: a.timestamp,
                ports: a.port,
            }),
            &mut out,
        )?,
        Command::Tcplife(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::Life(LifeOptions {
                time: a.clock.time,
                localtime: a.clock.localtime,
                wide: a.wide,
                local_ports: a.ports.local_ports,
                remote_ports: a.ports.remote_ports,
            }),
            &mut out,
        )?,
        Command::Tcpconnlat(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::Connlat(ConnlatOptions {
                min_ns: a.min.unwrap_or(0),
                timestamp: a.timestamp,
                lport: a.lport,
            }),
            &mut out,
        )?,
        Command::Tcpretrans(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::Retrans(RetransOptions {
                count: a.count,
                localtime: a.localtime,
            }),
            &mut out,
        )?,
        Command::Tcpstates(a) => run_tcp(
            &a.common,
            a.ip.ip(),
            Report::States(StatesOptions {
                time: a.clock.time,
                localtime: a.clock.localtime,
                timestamp: a.timestamp,
                local_ports: a.ports.local_ports,
                remote_ports: a.ports.remote_ports,
            }),
            &mut out,
        )?,
        Command::Profile(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = ProfileOptions {
                common: a.common.options(),
                parts: a.parts.parts(),
                folded: a.folded,
            };
            profile::run(&recs, &opts, &mut out).context("profile")?;
        }
        Command::Offcputime(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = OffcpuOptions {
                common: a.common.options(),
                parts: a.parts.parts(),
                folded: a.folded,
                min_us: a.min_us,
                max_us: a.max_us,
                state: a.state,
            };
            profile::run_offcpu(&recs, &opts, &mut out).context("offcputime")?;
        }
        Command::Flamegraph(a) => run_flamegraph(a, &mut out)?,
        Command::Opensnoop(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = OpensnoopOptions {
                common: a.common.options(),
                failed: a.failed,
                time: a.clock.time,
                localtime: a.clock.localtime,
                uid: a.print_uid,
                extended: a.extended,
                name: a.name,
            };
            opensnoop::run(&recs, &opts, &mut out).context("opensnoop")?;
        }
        Command::Fsslower(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = FsslowerOptions {
                common: a.common.options(),
                min_latency_ns: a.min,
                fs: a.fs,
                localtime: a.localtime,
            };
            fsslower::run(&recs, &opts, &mut out).context("fsslower")?;
        }
        Command::Filetop(a) => {
            let opts = FiletopOptions {
                common: a.common.options(),
                sort: SortBy::parse(&a.sort)?,
                max_rows: a.max_rows,
                interval_ns: a.interval,
                count: a.count,
                localtime: a.localtime,
            };
            let recs = open_recordings(&a.common.paths)?;
            filetop::run(&recs, &opts, &mut out).context("filetop")?;
        }
        Command::Cachestat(a) => {
            let recs = open_recordings(&a.common.paths)?;
            let opts = CachestatOptions {
                common: a.common.options(),
                timestamp: a.timestamp,
                localtime: a.localtime,
                interval_ns: a.interval,
                count: a.count,
            };
            cachestat::run(&recs, &opts, &mut out).context("cachestat")?;
        }
    }
    out.out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_flamegraph(a: FlamegraphArgs, out: &mut Out<'_>) -> anyhow::Result<()> {
    let kind = if a.kind == "offcpu" {
        Kind::Offcpu
    } else {
        Kind::Cpu
    };
    let common = a.common.options();
    let (recs, diff) = match (a.diff, &a.before, a.common.paths.len()) {
        (false, _, _) => (open_recordings(&a.common.paths)?, None),
        (true, None, 2) => {
            let before = open_recordings(&a.common.paths[..1])?;
            let after = open_recordings(&a.common.paths[1..])?;
            (after, Some(Before::Recordings(before)))
        }
        (true, Some(w), 1) => {
            let (f, t) = w
                .split_once(',')
                .context("--before takes FROM,TO (for example +0s,+10s)")?;
            let before = ktape_analyze::Options {
                from: Some(parse_time_spec(f.trim())?),
                to: Some(parse_time_spec(t.trim())?),
                ..common.clone()
            };
            (
                open_recordings(&a.common.paths)?,
                Some(Before::Window(before)),
            )
        }
        (true, None, _) => anyhow::bail!(
            "--diff needs two recordings (before, after), or one recording with --before FROM,TO"
        ),
        (true, Some(_), _) => {
            anyhow::bail!(
                "--diff with --before compares two windows of one recording: give one PATH"
            )
        }
    };
    let opts = FlamegraphOptions {
        common,
        parts: a.parts.parts(),
        kind,
        output: a.output,
        diff,
    };
    flamegraph::run(&recs, &opts, out).context("flamegraph")
}

fn run_tcp(
    common: &CommonArgs,
    ip: Option<i32>,
    report: Report,
    out: &mut Out<'_>,
) -> anyhow::Result<()> {
    let recs = open_recordings(&common.paths)?;
    let name = report.name();
    let opts = TcpOptions {
        common: common.options(),
        ip,
        report,
    };
    tcp::run(&recs, &opts, out).context(name)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.chain().any(is_broken_pipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
