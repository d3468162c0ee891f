//! `tcplife`: one line per closed connection with its bytes and lifetime,
//! from the transitions to CLOSE (which carry `rx_bytes`, `tx_bytes` and
//! `lifetime_ns`), in the layout of libbpf-tools' tcplife.

use std::io::Write;

use super::{pid_comm, Row, Selected, Tcp};
use crate::error::Result;
use crate::time::{format_hms, NS_PER_MS};

/// tcplife's own options. Defaults list every connection.
#[derive(Debug, Clone, Default)]
pub struct LifeOptions {
    /// `-T`: TIME(s) (HH:MM:SS) column. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-w`: wide address columns (IPv6). Default: 15 characters.
    pub wide: bool,
    /// `-L`/`-D`: only these local and remote ports. Default: all.
    pub ports: super::Ports,
}

pub(super) fn select(rows: Vec<Row>, o: &LifeOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    Selected::lines(rows.into_iter().filter(|r| {
        &*r.newstate == "CLOSE"
            && r.lifetime_ns.is_some()
            && keep(r)
            && o.ports.keep(r.sport, r.dport)
    }))
}

pub(super) fn write_text(r: &Tcp, opts: &LifeOptions, o: &mut dyn Write) -> Result<()> {
    let w = if opts.wide { 39 } else { 15 };
    if opts.time {
        write!(o, "{:<8} ", "TIME(s)")?;
    }
    writeln!(
        o,
        "{:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5} {:<6} {:<6} MS",
        "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB"
    )?;
    for l in &r.lines {
        let row = &l.row;
        if opts.time {
            write!(o, "{:>8} ", format_hms(row.ts, opts.localtime))?;
        }
        let (pid, comm) = pid_comm(row);
        writeln!(
            o,
            "{:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5} {:<6.2} {:<6.2} {:.2}",
            pid,
            comm,
            row.saddr,
            row.sport,
            row.daddr,
            row.dport,
            row.tx_bytes.unwrap_or(0) as f64 / 1024.0,
            row.rx_bytes.unwrap_or(0) as f64 / 1024.0,
            row.lifetime_ns.unwrap_or(0) as f64 / NS_PER_MS as f64
        )?;
    }
    Ok(())
}

/// `tcplife` on the command line.
#[derive(clap::Args)]
pub struct TcplifeArgs {
    #[command(flatten)]
    clock: crate::cli::ClockArgs,
    /// Wide address columns (fit IPv6 addresses).
    #[arg(short = 'w', long)]
    wide: bool,
    #[command(flatten)]
    ports: super::Ports,
    #[command(flatten)]
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcplifeArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::Life(LifeOptions {
            time: self.clock.time,
            localtime: self.clock.localtime,
            wide: self.wide,
            ports: self.ports,
        });
        self.tcp.run(report, out)
    }
}
