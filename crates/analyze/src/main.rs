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
//! This file is only the dispatch: each report module owns its clap
//! arguments (`ktape_analyze::*::*Args`, turned into the library's
//! `*Options` in one place), and the one list below makes both the
//! subcommands and the match that runs them. Errors become one `error: …`
//! line (`{:#}`, so the file name that the library put in the message
//! shows) and exit status 1. A closed pipe (`… | head`) is success.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ktape_analyze::cli::Run;
use ktape_analyze::output::{is_broken_pipe, Out};
use ktape_analyze::tcp::{tcpaccept, tcpconnect, tcpconnlat, tcplife, tcpretrans, tcpstates};
use ktape_analyze::{biolatency, biosnoop, cachestat, cpudist, execsnoop, exitsnoop, filetop};
use ktape_analyze::{
    flamegraph, fsslower, opensnoop, profile, runqlat, runqlen, runqslower, summary, verify,
};

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

/// The one list of subcommands: each line names the variant (its
/// kebab-case name is the subcommand) and the module's arguments type; the
/// doc comment is the subcommand's one-line help.
macro_rules! reports {
    ($($(#[doc = $doc:expr])* $name:ident($args:ty),)*) => {
        #[derive(Subcommand)]
        enum Command {
            $($(#[doc = $doc])* $name($args),)*
        }

        impl Command {
            fn run(self, out: &mut Out<'_>) -> anyhow::Result<ExitCode> {
                match self {
                    $(Command::$name(a) => a.run(out),)*
                }
            }
        }
    };
}

reports! {
    /// Where, when and how a recording was made; rows and bytes per table; lost events; what is incomplete; the cross-checks against the kernel's own counters.
    Summary(summary::SummaryArgs),
    /// Checks every segment file of recordings against its checksums and decodes every row; names each damaged file (exit status 1 if any).
    Verify(verify::VerifyCli),
    /// Turns the unfinished segments a killed recorder left into complete segment files, as of their last checkpoint (so pandas, DuckDB and Spark read them).
    Recover(verify::RecoverCli),
    /// Block I/O latency as a log2 histogram (bcc biolatency).
    Biolatency(biolatency::BiolatencyArgs),
    /// One line per block I/O request (bcc biosnoop).
    Biosnoop(biosnoop::BiosnoopArgs),
    /// One line per exec, with its arguments (bcc execsnoop; needs -e exec).
    Execsnoop(execsnoop::ExecsnoopArgs),
    /// One line per process exit, with its age and status (bcc exitsnoop; needs -e exec).
    Exitsnoop(exitsnoop::ExitsnoopArgs),
    /// Run-queue (scheduler) latency as a log2 histogram (bcc runqlat).
    Runqlat(runqlat::RunqlatArgs),
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
    /// CPU samples by stack (bcc profile; needs -e profile).
    Profile(profile::ProfileArgs),
    /// Time blocked off CPU by stack, in microseconds (bcc offcputime; needs -e offcpu).
    Offcputime(profile::OffcputimeArgs),
    /// SVG flame graph of CPU samples or off-CPU time (inferno); --diff compares two windows or recordings.
    Flamegraph(flamegraph::FlamegraphArgs),
    /// Run-queue waits longer than a threshold, with the task that ran meanwhile (bcc runqslower).
    Runqslower(runqslower::RunqslowerArgs),
    /// Run-queue length as a linear histogram (bcc runqlen; needs -e runqlen).
    Runqlen(runqlen::RunqlenArgs),
    /// On-CPU (or, with -O, off-CPU) time per scheduling slice as a log2 histogram (bcc cpudist).
    Cpudist(cpudist::CpudistArgs),
    /// One line per open/openat/openat2 call (bcc opensnoop; needs -e open).
    Opensnoop(opensnoop::OpensnoopArgs),
    /// File operations slower than a threshold (bcc fsslower/ext4slower; needs -e fileio).
    Fsslower(fsslower::FsslowerArgs),
    /// Files read and written the most, by thread (bcc filetop; needs -e fileio).
    Filetop(filetop::FiletopArgs),
    /// Page-cache hits, misses and dirtied pages per second (bcc cachestat; needs -e cache).
    Cachestat(cachestat::CachestatArgs),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut stdout = BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut stderr = stderr.lock();
    let mut out = Out::new(&mut stdout, &mut stderr);
    let code = cli.command.run(&mut out)?;
    out.out.flush()?;
    Ok(code)
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
