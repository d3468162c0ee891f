//! `tcpstates`: every state transition with the time spent in the old
//! state, in the layout of bcc's tcpstates (C-PID/C-COMM are the socket's
//! owner, not the task a softirq interrupted).

use std::io::Write;

use super::{cut, pid_comm, secs_since_first, Row, Selected, Tcp};
use crate::error::Result;
use crate::time::{format_hms, NS_PER_MS};

/// tcpstates's own options. Defaults list every transition.
#[derive(Debug, Clone, Default)]
pub struct StatesOptions {
    /// `-T`: TIME (HH:MM:SS) column. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-t`: TIME(s) column. Default: off.
    pub timestamp: bool,
    /// `-L`/`-D`: only these local and remote ports. Default: all.
    pub ports: super::Ports,
}

pub(super) fn select(rows: Vec<Row>, o: &StatesOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    Selected::lines(
        rows.into_iter()
            .filter(|r| keep(r) && o.ports.keep(r.sport, r.dport)),
    )
}

pub(super) fn write_text(r: &Tcp, opts: &StatesOptions, o: &mut dyn Write) -> Result<()> {
    let secs = secs_since_first(r);
    if opts.time {
        write!(o, "{:<8} ", "TIME")?;
    }
    if opts.timestamp {
        write!(o, "{:<9} ", "TIME(s)")?;
    }
    writeln!(
        o,
        "{:<16} {:<5} {:<10.10} {:<15} {:<5} {:<15} {:<5} {:<11} -> {:<11} MS",
        "SKADDR", "C-PID", "C-COMM", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE", "NEWSTATE",
    )?;
    for l in &r.lines {
        let row = &l.row;
        if opts.time {
            write!(o, "{:<8} ", format_hms(row.ts, opts.localtime))?;
        }
        if opts.timestamp {
            write!(o, "{:<9.6} ", secs(row.ts))?;
        }
        let (pid, comm) = pid_comm(row);
        writeln!(
            o,
            "{:<16x} {:<5} {} {:<15} {:<5} {:<15} {:<5} {:<11} -> {:<11} {:.3}",
            row.skaddr,
            pid,
            cut(&comm, 10),
            row.saddr,
            row.sport,
            row.daddr,
            row.dport,
            row.oldstate,
            row.newstate,
            row.prev_ns.unwrap_or(0) as f64 / NS_PER_MS as f64
        )?;
    }
    Ok(())
}

/// `tcpstates` on the command line.
#[derive(clap::Args)]
pub struct TcpstatesArgs {
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    /// Include a TIME(s) column (seconds since the first transition).
    #[arg(short = 't', long)]
    timestamp: bool,
    #[command(flatten)]
    ports: super::Ports,
    #[command(flatten)]
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcpstatesArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::States(StatesOptions {
            time: self.clock.time,
            localtime: self.clock.localtime,
            timestamp: self.timestamp,
            ports: self.ports,
        });
        self.tcp.run(report, out)
    }
}
