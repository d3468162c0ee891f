//! `tcpconnect`: one line per active open (the CLOSE → SYN_SENT
//! transition a connect() makes in the caller's context), or with `-c`
//! connects counted per flow, as libbpf-tools' tcpconnect prints them.
//!
//! The local port is not known yet at SYN_SENT (the kernel picks it right
//! after), so `-s` takes it from the socket's next transition. `-U`/`-u`
//! need the `uid` column, which recordings made before it existed lack:
//! such connects print `?` and never match `-u`, and a note says how many.

use std::collections::HashMap;
use std::io::Write;

use super::{cut, pid_comm, port_ok, secs_since_first, tally, Count, Line, Row, Selected, Tcp};
use crate::error::Result;

/// tcpconnect's own options. Defaults list every connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `-t`: TIME(s) column. Default: off.
    pub timestamp: bool,
    /// `-U`: UID column. Default: off.
    pub print_uid: bool,
    /// `-u`: only connects made by this uid. Default: all.
    pub uid: Option<i64>,
    /// `-s`: SPORT column (with `-c`: count per local port too). Default: off.
    pub source_port: bool,
    /// `-c`: count connects per (LADDR, RADDR, RPORT) instead of listing them.
    pub count: bool,
    /// `-P`: only these remote ports. Default: all.
    pub ports: Vec<i32>,
}

pub(super) fn select(rows: Vec<Row>, o: &ConnectOptions, keep: &dyn Fn(&Row) -> bool) -> Selected {
    // The local port of a connect is known from the socket's next
    // transition: index the rows by socket.
    let mut by_socket: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_socket
            .entry((r.recording, r.skaddr))
            .or_default()
            .push(i);
    }
    let mut lines = Vec::new();
    let mut no_uid = 0usize;
    for (i, r) in rows.iter().enumerate() {
        if &*r.oldstate != "CLOSE" || &*r.newstate != "SYN_SENT" {
            continue;
        }
        if !keep(r) || !port_ok(&o.ports, r.dport) {
            continue;
        }
        if (o.print_uid || o.uid.is_some()) && r.uid.is_none() {
            no_uid += 1;
        }
        if o.uid.is_some_and(|u| r.uid != Some(u)) {
            continue;
        }
        let sport = by_socket[&(r.recording, r.skaddr)]
            .iter()
            .find(|&&j| j > i)
            .map(|&j| rows[j].sport)
            .filter(|&p| p != 0);
        lines.push(Line {
            row: r.clone(),
            connect_sport: Some(sport.unwrap_or(0)),
        });
    }
    let mut notes = Vec::new();
    if no_uid > 0 {
        notes.push(format!(
            "note: {no_uid} connect(s) have no uid (recorded before ktape recorded uids: tcp_state has no `uid` column); {}",
            if o.uid.is_some() {
                "-u left them out"
            } else {
                "UID shows ?"
            }
        ));
    }
    if !o.count {
        return Selected {
            lines,
            counts: None,
            notes,
        };
    }
    let counts = tally(lines.iter().map(|l| {
        let r = &l.row;
        let sport = o.source_port.then_some(l.connect_sport.unwrap_or(0));
        (&r.saddr, sport, &r.daddr, r.dport)
    }));
    Selected {
        lines: Vec::new(),
        counts: Some(counts),
        notes,
    }
}

/// `-c` lines: `LADDR RADDR [LPORT] RPORT CONNECTS`.
fn write_counts(o: &mut dyn Write, counts: &[Count], lport: bool) -> Result<()> {
    write!(o, "\n{:<25} {:<25}", "LADDR", "RADDR")?;
    if lport {
        write!(o, " {:<20}", "LPORT")?;
    }
    writeln!(o, " {:<20} {:<10}", "RPORT", "CONNECTS")?;
    for c in counts {
        write!(o, "{:<25} {:<25}", c.saddr, c.daddr)?;
        if lport {
            write!(o, " {:<20}", c.sport.unwrap_or(0))?;
        }
        writeln!(o, " {:<20} {:<10}", c.dport, c.count)?;
    }
    Ok(())
}

pub(super) fn write_text(r: &Tcp, opts: &ConnectOptions, o: &mut dyn Write) -> Result<()> {
    if let Some(counts) = &r.counts {
        return write_counts(o, counts, opts.source_port);
    }
    let secs = secs_since_first(r);
    if opts.timestamp {
        write!(o, "{:<9}", "TIME(s)")?;
    }
    if opts.print_uid {
        write!(o, "{:<6}", "UID")?;
    }
    write!(
        o,
        "{:<6} {:<12} {:<2} {:<16} {:<16}",
        "PID", "COMM", "IP", "SADDR", "DADDR"
    )?;
    if opts.source_port {
        write!(o, " {:<5}", "SPORT")?;
    }
    writeln!(o, " {:<5}", "DPORT")?;
    for l in &r.lines {
        let row = &l.row;
        if opts.timestamp {
            write!(o, "{:<9.3}", secs(row.ts))?;
        }
        if opts.print_uid {
            match row.uid {
                Some(u) => write!(o, "{u:<6}")?,
                None => write!(o, "{:<6}", "?")?,
            }
        }
        let (pid, comm) = pid_comm(row);
        write!(
            o,
            "{:<6} {} {:<2} {:<16} {:<16}",
            pid,
            cut(&comm, 12),
            row.ip,
            row.saddr,
            row.daddr
        )?;
        if opts.source_port {
            write!(o, " {:<5}", l.connect_sport.unwrap_or(0))?;
        }
        writeln!(o, " {:<5}", row.dport)?;
    }
    Ok(())
}

/// `tcpconnect` on the command line.
#[derive(clap::Args)]
pub struct TcpconnectArgs {
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
    tcp: super::TcpArgs,
}

impl crate::cli::Run for TcpconnectArgs {
    fn run(self, out: &mut crate::output::Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        let report = super::Report::Connect(ConnectOptions {
            timestamp: self.timestamp,
            print_uid: self.print_uid,
            uid: self.uid,
            source_port: self.source_port,
            count: self.count,
            ports: self.port,
        });
        self.tcp.run(report, out)
    }
}
