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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use ktape_format::read::Recording;

use crate::biolatency::{self, BiolatencyOptions};
use crate::columns;
use crate::scan::scan;
use crate::tables::{self, Needs};
use crate::window::{interval_bounds, interval_count, interval_index};
use crate::common::{Options, Window};
use crate::error::{Error, Result};
use crate::fsdist::{self, FsdistOptions, OPS};
use crate::hist::{log2_bounds, Log2Hist, LOG2_SLOTS};
use crate::loss::Loss;
use crate::output::Out;
use crate::runqlat::{self, RunqlatOptions};
use crate::time::{
    format_hms, format_rfc3339, format_secs, secs_between, NS_PER_MS, NS_PER_SEC, NS_PER_US,
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
}

impl Of {
    fn name(self) -> &'static str {
        match self {
            Of::Bio => "bio",
            Of::Runqlat => "runqlat",
            Of::Fileio => "fileio",
            Of::Offcpu => "offcpu",
            Of::Profile => "profile",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Of::Bio => "Block I/O latency",
            Of::Runqlat => "Run queue latency",
            Of::Fileio => "File operation latency",
            Of::Offcpu => "Off-CPU time",
            Of::Profile => "CPU samples by sub-second offset",
        }
    }

    fn counted(self) -> &'static str {
        match self {
            Of::Bio => "I/Os",
            Of::Runqlat => "wakeups",
            Of::Fileio => "operations",
            Of::Offcpu => "blocks",
            Of::Profile => "samples",
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
        (None, _) => Rows::Log2,
    };
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
    let mut maps: BTreeMap<Option<Arc<str>>, Vec<Log2Hist>> = BTreeMap::new();
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
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for g in &iv.groups {
                    let label = if opts.per_disk { g.disk.clone() } else { None };
                    maps.entry(label).or_insert_with(|| vec![Log2Hist::default(); n])[k]
                        .merge(&g.hist);
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
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for g in &iv.groups {
                    maps.entry(None).or_insert_with(|| vec![Log2Hist::default(); n])[k]
                        .merge(&g.hist);
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
                    ..Default::default()
                },
            )?;
            let n = r.intervals.len();
            for (k, iv) in r.intervals.iter().enumerate() {
                for (i, h) in iv.hists.iter().enumerate() {
                    if op.is_none_or(|o| o == i) {
                        maps.entry(None).or_insert_with(|| vec![Log2Hist::default(); n])[k]
                            .merge(h);
                    }
                }
            }
            warnings.extend(r.warnings);
            let cols = r.intervals.iter().map(|i| (i.range.0, i.range.1, i.lost));
            (cols.collect(), r.loss)
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
            let hists = scan_rows_into(recordings, spec.name, &window, step, n, &opts.common, of, rows, scale)?;
            maps.insert(None, hists);
            let loss = Loss::read(recordings, spec.family, window.range)?;
            let cols = (0..n)
                .map(|k| {
                    let (a, b) = interval_bounds(window.start_ns, step, k);
                    (a, b, if loss.total() > 0 { loss.lost_between(a, b) } else { 0 })
                })
                .collect();
            (cols, loss)
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

/// One histogram per column from the rows of `offcpu` (log2 of the time
/// blocked, counted at the switch-in) or `profile` (each sample in the
/// row of its offset within its second).
#[allow(clippy::too_many_arguments)]
fn scan_rows_into(
    recordings: &[Recording],
    table: &str,
    window: &Window,
    step: i64,
    n: i64,
    common: &Options,
    of: Of,
    rows: Rows,
    scale: i64,
) -> Result<Vec<Log2Hist>> {
    let range = window.range;
    let base = window.start_ns;
    let mut cols = vec!["ts"];
    if of == Of::Offcpu {
        cols.push("duration_ns");
    }
    common.filter.add_columns(&mut cols);
    let n = n as usize;
    scan(
        recordings,
        table,
        range,
        &cols,
        || vec![Log2Hist::default(); n],
        |acc: &mut Vec<Log2Hist>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let dur = if of == Of::Offcpu {
                Some(columns::i64s(batch, "duration_ns", path)?)
            } else {
                None
            };
            let filter = common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                let Some(col) = usize::try_from(interval_index(ts[i], base, step))
                    .ok()
                    .filter(|&c| c < n)
                else {
                    continue;
                };
                match (rows, dur) {
                    (Rows::Offsets(per_sec), _) => {
                        let off = (ts[i] - interval_bounds(base, step, col as i64).0) as i128;
                        let row = (off * per_sec as i128 / NS_PER_SEC as i128) as usize;
                        acc[col].add_n(row.min(per_sec - 1), 1);
                    }
                    (Rows::Log2, Some(d)) => {
                        if d[i] >= 0 {
                            acc[col].add((d[i] / scale) as u64);
                        }
                    }
                    (Rows::Log2, None) => {}
                }
            }
            Ok(())
        },
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        },
    )
}

