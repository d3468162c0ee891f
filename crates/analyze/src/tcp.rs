//! The TCP reports, from the `tcp` family's tables: `tcpconnect`,
//! `tcpaccept`, `tcplife`, `tcpconnlat`, `tcpretrans` and `tcpstates`, in
//! the layouts of bcc's tools (libbpf-tools where it has the tool, the
//! Python tool otherwise).
//!
//! All six read rows into memory (TCP event rates are far below block or
//! scheduler rates, and the reports need a socket's rows together: a
//! connect's local port comes from the socket's next transition), sorted by
//! time. Sockets are attributed to their owner (`sk_tgid`/`sk_comm`: the
//! process that called connect() or accepted it), never to the task a
//! softirq happened to interrupt; `-p` and `--comm` filter on the owner
//! (tcpaccept: the accepting task). `--cgroup` is not available: the tcp
//! tables have no cgroup column.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use ktape_format::read::Recording;
use ktape_format::tcp::{ACCEPT_TABLE, RETRANSMIT_TABLE, STATE_TABLE};
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{incomplete_note, missing_table_note, scan_optional, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, NS_PER_MS, NS_PER_SEC};

/// Which report, with its own options. Defaults print every row.
#[derive(Debug, Clone)]
pub enum Report {
    /// `tcpconnect`: active opens (CLOSE → SYN_SENT).
    Connect {
        /// `-t`: TIME(s) column. Default: off.
        timestamp: bool,
        /// `-s`: SPORT column. Default: off.
        source_port: bool,
        /// `-c`: count connects per (LADDR, RADDR, RPORT) instead of listing them.
        count: bool,
        /// `-P`: only these remote ports. Default: all.
        ports: Vec<i32>,
    },
    /// `tcpaccept`: connections returned by accept().
    Accept {
        /// `-T`: TIME (HH:MM:SS) column. Default: off.
        time: bool,
        /// `-t`: TIME(s) column. Default: off.
        timestamp: bool,
        /// `-P`: only these local ports. Default: all.
        ports: Vec<i32>,
    },
    /// `tcplife`: one line per closed connection.
    Life {
        /// `-T`: TIME(s) (HH:MM:SS) column. Default: off.
        time: bool,
        /// `-w`: wide address columns (IPv6). Default: 15 characters.
        wide: bool,
        /// `-L`: only these local ports. Default: all.
        local_ports: Vec<i32>,
        /// `-D`: only these remote ports. Default: all.
        remote_ports: Vec<i32>,
    },
    /// `tcpconnlat`: SYN_SENT → ESTABLISHED.
    Connlat {
        /// Only connects at least this slow, ns. Default: 0.
        min_ns: i64,
        /// `-t`: TIME(s) column. Default: off.
        timestamp: bool,
        /// `-L`: LPORT column. Default: off.
        lport: bool,
    },
    /// `tcpretrans`: retransmitted segments.
    Retrans {
        /// `-c`: count per flow instead of listing. Default: off.
        count: bool,
    },
    /// `tcpstates`: every transition.
    States {
        /// `-T`: TIME (HH:MM:SS) column. Default: off.
        time: bool,
        /// `-t`: TIME(s) column. Default: off.
        timestamp: bool,
        /// `-L`: only these local ports. Default: all.
        local_ports: Vec<i32>,
        /// `-D`: only these remote ports. Default: all.
        remote_ports: Vec<i32>,
    },
}

impl Report {
    /// The report's (bcc tool's) name.
    pub fn name(&self) -> &'static str {
        match self {
            Report::Connect { .. } => "tcpconnect",
            Report::Accept { .. } => "tcpaccept",
            Report::Life { .. } => "tcplife",
            Report::Connlat { .. } => "tcpconnlat",
            Report::Retrans { .. } => "tcpretrans",
            Report::States { .. } => "tcpstates",
        }
    }

    fn table(&self) -> &'static str {
        match self {
            Report::Accept { .. } => ACCEPT_TABLE.name,
            Report::Retrans { .. } => RETRANSMIT_TABLE.name,
            _ => STATE_TABLE.name,
        }
    }
}

