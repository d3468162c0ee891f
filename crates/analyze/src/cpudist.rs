//! `cpudist`: on-CPU time per scheduling slice as a log2 histogram (bcc's
//! `cpudist`), or with `-O` the off-CPU time between a thread's switch-out
//! and its next switch-in, computed from the raw `sched_switch` rows.
//!
//! # Pairing
//!
//! On-CPU (default): a slice is the time between two consecutive
//! `sched_switch` rows of one CPU; it belongs to the thread switched in by
//! the first, which must be the one switched out by the second (when they
//! differ, a row was lost in between and the slice is not counted). The
//! rows are sorted by (cpu, ts) and cut into chunks anywhere: each chunk
//! also reads the row after its end, so chunks pair independently (rayon)
//! and every CPU's slices are disjoint by construction. The idle task
//! (pid 0) has no slices, as in bcc. A slice counts in the interval where
//! it ends (bcc updates the histogram at switch-out).
//!
//! Off-CPU (`-O`): per thread, a switch-out (`prev_pid`) and its next
//! switch-in (`next_pid`), on any CPU: runqlat's pairing
//! ([`crate::runqlat`]) with switch-outs as the starting events, so the
//! same parallel sort-and-split by thread applies. Counted where it ends.
//!
//! # Memory
//!
//! Both passes walk the window in time slices of about two million rows
//! (as runqlat): on-CPU carries each CPU's last row into the next slice,
//! off-CPU each thread's pending switch-out. A slice holds 24 bytes per
//! `sched_switch` row (on-CPU) or 16 per switch-out or switch-in
//! (off-CPU), plus one 512-byte histogram per group and interval; columns
//! are never held beyond their batch.
//!
//! Options, grouping (`-P`, `-L`), filters and output are runqlat's:
//! `-p` and `--comm` select slices by their thread, whose comm is its name
//! at its last switch-in.

use std::collections::{BTreeMap, HashMap};

use ktape_format::read::{Recording, TimeRange};
use ktape_format::sched::SWITCH_TABLE;
use rayon::prelude::*;

use crate::columns;
use crate::common::{scan, slice_rows, table_notes, time_slices};
use crate::error::Result;
use crate::hist::Log2Hist;
use crate::output::Out;
use crate::pairing::{collect_comms, pair_slices, Comms, Ev, SWITCH_IN};
use crate::runqlat::{self, assemble, bin, merge_hists, Runqlat, RunqlatOptions};
use crate::tables::{self, Needs};
use crate::time::{NS_PER_MS, NS_PER_US};

/// Options of `cpudist`: runqlat's, plus `-O`.
#[derive(Debug, Clone, Default)]
pub struct CpudistOptions {
    /// `-m`, `-P`, `-L`, `-T`, `--interval`, `--count`, `-p`, `--comm`,
    /// `--from/--to`, `--json`: as in runqlat.
    pub hist: RunqlatOptions,
    /// `-O`: off-CPU time instead of on-CPU time. Default: on-CPU.
    pub offcpu: bool,
}

/// The report: runqlat's histogram sets, and with on-CPU time each CPU's
/// total time in slices (ns), for checks against the window.
#[derive(Debug, Clone)]
pub struct Cpudist {
    pub hists: Runqlat,
    /// cpu → summed on-CPU time of the counted slices, ns (on-CPU only).
    pub cpu_busy_ns: BTreeMap<i32, i64>,
}

/// One `sched_switch` row, compacted for the per-CPU sort.
#[derive(Debug, Clone, Copy)]
struct Sw {
    ts: i64,
    cpu: i32,
    prev: i32,
    next: i32,
    next_tgid: i32,
}

