//! `tcpaccept`: one line per connection returned by accept(), from the
//! `tcp_accept` table (the system call's exit, so the pid is the
//! accepter's, unlike the softirq state transitions of a passive open), in
//! the layout of bcc's tcpaccept.

use std::io::Write;

use super::{cut, pid_comm, port_ok, secs_since_first, Row, Selected, Tcp};
use crate::error::Result;
use crate::time::format_hms;

/// tcpaccept's own options. Defaults list every accept.
#[derive(Debug, Clone, Default)]
pub struct AcceptOptions {
    /// `-T`: TIME (HH:MM:SS) column. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-t`: TIME(s) column. Default: off.
    pub timestamp: bool,
    /// `-P`: only these local ports. Default: all.
    pub ports: Vec<i32>,
}

pub(super) fn select(rows: Vec<Row>, o: &AcceptOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    Selected::lines(
        rows.into_iter()
            .filter(|r| keep(r) && port_ok(&o.ports, r.sport)),
    )
}

pub(super) fn write_text(r: &Tcp, opts: &AcceptOptions, o: &mut dyn Write) -> Result<()> {
    let secs = secs_since_first(r);
    if opts.time {
        write!(o, "{:<9}", "TIME")?;
    }
    if opts.timestamp {
        write!(o, "{:<9}", "TIME(s)")?;
    }
    writeln!(
        o,
        "{:<7} {:<12} {:<2} {:<16} {:<5} {:<16} {:<5}",
        "PID", "COMM", "IP", "RADDR", "RPORT", "LADDR", "LPORT"
    )?;
    for l in &r.lines {
        let row = &l.row;
        if opts.time {
            write!(o, "{:<9}", format_hms(row.ts, opts.localtime))?;
        }
        if opts.timestamp {
            write!(o, "{:<9.3}", secs(row.ts))?;
        }
        let (pid, comm) = pid_comm(row);
        writeln!(
            o,
            "{:<7} {} {:<2} {:<16} {:<5} {:<16} {:<5}",
            pid,
            cut(&comm, 12),
            row.ip,
            row.daddr,
            row.dport,
            row.saddr,
            row.sport
        )?;
    }
    Ok(())
}

/// `tcpaccept` on the command line.
#[derive(clap::Args)]
pub struct TcpacceptArgs {
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    /// Include a TIME(s) column (seconds since the first accept).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Only these local ports (comma-separated).
    #[arg(short = 'P', long, value_name = "PORTS", value_delimiter = ',')]
    port: Vec<i32>,
    #[command(flatten)]
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcpacceptArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::Accept(AcceptOptions {
            time: self.clock.time,
            localtime: self.clock.localtime,
            timestamp: self.timestamp,
            ports: self.port,
        });
        self.tcp.run(report, out)
    }
}
