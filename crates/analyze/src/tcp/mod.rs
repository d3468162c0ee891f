//! The TCP reports, from the `tcp` family's tables, one module per bcc
//! tool: [`tcpconnect`], [`tcpaccept`], [`tcplife`], [`tcpconnlat`],
//! [`tcpretrans`] and [`tcpstates`], in the layouts of bcc's tools
//! (libbpf-tools where it has the tool, the Python tool otherwise). This
//! module holds what they share: reading rows, the owner attribution, the
//! common filters, `-c` tallies, JSON output and the printf helpers.
//!
//! All six read rows into memory (TCP event rates are far below block or
//! scheduler rates, and the reports need a socket's rows together: a
//! connect's local port comes from the socket's next transition), sorted by
//! time. Sockets are attributed to their owner (`sk_tgid`/`sk_comm`: the
//! process that called connect() or accepted it), never to the task a
//! softirq happened to interrupt; `-p` and `--comm` filter on the owner
//! (tcpaccept: the accepting task). `--cgroup` is not available: the tcp
//! tables have no cgroup column.

pub mod tcpaccept;
pub mod tcpconnect;
pub mod tcpconnlat;
pub mod tcplife;
pub mod tcpretrans;
pub mod tcpstates;

use std::collections::BTreeMap;
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
use crate::common::{json_warnings, scan_optional, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_rfc3339, secs_between};

/// Which report, with its own options (each module's `*Options`).
#[derive(Debug, Clone)]
pub enum Report {
    /// `tcpconnect`: active opens (CLOSE → SYN_SENT).
    Connect(tcpconnect::ConnectOptions),
    /// `tcpaccept`: connections returned by accept().
    Accept(tcpaccept::AcceptOptions),
    /// `tcplife`: one line per closed connection.
    Life(tcplife::LifeOptions),
    /// `tcpconnlat`: SYN_SENT → ESTABLISHED.
    Connlat(tcpconnlat::ConnlatOptions),
    /// `tcpretrans`: retransmitted segments.
    Retrans(tcpretrans::RetransOptions),
    /// `tcpstates`: every transition.
    States(tcpstates::StatesOptions),
}

