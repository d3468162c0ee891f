//! `heatmap`: a latency heat map as SVG, as Brendan Gregg draws them:
//! columns are time steps, rows log2 latency buckets, the colour of a
//! cell the number of events that completed in that step with a latency
//! in that bucket. A histogram hides what a heat map shows: the bimodal
//! disk, the periodic stall, the burst of outliers.
//!
//! The cells are the histograms of the text reports, one per step, so a
//! map and its report always agree: `--of bio` is `biolatency
//! --interval STEP` (`-D` one map per disk, `-Q` with the OS queue),
//! `--of runqlat` is `runqlat --interval STEP`, `--of fileio` is `fsdist
//! --interval STEP` with every operation together (or `--op`), `--of
//! offcpu` the `offcpu` table's time blocked (what offcputime sums), at
//! the switch-in. Rows and
//! their ranges are bcc's log2 slots (`0 -> 1`, `2 -> 3`, `4 -> 7` …) in µs,
//! or ms with `-m`. Columns start at the window's start (`--from`, else
//! the recording's). Steps in which the recorder lost events of the
//! family are marked red under the time axis; their cells may be short.
//!
//! `--of profile` is FlameScope's sub-second offset map instead: a column
//! per second, rows the offset of each CPU sample within its second (50
//! rows of 20 ms by default, offset 0 at the bottom), colour the samples;
//! stripes show periodic work, and a cell's title gives the `--from/--to`
//! that draws its flame graph.
//!
//! The SVG needs no script: each cell's `<title>` gives its time range,
//! latency range and count, which browsers show on hover. `--json`
//! prints the non-empty cells, `{time, low, high, count}` per map, whose
//! counts add up to the rows the map covers.

mod args;
mod rows;
mod svg;

pub use args::HeatmapArgs;
pub use svg::svg;

use std::collections::BTreeMap;
use std::sync::Arc;

use ktape_format::read::Recording;

use crate::biolatency::{self, BiolatencyOptions};
use crate::tables::{self, Needs};
use crate::window::{interval_bounds, interval_count};
use crate::common::{Options, Window};
use crate::error::{Error, Result};
use crate::fsdist::{self, FsdistOptions, OPS};
use crate::hist::{log2_bounds, Log2Hist, Slots, LOG2_SLOTS};
use crate::loss::Loss;
use crate::output::Out;
use crate::runqlat::{self, RunqlatOptions};
use crate::time::{
    format_rfc3339, secs_between, NS_PER_MS, NS_PER_SEC, NS_PER_US,
};

/// What a heat map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Of {
    /// Block I/O latency (`bio` table, `-e bio`), as biolatency.
    Bio,
    /// Run-queue latency (`sched_switch`/`sched_wakeup`, `-e sched`), as runqlat.
    Runqlat,
    /// File operation latency (`file_op`, `-e fileio`), as fsdist.
    Fileio,
    /// Time blocked off CPU (`offcpu`, `-e offcpu`), as offcputime.
    Offcpu,
    /// CPU samples by second and offset within the second (`profile`,
    /// `-e profile`), as FlameScope draws them.
    Profile,
    /// TCP connect latency (`tcp_state`, `-e tcp`), as tcpconnlat: the
    /// time in SYN_SENT, at the move to ESTABLISHED.
    Tcpconnlat,
}

impl Of {
    fn name(self) -> &'static str {
        match self {
            Of::Bio => "bio",
            Of::Runqlat => "runqlat",
            Of::Fileio => "fileio",
            Of::Offcpu => "offcpu",
            Of::Profile => "profile",
            Of::Tcpconnlat => "tcpconnlat",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Of::Bio => "Block I/O latency",
            Of::Runqlat => "Run queue latency",
            Of::Fileio => "File operation latency",
            Of::Offcpu => "Off-CPU time",
            Of::Profile => "CPU samples by sub-second offset",
            Of::Tcpconnlat => "TCP connect latency",
        }
    }

    fn counted(self) -> &'static str {
        match self {
            Of::Bio => "I/Os",
            Of::Runqlat => "wakeups",
            Of::Fileio => "operations",
            Of::Offcpu => "blocks",
            Of::Profile => "samples",
            Of::Tcpconnlat => "connects",
        }
    }

    /// The table whose presence picks the default.
    fn table(self) -> &'static str {
        match self {
            Of::Bio => ktape_format::bio::TABLE.name,
            Of::Runqlat => ktape_format::sched::SWITCH_TABLE.name,
            Of::Fileio => ktape_format::fileio::TABLE.name,
            Of::Offcpu => ktape_format::offcpu::TABLE.name,
            Of::Profile => ktape_format::profile::TABLE.name,
            Of::Tcpconnlat => ktape_format::tcp::STATE_TABLE.name,
        }
    }
}