/// Options of a TCP report.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-4`/`-6`: only this IP version. Default: both.
    pub ip: Option<i32>,
    /// The report and its own flags.
    pub report: Report,
}

/// One row of any tcp table, with what the reports use. Optional columns
/// absent from a table are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// ns since the epoch.
    pub ts: i64,
    #[serde(skip)]
    pub recording: usize,
    pub skaddr: i64,
    pub ip: i32,
    #[serde(serialize_with = "ser_str")]
    pub saddr: Arc<str>,
    #[serde(serialize_with = "ser_str")]
    pub daddr: Arc<str>,
    pub sport: i32,
    pub dport: i32,
    /// tcp_state: old state; tcp_accept/tcp_retransmit: empty.
    #[serde(serialize_with = "ser_str")]
    pub oldstate: Arc<str>,
    /// tcp_state: new state; others: the socket's state.
    #[serde(serialize_with = "ser_str")]
    pub newstate: Arc<str>,
    pub prev_ns: Option<i64>,
    pub lifetime_ns: Option<i64>,
    pub rx_bytes: Option<i64>,
    pub tx_bytes: Option<i64>,
    /// The task (accept: the accepter; state: for system-call transitions).
    pub pid: Option<i32>,
    pub tgid: Option<i32>,
    #[serde(serialize_with = "ser_opt_str")]
    pub comm: Option<Arc<str>>,
    /// The socket's owner.
    pub sk_tgid: Option<i32>,
    #[serde(serialize_with = "ser_opt_str")]
    pub sk_comm: Option<Arc<str>>,
    pub error: Option<i32>,
    /// The task's real uid (tcp_state: with `pid`; tcp_accept: the
    /// accepter); `None` also for files written before the column existed.
    pub uid: Option<i64>,
}

impl Row {
    /// Who the row is attributed to: the owner, else the task.
    fn who(&self) -> (Option<i32>, Option<&Arc<str>>) {
        match self.sk_tgid {
            Some(t) => (Some(t), self.sk_comm.as_ref()),
            None => (self.tgid, self.comm.as_ref()),
        }
    }
}

fn ser_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn ser_opt_str<S: serde::Serializer>(
    v: &Option<Arc<str>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}

