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
//! shows) and exit status 1. A closed pipe (`… | head`) is success. On a
//! terminal, long analyses show a progress bar on stderr
//! (`ktape_analyze::progress`), cleared before the first line of output.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use ktape_analyze::output::{is_broken_pipe, Out};
use ktape_analyze::progress;
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

/// A writer that clears the progress bar before its first byte, so that
/// the report never lands on the bar's line.
struct AfterBar<W>(W, bool);

impl<W: Write> Write for AfterBar<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.1 {
            progress::finish();
            self.1 = true;
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if io::stderr().is_terminal() {
        progress::enable();
    }
    let stdout = io::stdout();
    let mut stdout = AfterBar(BufWriter::new(stdout.lock()), false);
    let stderr = io::stderr();
    let mut stderr = AfterBar(stderr.lock(), false);
    let mut out = Out::new(&mut stdout, &mut stderr);
    let result = cli.command.run(&mut out);
    progress::finish();
    let code = result?;
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