/// Options of `heatmap`. The default draws block I/O latency when the
/// recording has `bio` (else run-queue latency, else file operations),
/// in µs, with a step that gives at most [`MAX_AUTO_COLUMNS`] columns.
#[derive(Debug, Clone, Default)]
pub struct HeatmapOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// What to draw. Default: see the struct.
    pub of: Option<Of>,
    /// Length of a column, ns. Default: [`auto_step`].
    pub step_ns: Option<i64>,
    /// Rows in milliseconds instead of microseconds.
    pub millis: bool,
    /// `--of bio`: one map per disk.
    pub per_disk: bool,
    /// `--of bio`: latency from insertion into the OS queue.
    pub queued: bool,
    /// `--of fileio`: one operation only (read, write, open, fsync).
    pub op: Option<String>,
    /// `--of profile`: rows per second. Default [`DEFAULT_OFFSET_ROWS`].
    pub rows: Option<usize>,
    /// `--linear`: latency rows of this many µs (ms with `-m`) each,
    /// instead of log2. Default: log2.
    pub linear: Option<u64>,
}

/// `--of profile`'s rows per second: 20 ms each, as FlameScope.
pub const DEFAULT_OFFSET_ROWS: usize = 50;

/// What the rows of a map are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// bcc's log2 slots of a latency.
    Log2,
    /// `n` equal parts of a second, offset 0 at the bottom.
    Offsets(usize),
    /// Rows of this many units each (`--linear`), from 0; the last row
    /// takes everything past it.
    Linear(u64),
}

impl Rows {
    /// Row `i`'s range, inclusive, in the map's unit.
    pub fn bounds(self, i: usize) -> (u64, u64) {
        match self {
            Rows::Log2 => log2_bounds(i),
            Rows::Offsets(n) => {
                let ms = 1000 / n as u64;
                (i as u64 * ms, (i as u64 + 1) * ms - 1)
            }
            Rows::Linear(step) if i == LOG2_SLOTS - 1 => (i as u64 * step, u64::MAX),
            Rows::Linear(step) => (i as u64 * step, (i as u64 + 1) * step - 1),
        }
    }

    /// How the reports behind a map must slot their values.
    pub fn slots(self) -> Slots {
        match self {
            Rows::Linear(step) => Slots::Linear(step),
            _ => Slots::Log2,
        }
    }
}

/// The most columns the default step gives.
pub const MAX_AUTO_COLUMNS: i64 = 200;

/// The steps the default picks from: the shortest that keeps the map
/// within [`MAX_AUTO_COLUMNS`] columns.
const AUTO_STEPS_MS: &[i64] = &[
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    1_800_000, 3_600_000, 86_400_000,
];

/// The default step for a window `span_ns` long.
pub fn auto_step(span_ns: i64) -> i64 {
    for &ms in AUTO_STEPS_MS {
        let step = ms * NS_PER_MS;
        if span_ns <= step * MAX_AUTO_COLUMNS {
            return step;
        }
    }
    86_400_000 * NS_PER_MS
}

/// One heat map: a histogram per column.
#[derive(Debug, Clone)]
pub struct Map {
    /// The disk with `-D` (else none).
    pub label: Option<Arc<str>>,
    /// One histogram per column, in time order.
    pub columns: Vec<Log2Hist>,
}

impl Map {
    /// Events the map covers.
    pub fn total(&self) -> u64 {
        self.columns.iter().map(Log2Hist::total).sum()
    }
}