fn opt_i32(batch: &RecordBatch, name: &str, i: usize) -> Option<i32> {
    let a = batch
        .column_by_name(name)?
        .as_primitive_opt::<Int32Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

fn opt_i64(batch: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    let a = batch
        .column_by_name(name)?
        .as_primitive_opt::<Int64Type>()?;
    a.is_valid(i).then(|| a.value(i))
}

fn opt_str(batch: &RecordBatch, name: &str, path: &Path) -> Result<Option<Strings>> {
    if batch.column_by_name(name).is_none() {
        return Ok(None);
    }
    Strings::from_batch(batch, name, path).map(Some)
}

/// A nullable string column: null stays `None` (Strings reads it as "").
fn str_at(s: &Option<Strings>, batch: &RecordBatch, name: &str, i: usize) -> Option<Arc<str>> {
    let s = s.as_ref()?;
    if batch.column_by_name(name)?.is_null(i) {
        return None;
    }
    Some(s.get(i).clone())
}

/// Columns added to the tcp tables after their first files: older files
/// lack them, and rows read from those files have `None`.
const ADDED_COLUMNS: &[&str] = &["uid"];

/// Reads every row of a tcp table in the window, sorted by time.
pub fn read_rows(recordings: &[Recording], table: &str, window: &Window) -> Result<Vec<Row>> {
    let spec = ktape_format::table(table).expect("a tcp table");
    let (added, cols): (Vec<&str>, Vec<&str>) = spec
        .columns
        .iter()
        .map(|c| c.name)
        .partition(|c| ADDED_COLUMNS.contains(c));
    let range = window.range;
    let mut rows = scan_optional(
        recordings,
        table,
        range,
        &cols,
        &added,
        Vec::new,
        |acc: &mut Vec<Row>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let skaddr = columns::i64s(batch, "skaddr", path)?;
            let ip = columns::i32s(batch, "ip", path)?;
            let sport = columns::i32s(batch, "sport", path)?;
            let dport = columns::i32s(batch, "dport", path)?;
            let saddr = Strings::from_batch(batch, "saddr", path)?;
            let daddr = Strings::from_batch(batch, "daddr", path)?;
            let old = opt_str(batch, "oldstate", path)?;
            let new = match opt_str(batch, "newstate", path)? {
                Some(s) => Some(s),
                None => opt_str(batch, "state", path)?,
            };
            let comm = opt_str(batch, "comm", path)?;
            let sk_comm = opt_str(batch, "sk_comm", path)?;
            let empty: Arc<str> = Arc::from("");
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) {
                    continue;
                }
                acc.push(Row {
                    ts: ts[i],
                    recording: unit.recording,
                    skaddr: skaddr[i],
                    ip: ip[i],
                    saddr: saddr.get(i).clone(),
                    daddr: daddr.get(i).clone(),
                    sport: sport[i],
                    dport: dport[i],
                    oldstate: old.as_ref().map_or(empty.clone(), |s| s.get(i).clone()),
                    newstate: new.as_ref().map_or(empty.clone(), |s| s.get(i).clone()),
                    prev_ns: opt_i64(batch, "prev_ns", i),
                    lifetime_ns: opt_i64(batch, "lifetime_ns", i),
                    rx_bytes: opt_i64(batch, "rx_bytes", i),
                    tx_bytes: opt_i64(batch, "tx_bytes", i),
                    pid: opt_i32(batch, "pid", i),
                    tgid: opt_i32(batch, "tgid", i),
                    comm: str_at(&comm, batch, "comm", i),
                    sk_tgid: opt_i32(batch, "sk_tgid", i),
                    sk_comm: str_at(&sk_comm, batch, "sk_comm", i),
                    error: opt_i32(batch, "error", i),
                    uid: opt_i64(batch, "uid", i),
                });
            }
            Ok(())
        },
        |mut a, mut b| {
            a.append(&mut b);
            a
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    Ok(rows)
}

/// One output line of a report, for text and JSON alike.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    #[serde(flatten)]
    pub row: Row,
    /// tcpconnect: the local port, from the socket's next transition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_sport: Option<i32>,
}

/// A `-c` count line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    #[serde(serialize_with = "ser_str")]
    pub saddr: Arc<str>,
    pub sport: Option<i32>,
    #[serde(serialize_with = "ser_str")]
    pub daddr: Arc<str>,
    pub dport: i32,
    pub count: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Tcp {
    pub window: Window,
    pub lines: Vec<Line>,
    /// `-c` modes.
    pub counts: Option<Vec<Count>>,
    pub loss: Loss,
}

fn port_ok(ports: &[i32], p: i32) -> bool {
    ports.is_empty() || ports.contains(&p)
}

