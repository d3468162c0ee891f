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
//! `*Options` in one place), and the one list of reports in the library
//! (`ktape_analyze::Command`) makes both the subcommands and the match that
//! runs them. Errors become one `error: …`
//! line (`{:#}`, so the file name that the library put in the message
//! shows) and exit status 1. A closed pipe (`… | head`) is success.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use clap::Parser;
use ktape_analyze::output::{is_broken_pipe, Out};
use ktape_analyze::Command;

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
