//! `oomkill`: one line per OOM kill, like bcc's `oomkill`, from the `oom`
//! table of `-e oom`:
//!
//! ```text
//! 14:02:11 Triggered by PID 3297 ("ntpd"), OOM kill of PID 22516 ("perl"), 3850642 pages, loadavg: 0.99 0.39 0.30 3/282 22724
//! ```
//!
//! PIDs are process ids (bcc prints tgids too) and the loadavg is the one
//! the recorder read when the row arrived. bcc's "pages" is the size of
//! the memory the OOM happened in (`oom_control.totalpages`), which no
//! tracepoint carries: this report prints the victim's `total_vm` in
//! pages there (the sizes it had are all in `--json`, and `-v` adds its
//! resident memory to the line). The time is UTC unless `--localtime`
//! (bcc: the local time at which it printed).
//!
//! `-p` and `--comm` keep a kill when either side matches: the victim or
//! the task that triggered it.

use std::sync::Arc;

use ktape_format::oom::TABLE;
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between};

/// Options of `oomkill`. The default prints every kill, times in UTC.
#[derive(Debug, Clone, Default)]
pub struct OomkillOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--cgroup`, `--json`).
    pub common: Options,
    /// Print the time of day in the analyzing machine's time zone.
    pub localtime: bool,
    /// Append the victim's resident memory, uid and oom_score_adj.
    pub verbose: bool,
}

/// One OOM kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomRow {
    /// When the victim was marked, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Process id of the task that triggered the kill.
    pub pid: i32,
    /// Its thread id.
    pub tid: i32,
    /// Its command name.
    pub comm: Arc<str>,
    /// Its cgroup v2 id.
    pub cgroup_id: i64,
    /// Process id of the victim.
    pub victim_pid: i32,
    /// Thread id the kernel named.
    pub victim_tid: i32,
    /// The victim's command name.
    pub victim_comm: Arc<str>,
    /// The victim's uid.
    pub victim_uid: i64,
    /// The victim's cgroup v2 id.
    pub victim_cgroup_id: i64,
    /// The victim's oom_score_adj.
    pub oom_score_adj: i32,
    /// Its virtual size, bytes.
    pub total_vm: i64,
    /// Resident anonymous memory, bytes.
    pub anon_rss: i64,
    /// Resident file memory, bytes.
    pub file_rss: i64,
    /// Resident shared memory, bytes.
    pub shmem_rss: i64,
    /// Page tables, bytes.
    pub pgtables: i64,
    /// The host's page size.
    pub page_size: i32,
    /// /proc/loadavg near the kill.
    pub loadavg: Arc<str>,
}

impl OomRow {
    /// The victim's total_vm in pages, what the line prints as "pages".
    pub fn pages(&self) -> i64 {
        if self.page_size > 0 {
            self.total_vm / self.page_size as i64
        } else {
            0
        }
    }

    /// Resident memory, bytes.
    pub fn rss(&self) -> i64 {
        self.anon_rss + self.file_rss + self.shmem_rss
    }
}

/// The computed oomkill report.
pub type Oomkill = Listing<OomRow>;

const COLUMNS: &[&str] = &[
    "ts",
    "pid",
    "tgid",
    "comm",
    "cgroup_id",
    "victim_pid",
    "victim_tgid",
    "victim_comm",
    "victim_uid",
    "victim_cgroup_id",
    "oom_score_adj",
    "total_vm",
    "anon_rss",
    "file_rss",
    "shmem_rss",
    "pgtables",
    "page_size",
    "loadavg",
];

/// Collects the kills in time order.
pub fn compute(recordings: &[Recording], opts: &OomkillOptions) -> Result<Oomkill> {
    let window = crate::common::Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let filter = &opts.common.filter;
    let mut rows: Vec<OomRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        COLUMNS,
        |acc: &mut Vec<OomRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let cgroup = columns::i64s(batch, "cgroup_id", path)?;
            let vpid = columns::i32s(batch, "victim_pid", path)?;
            let vtgid = columns::i32s(batch, "victim_tgid", path)?;
            let vcomm = Strings::from_batch(batch, "victim_comm", path)?;
            let vuid = columns::i64s(batch, "victim_uid", path)?;
            let vcgroup = columns::i64s(batch, "victim_cgroup_id", path)?;
            let adj = columns::i32s(batch, "oom_score_adj", path)?;
            let total_vm = columns::i64s(batch, "total_vm", path)?;
            let anon = columns::i64s(batch, "anon_rss", path)?;
            let file = columns::i64s(batch, "file_rss", path)?;
            let shmem = columns::i64s(batch, "shmem_rss", path)?;
            let pgtables = columns::i64s(batch, "pgtables", path)?;
            let page_size = columns::i32s(batch, "page_size", path)?;
            let loadavg = Strings::from_batch(batch, "loadavg", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) {
                    continue;
                }
                // Either side of the kill matches -p, --comm, --cgroup.
                let pid_ok = filter.pid.is_none_or(|p| tgid[i] == p || vtgid[i] == p);
                let comm_ok = filter
                    .comm
                    .as_deref()
                    .is_none_or(|c| &**comm.get(i) == c || &**vcomm.get(i) == c);
                let cg_ok = filter
                    .cgroup_id
                    .is_none_or(|c| cgroup[i] == c || vcgroup[i] == c);
                if !(pid_ok && comm_ok && cg_ok) {
                    continue;
                }
                acc.push(OomRow {
                    ts: ts[i],
                    recording: unit.recording,
                    pid: tgid[i],
                    tid: pid[i],
                    comm: comm.get(i).clone(),
                    cgroup_id: cgroup[i],
                    victim_pid: vtgid[i],
                    victim_tid: vpid[i],
                    victim_comm: vcomm.get(i).clone(),
                    victim_uid: vuid[i],
                    victim_cgroup_id: vcgroup[i],
                    oom_score_adj: adj[i],
                    total_vm: total_vm[i],
                    anon_rss: anon[i],
                    file_rss: file[i],
                    shmem_rss: shmem[i],
                    pgtables: pgtables[i],
                    page_size: page_size[i],
                    loadavg: loadavg.get(i).clone(),
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording, r.victim_tid));
    let loss = Loss::read(recordings, TABLE.family, range)?;
    Ok(Oomkill {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs oomkill and prints it.
pub fn run(recordings: &[Recording], opts: &OomkillOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        write_json,
        |r, out| write_text(r, opts, out),
    )
}

/// Bytes as bcc-style MiB with one decimal.
fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The line bcc prints for a kill (without the time).
pub fn line(r: &OomRow, verbose: bool) -> String {
    let mut s = format!(
        "Triggered by PID {} (\"{}\"), OOM kill of PID {} (\"{}\"), {} pages, loadavg: {}",
        r.pid,
        r.comm,
        r.victim_pid,
        r.victim_comm,
        r.pages(),
        if r.loadavg.is_empty() {
            "unknown"
        } else {
            &r.loadavg
        }
    );
    if verbose {
        s.push_str(&format!(
            "; victim rss {} (anon {}, file {}, shmem {}), uid {}, oom_score_adj {}",
            mib(r.rss()),
            mib(r.anon_rss),
            mib(r.file_rss),
            mib(r.shmem_rss),
            r.victim_uid,
            r.oom_score_adj
        ));
    }
    s
}

/// Prints one line per kill, as bcc's `oomkill` does.
pub fn write_text(r: &Oomkill, opts: &OomkillOptions, out: &mut Out<'_>) -> Result<()> {
    let mut flagged = 0u64;
    for row in &r.rows {
        writeln!(
            out.out,
            "{} {}",
            format_hms(row.ts, opts.localtime),
            line(row, opts.verbose)
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    if r.rows.is_empty() {
        out.warn("no OOM kills in the window")?;
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct OomJson<'a> {
    ts: String,
    time_s: f64,
    pid: i32,
    tid: i32,
    comm: &'a str,
    cgroup_id: i64,
    victim_pid: i32,
    victim_tid: i32,
    victim_comm: &'a str,
    victim_uid: i64,
    victim_cgroup_id: i64,
    oom_score_adj: i32,
    pages: i64,
    total_vm: i64,
    anon_rss: i64,
    file_rss: i64,
    shmem_rss: i64,
    pgtables: i64,
    loadavg: &'a str,
    text: String,
    in_loss_second: bool,
}

/// Prints oomkill as JSON (sizes in bytes).
pub fn write_json(r: &Oomkill, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "oomkill",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&OomJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            pid: row.pid,
            tid: row.tid,
            comm: &row.comm,
            cgroup_id: row.cgroup_id,
            victim_pid: row.victim_pid,
            victim_tid: row.victim_tid,
            victim_comm: &row.victim_comm,
            victim_uid: row.victim_uid,
            victim_cgroup_id: row.victim_cgroup_id,
            oom_score_adj: row.oom_score_adj,
            pages: row.pages(),
            total_vm: row.total_vm,
            anon_rss: row.anon_rss,
            file_rss: row.file_rss,
            shmem_rss: row.shmem_rss,
            pgtables: row.pgtables,
            loadavg: &row.loadavg,
            text: line(row, false),
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `oomkill` on the command line.
#[derive(clap::Args)]
pub struct OomkillArgs {
    /// Append the victim's resident memory (anon, file, shmem), its uid and its oom_score_adj to each line.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Print times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for OomkillArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = OomkillOptions {
            common: self.common.options(),
            localtime: self.localtime,
            verbose: self.verbose,
        };
        run(&recs, &opts, out).context("oomkill")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
