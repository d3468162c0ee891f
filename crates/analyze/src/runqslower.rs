//! `runqslower`: one line per run-queue wait longer than `--min-latency`,
//! like bcc's libbpf-tools `runqslower`, with the task that was running on
//! that CPU until the waiter got it (`-P`).
//!
//! The waits are runqlat's pairs ([`crate::runqlat::latencies_where`]:
//! queued at a wakeup or a preempting switch-out, ended at the next
//! switch-in), keeping only the slow ones, so memory follows the number of
//! printed lines. A second scan of `sched_switch` looks up, for each of
//! them, the switch-in row itself (same `ts` and `next_pid`): its CPU,
//! the waiter's comm and the previous task (`prev_pid`, `prev_comm`).

use std::collections::HashMap;
use std::sync::Arc;

use ktape_format::read::Recording;
use ktape_format::sched::{SWITCH_TABLE, WAKEUP_TABLE};
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{scan, table_notes, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::pairing::latencies_where;
use crate::time::{format_hms, format_rfc3339, NS_PER_US};

/// bcc's default minimum: 10 ms.
pub const DEFAULT_MIN_NS: i64 = 10_000_000;

/// Options of `runqslower`.
#[derive(Debug, Clone, Default)]
pub struct RunqslowerOptions {
    /// `--from/--to`, `-p` (tgid of the waiter), `--comm`, `--json`.
    pub common: Options,
    /// Only waits longer than this, ns (bcc: strictly above min_us).
    pub min_ns: i64,
    /// `-t`: only this thread.
    pub tid: Option<i32>,
    /// `-P`: print the previous task's comm and tid.
    pub previous: bool,
    /// TIME in local time instead of UTC.
    pub localtime: bool,
}

/// One slow wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slow {
    /// Switch-in time, ns since the epoch.
    pub ts: i64,
    /// CPU it was switched in on.
    pub cpu: i32,
    /// Its comm at the switch-in.
    #[serde(serialize_with = "as_str")]
    pub comm: Arc<str>,
    /// Thread id.
    pub tid: i32,
    /// Process id (tgid).
    pub pid: i32,
    /// Time queued, ns.
    pub latency_ns: i64,
    /// The task switched out for it.
    #[serde(serialize_with = "as_str")]
    pub prev_comm: Arc<str>,
    pub prev_tid: i32,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Runqslower {
    pub window: Window,
    pub rows: Vec<Slow>,
    pub loss: Loss,
    /// What the input made different (missing tables), for stderr and
    /// the JSON.
    pub warnings: Vec<String>,
}

/// Computes the slow waits, in time order.
pub fn compute(recordings: &[Recording], opts: &RunqslowerOptions) -> Result<Runqslower> {
    if opts.min_ns < 0 {
        return Err(Error::Usage("--min-latency must not be negative".into()));
    }
    if opts.common.filter.cgroup_id.is_some() {
        return Err(Error::Usage(
            "--cgroup: the sched tables have no cgroup column".into(),
        ));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let pid = opts.common.filter.pid;
    let lats = latencies_where(recordings, &window, |l| {
        l.latency_ns > opts.min_ns
            && pid.is_none_or(|p| p == l.tgid)
            && opts.tid.is_none_or(|t| t == l.pid)
    })?;
    let wanted: HashMap<(i64, i32), usize> = lats
        .iter()
        .enumerate()
        .map(|(i, l)| ((l.ts, l.pid), i))
        .collect();
    // The switch-in rows of the slow waits.
    let found = if wanted.is_empty() {
        HashMap::new()
    } else {
        scan(
            recordings,
            SWITCH_TABLE.name,
            window.range,
            &[
                "ts",
                "cpu",
                "prev_pid",
                "prev_comm",
                "next_pid",
                "next_comm",
            ],
            HashMap::<usize, (i32, Arc<str>, i32, Arc<str>)>::new,
            |acc, unit, batch| {
                let path = &unit.segment.path;
                let ts = columns::timestamps(batch, "ts", path)?;
                let next = columns::i32s(batch, "next_pid", path)?;
                let mut comms: Option<(Strings, Strings)> = None;
                for i in 0..batch.num_rows() {
                    let Some(&k) = wanted.get(&(ts[i], next[i])) else {
                        continue;
                    };
                    if comms.is_none() {
                        comms = Some((
                            Strings::from_batch(batch, "next_comm", path)?,
                            Strings::from_batch(batch, "prev_comm", path)?,
                        ));
                    }
                    let (nc, pc) = comms.as_ref().expect("set above");
                    let cpu = columns::i32s(batch, "cpu", path)?[i];
                    let prev = columns::i32s(batch, "prev_pid", path)?[i];
                    acc.insert(k, (cpu, nc.get(i).clone(), prev, pc.get(i).clone()));
                }
                Ok(())
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )?
    };
    let comm_filter = opts.common.filter.comm.as_deref();
    let rows = lats
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let (cpu, comm, prev_tid, prev_comm) = found.get(&i)?.clone();
            if comm_filter.is_some_and(|c| c != &*comm) {
                return None;
            }
            Some(Slow {
                ts: l.ts,
                cpu,
                comm,
                tid: l.pid,
                pid: l.tgid,
                latency_ns: l.latency_ns,
                prev_comm,
                prev_tid,
            })
        })
        .collect();
    let loss = Loss::read(recordings, SWITCH_TABLE.family, window.range)?;
    Ok(Runqslower {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &RunqslowerOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = crate::runqlat::check_tables(recordings)?;
    let mut r = compute(recordings, opts)?;
    r.warnings = warnings;
    if opts.common.json {
        #[derive(Serialize)]
        struct J<'a> {
            report: &'static str,
            from: String,
            to: String,
            min_latency_ns: i64,
            rows: &'a [Slow],
            loss: serde_json::Value,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            warnings: &'a [String],
        }
        out.json(&J {
            report: "runqslower",
            from: format_rfc3339(r.window.start_ns),
            to: format_rfc3339(r.window.end_ns),
            min_latency_ns: opts.min_ns,
            rows: &r.rows,
            loss: r.loss.to_json(),
            warnings: &r.warnings,
        })?;
    } else {
        write_text(&r, opts, out)?;
    }
    table_notes(out, recordings, &r.warnings, &[SWITCH_TABLE.name, WAKEUP_TABLE.name])
}

/// Prints the report as libbpf-tools `runqslower` does (TIME is the
/// switch-in, HH:MM:SS).
pub fn write_text(r: &Runqslower, opts: &RunqslowerOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "Run queue latency higher than {} us, recorded {} .. {} (UTC).",
        opts.min_ns / NS_PER_US,
        format_rfc3339(r.window.start_ns),
        format_rfc3339(r.window.end_ns)
    )?;
    if opts.previous {
        writeln!(
            out.out,
            "{:<8} {:<16} {:<6} {:>14} {:<16} {:<6}",
            "TIME", "COMM", "TID", "LAT(us)", "PREV COMM", "PREV TID"
        )?;
    } else {
        writeln!(
            out.out,
            "{:<8} {:<16} {:<6} {:>14}",
            "TIME", "COMM", "TID", "LAT(us)"
        )?;
    }
    for s in &r.rows {
        let t = format_hms(s.ts, opts.localtime);
        let lat = s.latency_ns / NS_PER_US;
        if opts.previous {
            writeln!(
                out.out,
                "{t:<8} {:<16} {:<6} {lat:>14} {:<16} {:<6}",
                s.comm, s.tid, s.prev_comm, s.prev_tid
            )?;
        } else {
            writeln!(out.out, "{t:<8} {:<16} {:<6} {lat:>14}", s.comm, s.tid)?;
        }
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
    }
    Ok(())
}

/// `runqslower` on the command line.
#[derive(clap::Args)]
pub struct RunqslowerArgs {
    /// Only waits longer than this: 500us, 5ms; a plain number is microseconds (bcc's positional min_us). Default 10ms.
    #[arg(long = "min-latency", value_name = "DUR", value_parser = crate::cli::parse_us_arg)]
    min_latency: Option<i64>,
    /// Only this thread id.
    #[arg(short = 't', long = "tid", value_name = "TID")]
    tid: Option<i32>,
    /// Also print the task that was switched out for it (PREV COMM, PREV TID).
    #[arg(short = 'P', long = "previous")]
    previous: bool,
    /// Print TIME in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for RunqslowerArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = RunqslowerOptions {
            common: self.common.options(),
            min_ns: self.min_latency.unwrap_or(DEFAULT_MIN_NS),
            tid: self.tid,
            previous: self.previous,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("runqslower")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