/// Computes a report.
pub fn compute(recordings: &[Recording], opts: &TcpOptions) -> Result<Tcp> {
    if opts.common.filter.cgroup_id.is_some() {
        return Err(Error::Usage(format!(
            "{} cannot filter by --cgroup: the tcp tables have no cgroup column",
            opts.report.name()
        )));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let rows = read_rows(recordings, opts.report.table(), &window)?;
    let f = &opts.common.filter;
    let keep = |r: &Row| -> bool {
        let (tgid, comm) = r.who();
        opts.ip.is_none_or(|v| v == r.ip)
            && f.pid.is_none_or(|p| tgid == Some(p))
            && f.comm
                .as_ref()
                .is_none_or(|c| comm.is_some_and(|x| **x == **c))
    };
    let mut lines = Vec::new();
    let mut counts = None;
    match &opts.report {
        Report::Connect { count, ports, .. } => {
            // The local port of a connect is known from the socket's next
            // transition: index the rows by socket.
            let mut next: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                next.entry((r.recording, r.skaddr)).or_default().push(i);
            }
            let mut tally: BTreeMap<(Arc<str>, Arc<str>, i32), u64> = BTreeMap::new();
            for (i, r) in rows.iter().enumerate() {
                if &*r.oldstate != "CLOSE" || &*r.newstate != "SYN_SENT" {
                    continue;
                }
                if !keep(r) || !port_ok(ports, r.dport) {
                    continue;
                }
                let sport = next[&(r.recording, r.skaddr)]
                    .iter()
                    .find(|&&j| j > i)
                    .map(|&j| rows[j].sport)
                    .filter(|&p| p != 0);
                if *count {
                    *tally
                        .entry((r.saddr.clone(), r.daddr.clone(), r.dport))
                        .or_default() += 1;
                } else {
                    lines.push(Line {
                        row: r.clone(),
                        connect_sport: Some(sport.unwrap_or(0)),
                    });
                }
            }
            if *count {
                let mut c: Vec<Count> = tally
                    .into_iter()
                    .map(|((saddr, daddr, dport), count)| Count {
                        saddr,
                        sport: None,
                        daddr,
                        dport,
                        count,
                    })
                    .collect();
                c.sort_by_key(|c| std::cmp::Reverse(c.count));
                counts = Some(c);
            }
        }
        Report::Accept { ports, .. } => {
            lines.extend(
                rows.into_iter()
                    .filter(|r| keep(r) && port_ok(ports, r.sport))
                    .map(|row| Line {
                        row,
                        connect_sport: None,
                    }),
            );
        }
        Report::Life {
            local_ports,
            remote_ports,
            ..
        } => {
            lines.extend(
                rows.into_iter()
                    .filter(|r| {
                        &*r.newstate == "CLOSE"
                            && r.lifetime_ns.is_some()
                            && keep(r)
                            && port_ok(local_ports, r.sport)
                            && port_ok(remote_ports, r.dport)
                    })
                    .map(|row| Line {
                        row,
                        connect_sport: None,
                    }),
            );
        }
        Report::Connlat { min_ns, .. } => {
            lines.extend(
                rows.into_iter()
                    .filter(|r| {
                        &*r.oldstate == "SYN_SENT"
                            && &*r.newstate == "ESTABLISHED"
                            && r.prev_ns.is_some_and(|p| p >= *min_ns)
                            && keep(r)
                    })
                    .map(|row| Line {
                        row,
                        connect_sport: None,
                    }),
            );
        }
        Report::Retrans { count } => {
            let kept: Vec<Row> = rows.into_iter().filter(|r| keep(r)).collect();
            if *count {
                let mut tally: BTreeMap<(Arc<str>, i32, Arc<str>, i32), u64> = BTreeMap::new();
                for r in &kept {
                    *tally
                        .entry((r.saddr.clone(), r.sport, r.daddr.clone(), r.dport))
                        .or_default() += 1;
                }
                let mut c: Vec<Count> = tally
                    .into_iter()
                    .map(|((saddr, sport, daddr, dport), count)| Count {
                        saddr,
                        sport: Some(sport),
                        daddr,
                        dport,
                        count,
                    })
                    .collect();
                c.sort_by_key(|c| std::cmp::Reverse(c.count));
                counts = Some(c);
            } else {
                lines.extend(kept.into_iter().map(|row| Line {
                    row,
                    connect_sport: None,
                }));
            }
        }
        Report::States {
            local_ports,
            remote_ports,
            ..
        } => {
            lines.extend(
                rows.into_iter()
                    .filter(|r| {
                        keep(r) && port_ok(local_ports, r.sport) && port_ok(remote_ports, r.dport)
                    })
                    .map(|row| Line {
                        row,
                        connect_sport: None,
                    }),
            );
        }
    }
    let loss = Loss::read(recordings, STATE_TABLE.family, window.range)?;
    Ok(Tcp {
        window,
        lines,
        counts,
        loss,
    })
}

