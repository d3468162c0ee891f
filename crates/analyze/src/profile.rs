//! `profile` and `offcputime`: where the CPU time went, and where tasks
//! waited, as stacks (bcc's profile and offcputime layouts).
//!
//! Both fold rows of their table (`profile`: one sample each;
//! `offcpu`: one blocked episode each, weighted by its duration in µs, as
//! bcc sums per-episode microseconds) into counts per (process or thread,
//! comm, kernel stack, user stack) in parallel, then name the stacks from
//! the recording's `stacks` table.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use ktape_format::read::Recording;
use ktape_format::offcpu::TABLE as OFFCPU_TABLE;
use ktape_format::profile::TABLE as PROFILE_TABLE;

use crate::columns::{self, Strings};
use crate::common::{scan, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::stacks::{
    check_parts, name_stacks, write_report, RawKey, Stack, StackNames, StackParts, Weight,
};
use crate::tables::{self, Needs};

/// Options of `profile`. The default prints every sample's stacks in
/// bcc's multi-line layout.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    pub common: Options,
    /// `-U`, `-K`, `-d`.
    pub parts: StackParts,
    /// `-f`: folded lines.
    pub folded: bool,
}

/// Options of `offcputime`. Default: every episode, all states.
#[derive(Debug, Clone, Default)]
pub struct OffcpuOptions {
    pub common: Options,
    pub parts: StackParts,
    pub folded: bool,
    /// `-m`: only episodes of at least this many µs.
    pub min_us: Option<u64>,
    /// `-M`: only episodes of at most this many µs.
    pub max_us: Option<u64>,
    /// `--state`: 0 keeps preempted (runnable) episodes, otherwise a
    /// bitmask of states to keep (2 = uninterruptible), as bcc.
    pub state: Option<i64>,
}

/// Aggregated stacks with what they cover.
#[derive(Debug)]
pub struct StackReport {
    pub stacks: Vec<Stack>,
    pub window: Window,
    pub loss: Loss,
    /// Rows that went into `stacks` (samples or episodes).
    pub rows: u64,
    /// What the input made different (stacks the recording lacks,
    /// damaged durations), for stderr and the JSON.
    pub warnings: Vec<String>,
}

/// Which table and how a row is weighted.
pub enum Source {
    /// `profile`: one per sample, grouped by process.
    Cpu,
    /// `offcpu`: µs off CPU, grouped by thread, with the bounds.
    Offcpu {
        min_us: Option<u64>,
        max_us: Option<u64>,
        state: Option<i64>,
    },
}

/// Raw stacks, rows counted, and rows left out for a negative duration.
type Acc = (HashMap<RawKey, Weight>, u64, u64);

/// Folds a table's rows into weighted raw stacks; also returns the rows
/// counted and those left out for a negative duration.
pub fn aggregate(
    recordings: &[Recording],
    source: &Source,
    common: &Options,
    window: &Window,
) -> Result<Acc> {
    let (table, extra): (&str, &[&str]) = match source {
        Source::Cpu => (PROFILE_TABLE.name, &[]),
        Source::Offcpu { .. } => (OFFCPU_TABLE.name, &["pid", "state", "duration_ns"]),
    };
    let mut cols: Vec<&str> = vec!["ts", "tgid", "comm", "kstack_id", "ustack_id"];
    cols.extend_from_slice(extra);
    common.filter.add_columns(&mut cols);
    let range = window.range;
    scan(
        recordings,
        table,
        range,
        &cols,
        || (HashMap::new(), 0u64, 0u64),
        |acc: &mut Acc, unit, batch: &RecordBatch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let k = columns::i32s(batch, "kstack_id", path)?;
            let u = columns::i32s(batch, "ustack_id", path)?;
            let f = common.filter.prepare(batch, path)?;
            let off = match source {
                Source::Cpu => None,
                Source::Offcpu { .. } => Some((
                    columns::i32s(batch, "pid", path)?,
                    columns::i64s(batch, "state", path)?,
                    columns::i64s(batch, "duration_ns", path)?,
                )),
            };
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !f.keep(i) {
                    continue;
                }
                let (pid, value) = match (source, &off) {
                    (
                        Source::Offcpu {
                            min_us,
                            max_us,
                            state,
                        },
                        Some((pid, st, dur)),
                    ) => {
                        // A negative duration is a damaged row, not 0 µs:
                        // left out, counted, and said.
                        if dur[i] < 0 {
                            acc.2 += 1;
                            continue;
                        }
                        let us = (dur[i] / 1000) as u64;
                        if min_us.is_some_and(|m| us < m) || max_us.is_some_and(|m| us > m) {
                            continue;
                        }
                        match state {
                            Some(0) if st[i] != 0 => continue,
                            Some(s) if *s != 0 && st[i] & s == 0 => continue,
                            _ => {}
                        }
                        (pid[i], us)
                    }
                    _ => (tgid[i], 1),
                };
                let c: Arc<str> = comm.values[comm.codes[i] as usize].clone();
                acc.0
                    .entry((unit.recording, pid, c, k[i], u[i]))
                    .or_default()
                    .add(Weight { value, rows: 1 });
                acc.1 += 1;
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b.0 {
                a.0.entry(k).or_default().add(v);
            }
            a.1 += b.1;
            a.2 += b.2;
            a
        },
    )
}