/// `&`, `<`, `>` and quotes as XML entities.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// A cell's colour: pale yellow for one event to dark red for the most,
/// on a square-root scale so that rare latencies stay visible next to
/// the common ones.
fn colour(count: u64, max: u64) -> String {
    let t = if max <= 1 {
        1.0
    } else {
        ((count - 1) as f64 / (max - 1) as f64).sqrt()
    };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    // #ffeda0 -> #f03b20 -> #800026 would need two legs; one leg from
    // pale yellow to dark red reads well enough and stays monotone.
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(255.0, 128.0),
        lerp(237.0, 0.0),
        lerp(160.0, 38.0)
    )
}

/// `HH:MM:SS.mmm`, for hover titles of sub-second columns.
fn hms_ms(ns: i64, local: bool) -> String {
    format!("{}.{:03}", format_hms(ns, local), ns.rem_euclid(NS_PER_SEC) / NS_PER_MS)
}

/// A `--from`/`--to` value for the instant `ns`: its offset from the
/// recordings' start.
fn offset_spec(origin: i64, ns: i64) -> String {
    format!("+{:.3}s", secs_between(origin, ns))
}

/// A time-axis label: the offset from the window's start.
fn offset_label(ns: i64, start: i64, step: i64) -> String {
    let s = secs_between(start, ns);
    if step % NS_PER_SEC == 0 {
        format!("+{s:.0}s")
    } else {
        format!("+{s:.1}s")
    }
}

/// Layout constants, px.
const LEFT: usize = 110;
const RIGHT: usize = 20;
const TITLE_H: usize = 60;
const MAP_HEAD: usize = 22;
const AXIS_H: usize = 40;
const ROW_H: usize = 16;
const WIDTH_TARGET: usize = 1000;
const MIN_WIDTH: usize = 760;