/// Runs a report and prints it.
pub fn run(recordings: &[Recording], opts: &TcpOptions, out: &mut Out<'_>) -> Result<()> {
    let r = compute(recordings, opts)?;
    if opts.common.json {
        write_json(&r, opts, out)?;
    } else {
        write_text(&r, opts, out)?;
        if let Some(w) = r.loss.warning() {
            out.warn(&w)?;
        }
    }
    let table = opts.report.table();
    if let Some(note) = missing_table_note(recordings, table, "recorded without -e tcp?") {
        out.warn(&note)?;
    }
    if let Some(note) = incomplete_note(recordings, table) {
        out.warn(&note)?;
    }
    Ok(())
}

/// printf's `%-N.Ns`.
fn cut(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    format!("{t:<n$}")
}

fn pid_comm(r: &Row) -> (i32, String) {
    let (t, c) = r.who();
    (t.unwrap_or(0), c.map_or("?".to_string(), |c| c.to_string()))
}

/// Prints the report as the bcc tool does.
pub fn write_text(r: &Tcp, opts: &TcpOptions, out: &mut Out<'_>) -> Result<()> {
    let first = r.lines.first().map_or(r.window.start_ns, |l| l.row.ts);
    let secs = |ts: i64| (ts - first) as f64 / NS_PER_SEC as f64;
    let o = &mut *out.out;
    match &opts.report {
        Report::Connect {
            timestamp,
            source_port,
            count,
            ..
        } => {
            if let Some(counts) = &r.counts {
                debug_assert!(*count);
                write!(o, "\n{:<25} {:<25}", "LADDR", "RADDR")?;
                writeln!(o, " {:<20} {:<10}", "RPORT", "CONNECTS")?;
                for c in counts {
                    writeln!(
                        o,
                        "{:<25} {:<25} {:<20} {:<10}",
                        c.saddr, c.daddr, c.dport, c.count
                    )?;
                }
                return Ok(());
            }
            if *timestamp {
                write!(o, "{:<9}", "TIME(s)")?;
            }
            write!(
                o,
                "{:<6} {:<12} {:<2} {:<16} {:<16}",
                "PID", "COMM", "IP", "SADDR", "DADDR"
            )?;
            if *source_port {
                write!(o, " {:<5}", "SPORT")?;
            }
            writeln!(o, " {:<5}", "DPORT")?;
            for l in &r.lines {
                let row = &l.row;
                if *timestamp {
                    write!(o, "{:<9.3}", secs(row.ts))?;
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
                if *source_port {
                    write!(o, " {:<5}", l.connect_sport.unwrap_or(0))?;
                }
                writeln!(o, " {:<5}", row.dport)?;
            }
        }
        Report::Accept {
            time, timestamp, ..
        } => {
            if *time {
                write!(o, "{:<9}", "TIME")?;
            }
            if *timestamp {
                write!(o, "{:<9}", "TIME(s)")?;
            }
            writeln!(
                o,
                "{:<7} {:<12} {:<2} {:<16} {:<5} {:<16} {:<5}",
                "PID", "COMM", "IP", "RADDR", "RPORT", "LADDR", "LPORT"
            )?;
            for l in &r.lines {
                let row = &l.row;
                if *time {
                    write!(o, "{:<9}", format_hms(row.ts, false))?;
                }
                if *timestamp {
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
        }
        Report::Life { time, wide, .. } => {
            let w = if *wide { 39 } else { 15 };
            if *time {
                write!(o, "{:<8} ", "TIME(s)")?;
            }
            writeln!(
                o,
                "{:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5} {:<6} {:<6} MS",
                "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB"
            )?;
            for l in &r.lines {
                let row = &l.row;
                if *time {
                    write!(o, "{:>8} ", format_hms(row.ts, false))?;
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
        }
        Report::Connlat {
            timestamp, lport, ..
        } => {
            if *timestamp {
                write!(o, "{:<9} ", "TIME(s)")?;
            }
            if *lport {
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
                if *timestamp {
                    write!(o, "{:<9.3} ", secs(row.ts))?;
                }
                let (pid, comm) = pid_comm(row);
                let lat = row.prev_ns.unwrap_or(0) as f64 / NS_PER_MS as f64;
                if *lport {
                    writeln!(
                        o,
                        "{:<6} {} {:<2} {:<16} {:<6} {:<16} {:<5} {:.2}",
                        pid,
                        cut(&comm, 12),
                        row.ip,
                        row.saddr,
                        row.sport,
                        row.daddr,
                        row.dport,
                        lat
                    )?;
                } else {
                    writeln!(
                        o,
                        "{:<6} {} {:<2} {:<16} {:<16} {:<5} {:.2}",
                        pid,
                        cut(&comm, 12),
                        row.ip,
                        row.saddr,
                        row.daddr,
                        row.dport,
                        lat
                    )?;
                }
            }
        }
        Report::Retrans { .. } => {
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
                // A failed retransmit did not reach the wire: bcc has no
                // letter for it, so it is marked F instead of R.
                let t = if row.error.is_some_and(|e| e != 0) {
                    "F"
                } else {
                    "R"
                };
                writeln!(
                    o,
                    "{:<8} {:<7} {:<2} {:<20} {:>1}> {:<20} {}",
                    format_hms(row.ts, false),
                    pid,
                    row.ip,
                    format!("{}:{}", row.saddr, row.sport),
                    t,
                    format!("{}:{}", row.daddr, row.dport),
                    row.newstate
                )?;
            }
        }
        Report::States {
            time, timestamp, ..
        } => {
            if *time {
                write!(o, "{:<8} ", "TIME")?;
            }
            if *timestamp {
                write!(o, "{:<9} ", "TIME(s)")?;
            }
            writeln!(
                o,
                "{:<16} {:<5} {:<10.10} {:<15} {:<5} {:<15} {:<5} {:<11} -> {:<11} MS",
                "SKADDR",
                "C-PID",
                "C-COMM",
                "LADDR",
                "LPORT",
                "RADDR",
                "RPORT",
                "OLDSTATE",
                "NEWSTATE",
            )?;
            for l in &r.lines {
                let row = &l.row;
                if *time {
                    write!(o, "{:<8} ", format_hms(row.ts, false))?;
                }
                if *timestamp {
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
        }
    }
    Ok(())
}

/// Prints the report as one JSON object: the window, the rows (every
/// column the table has, `ts` as RFC 3339) or counts, and the loss.
pub fn write_json(r: &Tcp, opts: &TcpOptions, out: &mut Out<'_>) -> Result<()> {
    #[derive(Serialize)]
    struct JsonLine<'a> {
        time: String,
        #[serde(flatten)]
        line: &'a Line,
    }
    let v = serde_json::json!({
        "report": opts.report.name(),
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "rows": r.lines.iter().map(|l| JsonLine { time: format_rfc3339(l.row.ts), line: l }).collect::<Vec<_>>(),
        "counts": r.counts,
        "loss": r.loss.to_json(),
    });
    out.json(&v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_like_cuts() {
        assert_eq!(cut("python3.11-long", 12), "python3.11-l");
        assert_eq!(cut("nc", 5), "nc   ");
        assert_eq!(format!("{:<16x}|", 0xffff88800010_i64), "ffff88800010    |");
        assert!(port_ok(&[], 1) && port_ok(&[80, 443], 443) && !port_ok(&[80], 81));
    }
}