/// Computes a stack report.
pub fn compute(
    recordings: &[Recording],
    source: &Source,
    common: &Options,
    parts: StackParts,
) -> Result<StackReport> {
    check_parts(parts)?;
    let window = Window::resolve(common, recordings)?;
    compute_in(recordings, source, common, parts, window)
}

/// [`compute`] over a given window.
pub fn compute_in(
    recordings: &[Recording],
    source: &Source,
    common: &Options,
    parts: StackParts,
    window: Window,
) -> Result<StackReport> {
    let (raw, rows, negative) = aggregate(recordings, source, common, &window)?;
    let names = StackNames::read(recordings)?;
    let (family, what) = match source {
        Source::Cpu => (PROFILE_TABLE.family, "samples"),
        Source::Offcpu { .. } => (OFFCPU_TABLE.family, "off-CPU episodes"),
    };
    let loss = Loss::read(recordings, family, window.range)?;
    let (stacks, dangling) = name_stacks(raw, &names, parts);
    let mut warnings = StackNames::dangling_warnings(recordings, &dangling, what);
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} {what} with a negative duration_ns were left out (damaged rows)"
        ));
    }
    Ok(StackReport {
        stacks,
        window,
        loss,
        rows,
        warnings,
    })
}

/// The table of a source.
pub fn table(source: &Source) -> &'static str {
    match source {
        Source::Cpu => PROFILE_TABLE.name,
        Source::Offcpu { .. } => OFFCPU_TABLE.name,
    }
}

/// [`compute`], after checking the tables ([`tables::check`]): the
/// table warnings come first in the report's warnings.
pub fn compute_checked(
    recordings: &[Recording],
    source: &Source,
    common: &Options,
    parts: StackParts,
) -> Result<StackReport> {
    let mut warnings = tables::check(recordings, &Needs::one(table(source)))?;
    let mut r = compute(recordings, source, common, parts)?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    Ok(r)
}

/// Runs `profile`.
pub fn run(recordings: &[Recording], opts: &ProfileOptions, out: &mut Out<'_>) -> Result<()> {
    let r = compute_checked(recordings, &Source::Cpu, &opts.common, opts.parts)?;
    write_report(
        recordings,
        PROFILE_TABLE.name,
        &r.warnings,
        &r.stacks,
        &r.window,
        &r.loss,
        &opts.common,
        opts.folded,
        opts.parts,
        "samples",
        out,
    )
}

/// Runs `offcputime`.
pub fn run_offcpu(recordings: &[Recording], opts: &OffcpuOptions, out: &mut Out<'_>) -> Result<()> {
    if let (Some(lo), Some(hi)) = (opts.min_us, opts.max_us) {
        if lo > hi {
            return Err(Error::Usage(format!(
                "-m ({lo} us) is above -M ({hi} us): nothing could match"
            )));
        }
    }
    let source = Source::Offcpu {
        min_us: opts.min_us,
        max_us: opts.max_us,
        state: opts.state,
    };
    let r = compute_checked(recordings, &source, &opts.common, opts.parts)?;
    write_report(
        recordings,
        OFFCPU_TABLE.name,
        &r.warnings,
        &r.stacks,
        &r.window,
        &r.loss,
        &opts.common,
        opts.folded,
        opts.parts,
        "us",
        out,
    )
}

/// `profile` on the command line.
#[derive(clap::Args)]
pub struct ProfileArgs {
    /// Folded output (`comm;user frames;kernel frames count`), for flame graph tools.
    #[arg(short = 'f', long)]
    folded: bool,
    #[command(flatten)]
    parts: crate::stacks::PartsArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for ProfileArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = ProfileOptions {
            common: self.common.options(),
            parts: self.parts.parts(),
            folded: self.folded,
        };
        run(&recs, &opts, out).context("profile")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// `offcputime` on the command line.
#[derive(clap::Args)]
pub struct OffcputimeArgs {
    /// Folded output (`comm;user frames;kernel frames total_us`).
    #[arg(short = 'f', long)]
    folded: bool,
    /// Only episodes of at least this many microseconds.
    #[arg(short = 'm', long = "min-block-time", value_name = "US")]
    min_us: Option<u64>,
    /// Only episodes of at most this many microseconds.
    #[arg(short = 'M', long = "max-block-time", value_name = "US")]
    max_us: Option<u64>,
    /// Only this task state at switch-out: 0 = preempted (runnable), else a bitmask (1 interruptible, 2 uninterruptible).
    #[arg(long, value_name = "STATE")]
    state: Option<i64>,
    #[command(flatten)]
    parts: crate::stacks::PartsArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for OffcputimeArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = OffcpuOptions {
            common: self.common.options(),
            parts: self.parts.parts(),
            folded: self.folded,
            min_us: self.min_us,
            max_us: self.max_us,
            state: self.state,
        };
        run_offcpu(&recs, &opts, out).context("offcputime")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
