//! `tcpretrans`: retransmitted segments from the `tcp_retransmit` table,
//! listed or (`-c`) counted per flow, in the layout of bcc's tcpretrans.
//! Failed retransmits (the kernel's tracepoint reports a negative result:
//! nothing reached the wire) are marked `F` where bcc prints `R`.

use std::io::Write;

use super::{pid_comm, tally, Row, Selected, Tcp};
use crate::error::Result;
use crate::time::format_hms;

/// tcpretrans's own options. Defaults list every retransmit.
#[derive(Debug, Clone, Default)]
pub struct RetransOptions {
    /// `-c`: count per flow instead of listing. Default: off.
    pub count: bool,
    /// `--localtime`: the TIME column in the local time zone. Default: UTC.
    pub localtime: bool,
}

pub(super) fn select(rows: Vec<Row>, o: &RetransOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    let kept = rows.into_iter().filter(|r| keep(r));
    if !o.count {
        return Selected::lines(kept);
    }
    let kept: Vec<Row> = kept.collect();
    Selected {
        counts: Some(tally(
            kept.iter()
                .map(|r| (&r.saddr, Some(r.sport), &r.daddr, r.dport)),
        )),
        ..Selected::default()
    }
}

pub(super) fn write_text(r: &Tcp, opts: &RetransOptions, o: &mut dyn Write) -> Result<()> {
    if let Some(counts) = &r.counts {
        writeln!(
            o,
            "\n{:<25} {:<25} {:<10}",
            "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"
        )?;
        for c in counts {
            writeln!(
                o,
                "{:<25} {:<25} {:<10}",
                format!("{}:{}", c.saddr, c.sport.unwrap_or(0)),
                format!("{}:{}", c.daddr, c.dport),
                c.count
            )?;
        }
        return Ok(());
    }
    writeln!(
        o,
        "{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} {:<4}",
        "TIME", "PID", "IP", "LADDR:LPORT", "T", "RADDR:RPORT", "STATE"
    )?;
    for l in &r.lines {
        let row = &l.row;
        let (pid, _) = pid_comm(row);
        let t = if row.error.is_some_and(|e| e != 0) {
            "F"
        } else {
            "R"
        };
        writeln!(
            o,
            "{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} {}",
            format_hms(row.ts, opts.localtime),
            pid,
            row.ip,
            format!("{}:{}", row.saddr, row.sport),
            t,
            format!("{}:{}", row.daddr, row.dport),
            row.newstate
        )?;
    }
    Ok(())
}

/// `tcpretrans` on the command line.
#[derive(clap::Args)]
pub struct TcpretransArgs {
    /// Count retransmits per flow instead of listing them.
    #[arg(short = 'c', long)]
    count: bool,
    /// Print the TIME column in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcpretransArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::Retrans(RetransOptions {
            count: self.count,
            localtime: self.localtime,
        });
        self.tcp.run(report, out)
    }
}