/// Scans `sched_switch` over `range` (one time slice) and calls `push`
/// per row (ts, cpu, prev_pid, prev_tgid, next_pid, next_tgid).
fn collect<T: Send>(
    recordings: &[Recording],
    range: TimeRange,
    push: &(impl Fn(&mut Vec<T>, [i64; 6]) + Sync + Send),
) -> Result<Vec<T>> {
    let cols = [
        "ts",
        "cpu",
        "prev_pid",
        "prev_tgid",
        "next_pid",
        "next_tgid",
    ];
    scan(
        recordings,
        SWITCH_TABLE.name,
        range,
        &cols,
        Vec::new,
        |rows: &mut Vec<T>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let cpu = columns::i32s(batch, "cpu", path)?;
            let prev = columns::i32s(batch, "prev_pid", path)?;
            let ptgid = columns::i32s(batch, "prev_tgid", path)?;
            let next = columns::i32s(batch, "next_pid", path)?;
            let ntgid = columns::i32s(batch, "next_tgid", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) {
                    push(
                        rows,
                        [
                            ts[i],
                            cpu[i] as i64,
                            prev[i] as i64,
                            ptgid[i] as i64,
                            next[i] as i64,
                            ntgid[i] as i64,
                        ],
                    );
                }
            }
            Ok(())
        },
        |mut a, mut b| {
            if a.len() < b.len() {
                std::mem::swap(&mut a, &mut b);
            }
            a.append(&mut b);
            a
        },
    )
}

type Hists = HashMap<(i64, i32), Log2Hist>;