impl Report {
    /// The report's (bcc tool's) name.
    pub fn name(&self) -> &'static str {
        match self {
            Report::Connect(_) => "tcpconnect",
            Report::Accept(_) => "tcpaccept",
            Report::Life(_) => "tcplife",
            Report::Connlat(_) => "tcpconnlat",
            Report::Retrans(_) => "tcpretrans",
            Report::States(_) => "tcpstates",
        }
    }

    /// The table the report reads.
    pub fn table(&self) -> &'static str {
        match self {
            Report::Accept(_) => ACCEPT_TABLE.name,
            Report::Retrans(_) => RETRANSMIT_TABLE.name,
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
    /// Notes for stderr.
    pub notes: Vec<String>,
    pub loss: Loss,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

/// What a report keeps of the rows: lines, or `-c` counts.
#[derive(Debug, Default)]
pub struct Selected {
    pub lines: Vec<Line>,
    pub counts: Option<Vec<Count>>,
    /// Notes for stderr (e.g. rows lacking a column an option needs).
    pub notes: Vec<String>,
}

impl Selected {
    /// Every row kept becomes a line as it is.
    fn lines(rows: impl IntoIterator<Item = Row>) -> Selected {
        Selected {
            lines: rows.into_iter().map(Line::from).collect(),
            ..Selected::default()
        }
    }
}

impl From<Row> for Line {
    fn from(row: Row) -> Line {
        Line {
            row,
            connect_sport: None,
        }
    }
}

/// A `-c` flow: local address, local port (when counted), remote address
/// and port.
type FlowKey = (Arc<str>, Option<i32>, Arc<str>, i32);

/// The `-c` lines from flow keys, most frequent first (ties in key order).
fn tally<'a>(
    keys: impl Iterator<Item = (&'a Arc<str>, Option<i32>, &'a Arc<str>, i32)>,
) -> Vec<Count> {
    let mut t: BTreeMap<FlowKey, u64> = BTreeMap::new();
    for (saddr, sport, daddr, dport) in keys {
        *t.entry((saddr.clone(), sport, daddr.clone(), dport))
            .or_default() += 1;
    }
    let mut c: Vec<Count> = t
        .into_iter()
        .map(|((saddr, sport, daddr, dport), count)| Count {
            saddr,
            sport,
            daddr,
            dport,
            count,
        })
        .collect();
    c.sort_by_key(|c| std::cmp::Reverse(c.count));
    c
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
    let selected = match &opts.report {
        Report::Connect(o) => tcpconnect::select(rows, o, &keep),
        Report::Accept(o) => tcpaccept::select(rows, o, &keep),
        Report::Life(o) => tcplife::select(rows, o, &keep),
        Report::Connlat(o) => tcpconnlat::select(rows, o, &keep),
        Report::Retrans(o) => tcpretrans::select(rows, o, &keep),
        Report::States(o) => tcpstates::select(rows, o, &keep),
    };
    let loss = Loss::read(recordings, STATE_TABLE.family, window.range)?;
    Ok(Tcp {
        window,
        lines: selected.lines,
        counts: selected.counts,
        notes: selected.notes,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs a report and prints it.
pub fn run(recordings: &[Recording], opts: &TcpOptions, out: &mut Out<'_>) -> Result<()> {
    let table = opts.report.table();
    let warnings = tables::check(recordings, &Needs::one(table))?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        write_json(&r, opts, out)?;
    } else {
        write_text(&r, opts, out)?;
        if let Some(w) = r.loss.warning() {
            out.warn(&w)?;
        }
    }
    for note in &r.notes {
        out.warn(note)?;
    }
    table_notes(out, recordings, &r.warnings, &[table])
}

/// Prints the report as the bcc tool does.
pub fn write_text(r: &Tcp, opts: &TcpOptions, out: &mut Out<'_>) -> Result<()> {
    let o = &mut *out.out;
    match &opts.report {
        Report::Connect(c) => tcpconnect::write_text(r, c, o),
        Report::Accept(c) => tcpaccept::write_text(r, c, o),
        Report::Life(c) => tcplife::write_text(r, c, o),
        Report::Connlat(c) => tcpconnlat::write_text(r, c, o),
        Report::Retrans(c) => tcpretrans::write_text(r, c, o),
        Report::States(c) => tcpstates::write_text(r, c, o),
    }
}

/// Seconds since the first line (bcc's TIME(s) columns count from the
/// first event printed; from the window's start when there is none).
fn secs_since_first(r: &Tcp) -> impl Fn(i64) -> f64 {
    let first = r.lines.first().map_or(r.window.start_ns, |l| l.row.ts);
    move |ts: i64| secs_between(first, ts)
}

/// printf's `%-N.Ns`.
fn cut(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    format!("{t:<n$}")
}

/// The PID and COMM columns: the socket's owner, else the task.
fn pid_comm(r: &Row) -> (i32, String) {
    let (t, c) = r.who();
    (t.unwrap_or(0), c.map_or("?".to_string(), |c| c.to_string()))
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
    let mut v = serde_json::json!({
        "report": opts.report.name(),
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "rows": r.lines.iter().map(|l| JsonLine { time: format_rfc3339(l.row.ts), line: l }).collect::<Vec<_>>(),
        "counts": r.counts,
        "loss": r.loss.to_json(),
    });
    json_warnings(&mut v, &r.warnings);
    out.json(&v)?;
    Ok(())
}

/// -4/-6, shared by the TCP reports.
#[derive(clap::Args)]
pub struct IpArgs {
    /// Only IPv4.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    ipv4: bool,
    /// Only IPv6.
    #[arg(short = '6', long = "ipv6")]
    ipv6: bool,
}

impl IpArgs {
    fn ip(&self) -> Option<i32> {
        if self.ipv4 {
            Some(4)
        } else if self.ipv6 {
            Some(6)
        } else {
            None
        }
    }
}

/// The -L/-D port filters of tcplife and tcpstates, on the command line
/// and in their options. Default: every port.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Ports {
    /// Only these local ports (comma-separated).
    #[arg(
        short = 'L',
        long = "localport",
        value_name = "PORTS",
        value_delimiter = ','
    )]
    pub local_ports: Vec<i32>,
    /// Only these remote ports (comma-separated).
    #[arg(
        short = 'D',
        long = "remoteport",
        value_name = "PORTS",
        value_delimiter = ','
    )]
    pub remote_ports: Vec<i32>,
}

impl Ports {
    /// Whether a connection between these ports passes both filters.
    pub fn keep(&self, sport: i32, dport: i32) -> bool {
        port_ok(&self.local_ports, sport) && port_ok(&self.remote_ports, dport)
    }
}

/// What every TCP subcommand takes besides its own options: -4/-6 and
/// the common options.
#[derive(clap::Args)]
pub struct TcpArgs {
    #[command(flatten)]
    ip: IpArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl TcpArgs {
    /// Runs one TCP report: what every TCP subcommand's
    /// [`crate::cli::Run`] does once it has its own options.
    fn run(&self, report: Report, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let name = report.name();
        let opts = TcpOptions {
            common: self.common.options(),
            ip: self.ip.ip(),
            report,
        };
        run(&recs, &opts, out).context(name)?;
        Ok(std::process::ExitCode::SUCCESS)
    }
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

    #[test]
    fn tallies_sort_by_count_then_key() {
        let a: Arc<str> = Arc::from("10.0.0.1");
        let b: Arc<str> = Arc::from("10.0.0.2");
        let keys = [(&a, None, &b, 80), (&a, None, &b, 443), (&a, None, &b, 443)];
        let c = tally(keys.into_iter());
        assert_eq!(
            c.iter().map(|c| (c.dport, c.count)).collect::<Vec<_>>(),
            [(443, 2), (80, 1)]
        );
    }
}