/// The computed heat maps.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// What they show.
    pub of: Of,
    /// What the rows are.
    pub rows: Rows,
    /// Row unit: `usecs`, `msecs` or, for offsets, `ms`.
    pub unit: &'static str,
    /// The window.
    pub window: Window,
    /// The recordings' start, which `--from +OFFSET` counts from.
    pub origin_ns: i64,
    /// Column length, ns.
    pub step_ns: i64,
    /// Each column's `[start, end)` and the family's events lost in
    /// seconds overlapping it.
    pub columns: Vec<(i64, i64, u64)>,
    /// The maps (one unless `-D`), sorted by label.
    pub maps: Vec<Map>,
    /// The family's loss over the window.
    pub loss: Loss,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

impl Heatmap {
    /// The rows drawn: the slots from the lowest to the highest holding
    /// any event in any map (`None` when every map is empty).
    pub fn slot_range(&self) -> Option<(usize, usize)> {
        if let Rows::Offsets(n) = self.rows {
            return Some((0, n - 1));
        }
        let mut lo = LOG2_SLOTS;
        let mut hi = 0;
        for m in &self.maps {
            for h in &m.columns {
                for s in 0..LOG2_SLOTS {
                    if h.slot(s) > 0 {
                        lo = lo.min(s);
                        hi = hi.max(s);
                    }
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// The largest count of any cell.
    pub fn max_count(&self) -> u64 {
        self.maps
            .iter()
            .flat_map(|m| m.columns.iter())
            .flat_map(|h| (0..LOG2_SLOTS).map(move |s| h.slot(s)))
            .max()
            .unwrap_or(0)
    }
}

/// The map to draw when `--of` is not given.
fn default_of(recordings: &[Recording]) -> Result<Of> {
    let has = |t: &str| recordings.iter().any(|r| r.tables.contains_key(t));
    [Of::Bio, Of::Runqlat, Of::Fileio]
        .into_iter()
        .find(|of| has(of.table()))
        .ok_or_else(|| {
            Error::Usage(
                "nothing to draw by default: the recordings have no bio, sched_switch or file_op table \
                 (record with -e bio, -e sched or -e fileio, or give --of offcpu or --of profile)"
                    .into(),
            )
        })
}

/// The maps being built: per label, one histogram per column.
type Maps = BTreeMap<Option<Arc<str>>, Vec<Log2Hist>>;

/// The `n` columns of `step` from the window's start, with the events of
/// `loss` lost in each.
fn step_columns(window: &Window, step: i64, n: i64, loss: &Loss) -> Vec<(i64, i64, u64)> {
    (0..n)
        .map(|k| {
            let (a, b) = interval_bounds(window.start_ns, step, k);
            (a, b, if loss.total() > 0 { loss.lost_between(a, b) } else { 0 })
        })
        .collect()
}

/// Adds a report's histogram of column `k` (of `n`) to the map `label`.
fn add(maps: &mut Maps, label: Option<Arc<str>>, n: usize, k: usize, h: &Log2Hist) {
    maps.entry(label)
        .or_insert_with(|| vec![Log2Hist::default(); n])[k]
        .merge(h);
}

/// Computes the maps.
pub fn compute(recordings: &[Recording], opts: &HeatmapOptions) -> Result<Heatmap> {
    let of = match opts.of {
        Some(of) => of,
        None => default_of(recordings)?,
    };
    if opts.per_disk && of != Of::Bio {
        return Err(Error::Usage("-D (one map per disk) needs --of bio".into()));
    }
    if opts.queued && of != Of::Bio {
        return Err(Error::Usage("-Q (queued time) needs --of bio".into()));
    }
    let op = match (&opts.op, of) {
        (None, _) => None,
        (Some(o), Of::Fileio) => Some(OPS.iter().position(|n| n == o).ok_or_else(|| {
            Error::Usage(format!("--op {o}: not an operation; one of {}", OPS.join(", ")))
        })?),
        (Some(_), _) => return Err(Error::Usage("--op needs --of fileio".into())),
    };
    let rows = match (opts.rows, of) {
        (None, Of::Profile) => Rows::Offsets(DEFAULT_OFFSET_ROWS),
        (Some(n), Of::Profile) if n > 0 && n <= 50 && 1000 % n == 0 => Rows::Offsets(n),
        (Some(n), Of::Profile) => {
            return Err(Error::Usage(format!(
                "--rows {n}: the rows split a second into whole milliseconds, at most 50: \
                 one of 1, 2, 4, 5, 8, 10, 20, 25, 40, 50"
            )))
        }
        (Some(_), _) => return Err(Error::Usage("--rows needs --of profile".into())),
        (None, _) => match opts.linear {
            None => Rows::Log2,
            Some(0) => return Err(Error::Usage("--linear: a row must be at least 1 unit high".into())),
            Some(step) => Rows::Linear(step),
        },
    };
    if opts.linear.is_some() && of == Of::Profile {
        return Err(Error::Usage(
            "--linear applies to latencies; --of profile's rows are offsets (see --rows)".into(),
        ));
    }
    if of == Of::Profile && opts.step_ns.is_some_and(|s| s != NS_PER_SEC) {
        return Err(Error::Usage(
            "--of profile draws one column per second (its rows are the offsets within it): drop --step".into(),
        ));
    }
    if of == Of::Profile && opts.millis {
        return Err(Error::Usage("-m applies to latencies, not to --of profile".into()));
    }
    let window = Window::resolve(&opts.common, recordings)?;
    let step = match opts.step_ns {
        Some(s) if s <= 0 => return Err(Error::Usage("--step must be longer than 0".into())),
        Some(s) => s,
        None if of == Of::Profile => NS_PER_SEC,
        None => auto_step(window.end_ns.saturating_sub(window.start_ns)),
    };
    let common = Options {
        json: false,
        ..opts.common.clone()
    };
    let mut warnings = Vec::new();
    let mut maps = Maps::new();
    let (columns, loss): (Vec<(i64, i64, u64)>, Loss) = match of {
        Of::Bio => {
            let r = biolatency::compute(
                recordings,
                &BiolatencyOptions {
                    common,
                    millis: opts.millis,
                    queued: opts.queued,
                    per_disk: opts.per_disk,
                    interval_ns: Some(step),
                    slots: rows.slots(),
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for g in &iv.groups {
                    let label = if opts.per_disk { g.disk.clone() } else { None };
                    add(&mut maps, label, n, k, &g.hist);
                }
            }
            warnings.extend(r.warnings);
            let cols = r.intervals.iter().map(|i| (i.start_ns, i.end_ns, i.lost));
            (cols.collect(), r.loss)
        }
        Of::Runqlat => {
            let r = runqlat::compute(
                recordings,
                &RunqlatOptions {
                    common,
                    millis: opts.millis,
                    interval_ns: Some(step),
                    slots: rows.slots(),
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for g in &iv.groups {
                    add(&mut maps, None, n, k, &g.hist);
                }
            }
            warnings.extend(r.warnings);
            let cols = r.intervals.iter().map(|i| (i.start_ns, i.end_ns, i.lost));
            (cols.collect(), r.loss)
        }
        Of::Fileio => {
            let r = fsdist::compute(
                recordings,
                &FsdistOptions {
                    common,
                    millis: opts.millis,
                    interval_ns: Some(step),
                    slots: rows.slots(),
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for (i, h) in iv.hists.iter().enumerate() {
                    if op.is_none_or(|o| o == i) {
                        add(&mut maps, None, n, k, h);
                    }
                }
            }
            warnings.extend(r.warnings);
            let cols = r.intervals.iter().map(|i| (i.range.0, i.range.1, i.lost));
            (cols.collect(), r.loss)
        }
        Of::Tcpconnlat => {
            let n = interval_count(recordings, &window, step, None)?;
            let scale = if opts.millis { NS_PER_MS } else { NS_PER_US };
            let (hists, loss, w) =
                rows::tcpconnlat(recordings, &window, step, n, &common, scale, rows.slots())?;
            warnings.extend(w);
            maps.insert(None, hists);
            (step_columns(&window, step, n, &loss), loss)
        }
        Of::Offcpu | Of::Profile => {
            let spec = if of == Of::Offcpu {
                &ktape_format::offcpu::TABLE
            } else {
                &ktape_format::profile::TABLE
            };
            warnings.extend(tables::check(recordings, &Needs::one(spec.name))?);
            let n = interval_count(recordings, &window, step, None)?;
            let scale = if opts.millis { NS_PER_MS } else { NS_PER_US };
            let hists = rows::scan_rows_into(recordings, spec.name, &window, step, n, &opts.common, of, rows, scale)?;
            maps.insert(None, hists);
            let loss = Loss::read(recordings, spec.family, window.range)?;
            (step_columns(&window, step, n, &loss), loss)
        }
    };
    if maps.is_empty() {
        maps.insert(None, vec![Log2Hist::default(); columns.len()]);
    }
    Ok(Heatmap {
        of,
        rows,
        unit: match (rows, opts.millis) {
            (Rows::Offsets(_), _) => "ms",
            (_, true) => "msecs",
            (_, false) => "usecs",
        },
        origin_ns: Window::resolve(&Options::default(), recordings)?.start_ns,
        window,
        step_ns: step,
        columns,
        maps: maps
            .into_iter()
            .map(|(label, columns)| Map { label, columns })
            .collect(),
        loss,
        warnings,
    })
}

/// Prints the cells as one JSON object: per map its non-empty cells in
/// time then latency order.
pub fn write_json(r: &Heatmap, out: &mut Out<'_>) -> Result<()> {
    let maps: Vec<serde_json::Value> = r
        .maps
        .iter()
        .map(|m| {
            let mut cells = Vec::new();
            for (c, h) in m.columns.iter().enumerate() {
                let (a, b, _) = r.columns[c];
                for slot in 0..LOG2_SLOTS {
                    let n = h.slot(slot);
                    if n > 0 {
                        let (low, high) = r.rows.bounds(slot);
                        cells.push(serde_json::json!({
                            "time": format_rfc3339(a),
                            "time_s": secs_between(r.window.start_ns, a),
                            "step_s": (b - a) as f64 / NS_PER_SEC as f64,
                            "slot": slot,
                            "low": low,
                            // The last linear row is open-ended.
                            "high": (high != u64::MAX).then_some(high),
                            "count": n,
                        }));
                    }
                }
            }
            serde_json::json!({
                "disk": m.label.as_deref(),
                "total": m.total(),
                "cells": cells,
            })
        })
        .collect();
    let lost_steps: Vec<serde_json::Value> = r
        .columns
        .iter()
        .filter(|c| c.2 > 0)
        .map(|&(a, _, lost)| serde_json::json!({"time": format_rfc3339(a), "lost_in_its_seconds": lost}))
        .collect();
    let mut v = serde_json::json!({
        "report": "heatmap",
        "of": r.of.name(),
        "unit": r.unit,
        "scale": match r.rows { Rows::Log2 => "log2", Rows::Offsets(_) => "offset", Rows::Linear(_) => "linear" },
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "step_ns": r.step_ns,
        "columns": r.columns.len(),
        "maps": maps,
        "lost_steps": lost_steps,
        "loss": r.loss.to_json(),
    });
    crate::common::json_warnings(&mut v, &r.warnings);
    writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_step_keeps_the_map_narrow() {
        assert_eq!(auto_step(10 * NS_PER_SEC), 100 * NS_PER_MS);
        assert_eq!(auto_step(20 * NS_PER_SEC), 100 * NS_PER_MS);
        assert_eq!(auto_step(21 * NS_PER_SEC), 200 * NS_PER_MS);
        assert_eq!(auto_step(60 * NS_PER_SEC), 500 * NS_PER_MS);
        assert_eq!(auto_step(3600 * NS_PER_SEC), 30 * NS_PER_SEC);
        for span in [1, NS_PER_SEC, 7 * 3600 * NS_PER_SEC] {
            assert!(span / auto_step(span) <= MAX_AUTO_COLUMNS);
        }
    }
}
