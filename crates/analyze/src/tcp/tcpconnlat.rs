//! `tcpconnlat`: connect latency, the time a socket spent in SYN_SENT
//! before ESTABLISHED (`prev_ns` of that transition), with a minimum, in
//! the layout of bcc's tcpconnlat (LAT(ms) last).

use std::io::Write;

use super::{cut, pid_comm, secs_since_first, Row, Selected, Tcp};
use crate::error::Result;
use crate::time::NS_PER_MS;

/// tcpconnlat's own options. Defaults list every connect.
#[derive(Debug, Clone, Default)]
pub struct ConnlatOptions {
    /// Only connects at least this slow, ns. Default: 0.
    pub min_ns: i64,
    /// `-t`: TIME(s) column. Default: off.
    pub timestamp: bool,
    /// `-L`: LPORT column. Default: off.
    pub lport: bool,
}

pub(super) fn select(rows: Vec<Row>, o: &ConnlatOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    Selected::lines(rows.into_iter().filter(|r| {
        &*r.oldstate == "SYN_SENT"
            && &*r.newstate == "ESTABLISHED"
            && r.prev_ns.is_some_and(|p| p >= o.min_ns)
            && keep(r)
    }))
}

pub(super) fn write_text(r: &Tcp, opts: &ConnlatOptions, o: &mut dyn Write) -> Result<()> {
    let secs = secs_since_first(r);
    if opts.timestamp {
        write!(o, "{:<9} ", "TIME(s)")?;
    }
    if opts.lport {
        writeln!(
            o,
            "{:<6} {:<12} {:<2} {:<16} {:<6} {:<16} {:<5} LAT(ms)",
            "PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT"
        )?;
    } else {
        writeln!(
            o,
            "{:<6} {:<12} {:<2} {:<16} {:<16} {:<5} LAT(ms)",
            "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"
        )?;
    }
    for l in &r.lines {
        let row = &l.row;
        if opts.timestamp {
            write!(o, "{:<9.3} ", secs(row.ts))?;
        }
        let (pid, comm) = pid_comm(row);
        let lat = row.prev_ns.unwrap_or(0) as f64 / NS_PER_MS as f64;
        write!(
            o,
            "{:<6} {} {:<2} {:<16} ",
            pid,
            cut(&comm, 12),
            row.ip,
            row.saddr
        )?;
        if opts.lport {
            write!(o, "{:<6} ", row.sport)?;
        }
        writeln!(o, "{:<16} {:<5} {:.2}", row.daddr, row.dport, lat)?;
    }
    Ok(())
}

/// `tcpconnlat` on the command line.
#[derive(clap::Args)]
pub struct TcpconnlatArgs {
    /// Only connects at least this slow: 500us, 5ms, 1s; a plain number is milliseconds (bcc's positional min_ms).
    #[arg(long = "min", value_name = "DUR", value_parser = crate::cli::parse_ms_arg)]
    min: Option<i64>,
    /// Include a TIME(s) column (seconds since the first connect).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Include the local port (LPORT).
    #[arg(short = 'L', long)]
    lport: bool,
    #[command(flatten)]
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcpconnlatArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::Connlat(ConnlatOptions {
            min_ns: self.min.unwrap_or(0),
            timestamp: self.timestamp,
            lport: self.lport,
        });
        self.tcp.run(report, out)
    }
}