/// The on-CPU slices of `rows` (sorted by cpu, ts), in parallel: the
/// rows are cut into chunks anywhere, and each chunk also reads the row
/// after its end.
fn on_cpu(
    rows: &[Sw],
    h: &RunqlatOptions,
    base: i64,
    comms: &Comms,
    scale: i64,
) -> (Hists, BTreeMap<i32, i64>) {
    let chunk = (rows.len() / (rayon::current_num_threads() * 4)).max(64 * 1024);
    rows.par_chunks(chunk)
        .enumerate()
        .fold(
            || (Hists::new(), BTreeMap::<i32, i64>::new()),
            |(mut m, mut busy), (k, part)| {
                let start = k * chunk;
                // Pairs (i, i+1) for every i of this chunk, the last one
                // with the first row of the next chunk.
                let end = (start + part.len() + 1).min(rows.len());
                for w in rows[start..end].windows(2) {
                    let (a, b) = (w[0], w[1]);
                    if a.cpu != b.cpu || a.next == 0 || a.next != b.prev {
                        continue;
                    }
                    // Sorted by ts, so never negative; saturating for a
                    // damaged ts at each end of the clock.
                    let d = b.ts.saturating_sub(a.ts);
                    if let Some(key) = bin(h, base, comms, a.next, a.next_tgid, b.ts) {
                        m.entry(key).or_default().add((d / scale) as u64);
                        let t = busy.entry(a.cpu).or_default();
                        *t = t.saturating_add(d);
                    }
                }
                (m, busy)
            },
        )
        .reduce(
            || (Hists::new(), BTreeMap::new()),
            |(a, mut ba), (b, bb)| {
                for (c, n) in bb {
                    let t = ba.entry(c).or_default();
                    *t = t.saturating_add(n);
                }
                (merge_hists(a, b), ba)
            },
        )
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &CpudistOptions) -> Result<Cpudist> {
    let h = &opts.hist;
    let window = runqlat::prepare(recordings, h)?;
    let base = window.start_ns;
    let want_comms = h.per_process || h.per_thread || h.common.filter.comm.is_some();
    let scale = if h.millis { NS_PER_MS } else { NS_PER_US };
    let comms = if want_comms {
        collect_comms(recordings, window.range, h.per_process)?
    } else {
        Comms::new()
    };
    if opts.offcpu {
        let push = |v: &mut Vec<Ev>, [ts, _, prev, _, next, ntgid]: [i64; 6]| {
            if prev != 0 {
                v.push(Ev {
                    ts,
                    pid: prev as i32,
                    tgid_kind: 0,
                });
            }
            if next != 0 {
                v.push(Ev {
                    ts,
                    pid: next as i32,
                    tgid_kind: ntgid as u32 | SWITCH_IN,
                });
            }
        };
        let hists = pair_slices(
            &time_slices(recordings, &[SWITCH_TABLE.name], window.range, slice_rows()),
            |range| collect(recordings, range, &push),
            Hists::new,
            |m: &mut Hists, l| {
                if let Some(k) = bin(h, base, &comms, l.pid, l.tgid, l.ts) {
                    m.entry(k).or_default().add((l.latency_ns / scale) as u64);
                }
            },
            merge_hists,
        )?;
        let hists = assemble(
            recordings,
            h,
            window,
            hists,
            &comms,
            ("Off-CPU time", "cpudist"),
        )?;
        return Ok(Cpudist {
            hists,
            cpu_busy_ns: BTreeMap::new(),
        });
    }

    let push = |v: &mut Vec<Sw>, [ts, cpu, prev, _, next, ntgid]: [i64; 6]| {
        v.push(Sw {
            ts,
            cpu: cpu as i32,
            prev: prev as i32,
            next: next as i32,
            next_tgid: ntgid as i32,
        })
    };
    let mut hists = Hists::new();
    let mut busy = BTreeMap::<i32, i64>::new();
    // Each CPU's last row of a slice starts its slice in the next one.
    let mut last: Vec<Sw> = Vec::new();
    for range in time_slices(recordings, &[SWITCH_TABLE.name], window.range, slice_rows()) {
        let mut rows = collect(recordings, range, &push)?;
        rows.append(&mut last);
        rows.par_sort_unstable_by_key(|r| (r.cpu, r.ts));
        last = rows
            .windows(2)
            .filter(|w| w[0].cpu != w[1].cpu)
            .map(|w| w[0])
            .chain(rows.last().copied())
            .collect();
        let (m, b) = on_cpu(&rows, h, base, &comms, scale);
        hists = merge_hists(hists, m);
        for (c, n) in b {
            let t = busy.entry(c).or_default();
            *t = t.saturating_add(n);
        }
    }
    let hists = assemble(
        recordings,
        h,
        window,
        hists,
        &comms,
        ("On-CPU time", "cpudist"),
    )?;
    Ok(Cpudist {
        hists,
        cpu_busy_ns: busy,
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &CpudistOptions, out: &mut Out<'_>) -> Result<()> {
    let warnings = tables::check(recordings, &Needs::one(SWITCH_TABLE.name))?;
    let mut r = compute(recordings, opts)?;
    r.hists.warnings = warnings;
    if opts.hist.common.json {
        let mut v = serde_json::to_value(runqlat::to_json(&r.hists, &opts.hist))?;
        v["offcpu"] = opts.offcpu.into();
        if !opts.offcpu {
            v["cpu_busy_ns"] = r
                .cpu_busy_ns
                .iter()
                .map(|(c, n)| serde_json::json!({"cpu": c, "ns": n}))
                .collect();
        }
        out.json(&v)?;
    } else {
        runqlat::write_text(&r.hists, &opts.hist, out)?;
    }
    table_notes(out, recordings, &r.hists.warnings, &[SWITCH_TABLE.name])?;
    if r.hists.intervals.iter().all(|i| i.groups.is_empty()) {
        out.warn("note: no scheduling slice matches the window and filters")?;
    }
    Ok(())
}

/// `cpudist` on the command line: runqlat's flags and -O.
#[derive(clap::Args)]
pub struct CpudistArgs {
    /// Off-CPU time (switch-out to next switch-in) instead of on-CPU time.
    #[arg(short = 'O', long = "offcpu")]
    offcpu: bool,
    #[command(flatten)]
    hist: crate::runqlat::RunqlatArgs,
}

impl crate::cli::Run for CpudistArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.hist.common.open()?;
        let opts = CpudistOptions {
            hist: self.hist.options(),
            offcpu: self.offcpu,
        };
        run(&recs, &opts, out).context("cpudist")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