/// The SVG of the heat maps.
pub fn svg(r: &Heatmap, localtime: bool) -> String {
    let ncols = r.columns.len().max(1);
    let cw = (WIDTH_TARGET / ncols).clamp(2, 24);
    let grid_w = cw * ncols;
    let width = (LEFT + grid_w + RIGHT).max(MIN_WIDTH);
    let (lo, hi) = r.slot_range().unwrap_or((0, 0));
    let row_h = match r.rows {
        Rows::Offsets(n) if n > 25 => ROW_H / 2,
        _ => ROW_H,
    };
    let nrows = hi - lo + 1;
    let map_h = MAP_HEAD + nrows * row_h + AXIS_H;
    let height = TITLE_H + map_h * r.maps.len() + 30;
    let max = r.max_count();
    let unit = r.unit;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r###"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">
<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"###
    );
    let total: u64 = r.maps.iter().map(Map::total).sum();
    let _ = writeln!(
        s,
        r###"<text x="{}" y="22" text-anchor="middle" font-size="16">{} heat map</text>"###,
        width / 2,
        esc(r.of.what())
    );
    let _ = writeln!(
        s,
        r###"<text x="{}" y="42" text-anchor="middle" fill="#555">{} .. {} {} ({}) · columns of {} · rows: {} · {total} {} · at most {max} per cell</text>"###,
        width / 2,
        hms_ms(r.window.start_ns, localtime),
        hms_ms(r.window.end_ns, localtime),
        if localtime { "local" } else { "UTC" },
        format_secs(r.window.end_ns.saturating_sub(r.window.start_ns)),
        format_secs(r.step_ns),
        match r.rows {
            Rows::Log2 => format!("log2 {unit}"),
            Rows::Offsets(n) => format!("{} ms offsets within the second", 1000 / n),
        },
        r.of.counted(),
    );
    for (m_i, m) in r.maps.iter().enumerate() {
        let top = TITLE_H + m_i * map_h;
        let grid_top = top + MAP_HEAD;
        let head = match &m.label {
            Some(l) => format!("disk {} ({} {})", l, m.total(), r.of.counted()),
            None => format!("{} {}", m.total(), r.of.counted()),
        };
        let _ = writeln!(
            s,
            r###"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"###,
            top + 15,
            esc(&head)
        );
        let _ = writeln!(
            s,
            r###"<rect x="{LEFT}" y="{grid_top}" width="{grid_w}" height="{}" fill="#f8f8f8" stroke="#ccc"/>"###,
            nrows * row_h
        );
        // Row labels: bcc's ranges for latencies; for offsets, every
        // tenth of a second's row start (all fifty would overlap).
        for slot in lo..=hi {
            let y = grid_top + (hi - slot) * row_h;
            let (low, high) = r.rows.bounds(slot);
            let label = match r.rows {
                Rows::Log2 => format!("{low} -&gt; {high}"),
                Rows::Offsets(n) if slot % (n / 10).max(1) == 0 => format!("{low}"),
                Rows::Offsets(_) => continue,
            };
            let _ = writeln!(
                s,
                r###"<text x="{}" y="{}" text-anchor="end" fill="#333">{label}</text>"###,
                LEFT - 6,
                y + row_h - 1
            );
        }
        let _ = writeln!(
            s,
            r###"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle" fill="#333">{unit}</text>"###,
            grid_top + nrows * row_h / 2,
            grid_top + nrows * row_h / 2
        );
        let _ = writeln!(s, r###"<g class="cells">"###);
        for (c, h) in m.columns.iter().enumerate() {
            let (a, b, _) = r.columns[c];
            for slot in lo..=hi {
                let n = h.slot(slot);
                if n == 0 {
                    continue;
                }
                let (low, high) = r.rows.bounds(slot);
                let title = match r.rows {
                    Rows::Log2 => format!(
                        "{} .. {}, {low} -&gt; {high} {unit}: {n}",
                        hms_ms(a, localtime),
                        hms_ms(b, localtime)
                    ),
                    Rows::Offsets(_) => {
                        let from = a + low as i64 * NS_PER_MS;
                        let to = a + (high as i64 + 1) * NS_PER_MS;
                        format!(
                            "{} .. {}: {n} {}; flamegraph --from {} --to {}",
                            hms_ms(from, localtime),
                            hms_ms(to, localtime),
                            r.of.counted(),
                            offset_spec(r.origin_ns, from),
                            offset_spec(r.origin_ns, to)
                        )
                    }
                };
                let _ = writeln!(
                    s,
                    r###"<rect x="{}" y="{}" width="{cw}" height="{row_h}" fill="{}"><title>{title}</title></rect>"###,
                    LEFT + c * cw,
                    grid_top + (hi - slot) * row_h,
                    colour(n, max),
                );
            }
        }
        let _ = writeln!(s, "</g>");
        // The time axis, with the steps that lost events marked.
        let axis_y = grid_top + nrows * row_h;
        let every = 60usize.div_ceil(cw).max(1);
        for (c, &(a, b, lost)) in r.columns.iter().enumerate() {
            let x = LEFT + c * cw;
            if lost > 0 {
                let _ = writeln!(
                    s,
                    r###"<rect x="{x}" y="{}" width="{cw}" height="5" fill="#d00"><title>{} .. {}: {lost} {} events lost; cells may be short</title></rect>"###,
                    axis_y + 2,
                    hms_ms(a, localtime),
                    hms_ms(b, localtime),
                    r.of.name()
                );
            }
            if c % every == 0 {
                let _ = writeln!(
                    s,
                    r###"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#999"/><text x="{x}" y="{}" fill="#333">{}</text>"###,
                    axis_y + 10,
                    axis_y + 22,
                    offset_label(a, r.window.start_ns, r.step_ns)
                );
            }
        }
        let _ = writeln!(
            s,
            r###"<text x="{}" y="{}" text-anchor="end" fill="#555">time since {}</text>"###,
            LEFT + grid_w,
            axis_y + 36,
            hms_ms(r.window.start_ns, localtime)
        );
    }
    // The colour scale.
    let ly = height - 18;
    let _ = writeln!(s, r###"<text x="{LEFT}" y="{}" fill="#555">1</text>"###, ly + 9);
    for i in 0..10u64 {
        let n = if max <= 1 { 1 } else { 1 + i * (max - 1) / 9 };
        let _ = writeln!(
            s,
            r###"<rect x="{}" y="{ly}" width="16" height="10" fill="{}"><title>{n}</title></rect>"###,
            LEFT + 12 + i as usize * 16,
            colour(n, max.max(1))
        );
    }
    let _ = writeln!(
        s,
        r###"<text x="{}" y="{}" fill="#555">{max} {} per cell</text>"###,
        LEFT + 12 + 10 * 16 + 4,
        ly + 9,
        r.of.counted()
    );
    s.push_str("</svg>\n");
    s
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
                            "high": high,
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
        "scale": match r.rows { Rows::Log2 => "log2", Rows::Offsets(_) => "offset" },
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

/// `heatmap` on the command line.
#[derive(clap::Args)]
pub struct HeatmapArgs {
    /// Where to write the SVG (required unless --json).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// What to draw. Default: bio when the recording has it, else runqlat, else fileio.
    #[arg(long, value_enum, value_name = "WHAT")]
    of: Option<Of>,
    /// Length of a column (plain numbers are seconds; 100ms, 5s, 1m …). Default: the shortest of 100ms, 200ms, 500ms, 1s, 2s, 5s … that gives at most 200 columns.
    #[arg(short = 's', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    step: Option<i64>,
    /// Rows in milliseconds instead of microseconds.
    #[arg(short = 'm', long)]
    milliseconds: bool,
    /// --of bio: one map per disk.
    #[arg(short = 'D', long)]
    disks: bool,
    /// --of bio: include the time queued in the OS (as biolatency -Q).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// --of fileio: only this operation (read, write, open, fsync).
    #[arg(long, value_name = "OP")]
    op: Option<String>,
    /// --of profile: rows per second (a divisor of 1000 up to 50). Default: 50, 20 ms each, as FlameScope.
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
    /// Times of day (title, hover texts) in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for HeatmapArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let opts = HeatmapOptions {
            common: self.common.options(),
            of: self.of,
            step_ns: self.step,
            millis: self.milliseconds,
            per_disk: self.disks,
            queued: self.queued,
            op: self.op,
            rows: self.rows,
        };
        if self.output.is_none() && !opts.common.json {
            return Err(Error::Usage(
                "heatmap draws an SVG: give -o FILE for it, or --json for the cells".into(),
            ))
            .context("heatmap");
        }
        let recs = self.common.open()?;
        let r = compute(&recs, &opts).context("heatmap")?;
        if opts.common.json {
            write_json(&r, out).context("heatmap")?;
        }
        if let Some(path) = &self.output {
            std::fs::write(path, svg(&r, self.localtime))
                .with_context(|| format!("heatmap: writing {}", path.display()))?;
            let cells: usize = r
                .maps
                .iter()
                .flat_map(|m| m.columns.iter())
                .map(|h| (0..LOG2_SLOTS).filter(|&s| h.slot(s) > 0).count())
                .sum();
            writeln!(
                out.err,
                "heatmap: wrote {} ({} map{}, {} columns of {}, {cells} cells)",
                path.display(),
                r.maps.len(),
                if r.maps.len() == 1 { "" } else { "s" },
                r.columns.len(),
                format_secs(r.step_ns)
            )?;
        }
        for w in &r.warnings {
            writeln!(out.err, "{w}")?;
        }
        if !opts.common.json {
            if let Some(w) = r.loss.warning() {
                writeln!(out.err, "{w}")?;
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
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

    #[test]
    fn colours_run_from_pale_to_dark() {
        assert_eq!(colour(1, 100), "#ffeda0");
        assert_eq!(colour(100, 100), "#800026");
        assert_eq!(colour(1, 1), "#800026");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
