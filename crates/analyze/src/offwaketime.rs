//! `offwaketime`: time blocked, by the stack a task blocked in and the
//! stack of the task that woke it (bcc offwaketime); and the fold of
//! `wakeup` rows that `wakeuptime` and `flamegraph --type offwake` share.
//!
//! Each `wakeup` row is one wakeup of a blocked task, paired in the kernel
//! with its switch-out; rows are weighted by their blocked time in µs
//! (truncated per wakeup, as bcc sums per-event microseconds) and grouped
//! by (waker, woken task, their four stacks) in parallel, then named from
//! the recording's `stacks` table and merged by frame names.
//!
//! Where it differs from bcc: the time is switch-out to wakeup
//! (`blocked_ns`), without the run-queue wait between the wakeup and the
//! task running again that bcc's switch-out to switch-in includes (that
//! wait is the scheduler's, not the waker's: runqlat shows it); frames
//! are names without addresses; `-p`/`-t` take one id.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use arrow_array::RecordBatch;
use ktape_format::read::Recording;
use ktape_format::stacks::{NO_STACK, TABLE as STACKS_TABLE};
use ktape_format::wakeup::TABLE;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{scan, Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::output::Out;
use crate::stacks::{check_parts, StackNames, StackParts, Weight};
use crate::tables::{self, Needs};

/// Which woken threads count (bcc's `-u`/`-k`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Threads {
    #[default]
    All,
    /// `-u`: user threads only.
    User,
    /// `-k`: kernel threads only.
    Kernel,
}

/// Which wakeups count. The default: every one recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Select {
    /// `-t`: only this woken thread.
    pub tid: Option<i32>,
    pub threads: Threads,
    /// `-m`: only wakeups after at least this many µs blocked.
    pub min_us: Option<u64>,
    /// `-M`: only wakeups after at most this many µs blocked.
    pub max_us: Option<u64>,
    /// `--state`: 0 keeps tasks that were runnable, otherwise a bitmask
    /// of states to keep (2 = uninterruptible), as bcc.
    pub state: Option<i64>,
}

/// What a report keeps of each wakeup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// wakeuptime: waker comm, its kernel stack, woken comm.
    Wakeuptime,
    /// offwaketime and the offwake flame graph: both tasks and the
    /// stacks `parts` shows.
    Offwake(StackParts),
}

/// Options of `offwaketime`.
#[derive(Debug, Clone, Default)]
pub struct OffwakeOptions {
    pub common: Options,
    pub select: Select,
    pub parts: StackParts,
    /// `-f`: folded lines.
    pub folded: bool,
}

/// One (waker, woken task) pair of stacks with its blocked time. Frames
/// are leaf first; stacks a view leaves out are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub waker_pid: i32,
    pub waker_comm: String,
    pub waker_kernel: Vec<String>,
    pub waker_user: Vec<String>,
    /// The woken thread.
    pub pid: i32,
    pub comm: String,
    /// The stacks it blocked in.
    pub kernel: Vec<String>,
    pub user: Vec<String>,
    /// Microseconds blocked.
    pub value: u64,
}

/// The pairs of a window, with what they cover.
#[derive(Debug)]
pub struct PairReport {
    pub pairs: Vec<Pair>,
    pub window: Window,
    pub loss: Loss,
    /// Wakeups that went into `pairs`.
    pub rows: u64,
    pub warnings: Vec<String>,
}

/// (recording, tid, comm, kstack, ustack, waker tid, waker comm, waker
/// kstack, waker ustack), as ids.
type RawKey = (usize, i32, Arc<str>, i32, i32, i32, Arc<str>, i32, i32);
/// Raw pairs, rows counted, rows left out for a negative blocked time.
type Acc = (HashMap<RawKey, Weight>, u64, u64);

const COLS: &[&str] = &[
    "ts",
    "pid",
    "comm",
    "kthread",
    "state",
    "blocked_ns",
    "kstack_id",
    "ustack_id",
    "waker_pid",
    "waker_comm",
    "waker_kstack_id",
    "waker_ustack_id",
];

/// Folds the `wakeup` rows of `window` into weighted raw pairs, keeping of
/// each what `view` shows.
fn aggregate(
    recordings: &[Recording],
    sel: &Select,
    view: View,
    common: &Options,
    window: &Window,
) -> Result<Acc> {
    let mut cols = COLS.to_vec();
    common.filter.add_columns(&mut cols);
    let range = window.range;
    let (pids, tk, tu, wk, wu) = match view {
        View::Wakeuptime => (false, false, false, true, false),
        View::Offwake(p) => (true, !p.user_only, !p.kernel_only, !p.user_only, !p.kernel_only),
    };
    let keep = |on: bool, id: i32| if on { id } else { NO_STACK };
    scan(
        recordings,
        TABLE.name,
        range,
        &cols,
        || (HashMap::new(), 0u64, 0u64),
        |acc: &mut Acc, unit, batch: &RecordBatch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let kthread = columns::bools(batch, "kthread", path)?;
            let state = columns::i64s(batch, "state", path)?;
            let blocked = columns::i64s(batch, "blocked_ns", path)?;
            let k = columns::i32s(batch, "kstack_id", path)?;
            let u = columns::i32s(batch, "ustack_id", path)?;
            let wpid = columns::i32s(batch, "waker_pid", path)?;
            let wcomm = Strings::from_batch(batch, "waker_comm", path)?;
            let wks = columns::i32s(batch, "waker_kstack_id", path)?;
            let wus = columns::i32s(batch, "waker_ustack_id", path)?;
            let f = common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !f.keep(i) {
                    continue;
                }
                if sel.tid.is_some_and(|t| t != pid[i]) {
                    continue;
                }
                let kt = kthread.value(i);
                match sel.threads {
                    Threads::User if kt => continue,
                    Threads::Kernel if !kt => continue,
                    _ => {}
                }
                match sel.state {
                    Some(0) if state[i] != 0 => continue,
                    Some(s) if s != 0 && state[i] & s == 0 => continue,
                    _ => {}
                }
                // A negative time is a damaged row, not 0 µs: left out,
                // counted, and said.
                if blocked[i] < 0 {
                    acc.2 += 1;
                    continue;
                }
                let us = (blocked[i] / 1000) as u64;
                if sel.min_us.is_some_and(|m| us < m) || sel.max_us.is_some_and(|m| us > m) {
                    continue;
                }
                let key = (
                    unit.recording,
                    if pids { pid[i] } else { 0 },
                    comm.values[comm.codes[i] as usize].clone(),
                    keep(tk, k[i]),
                    keep(tu, u[i]),
                    if pids { wpid[i] } else { 0 },
                    wcomm.values[wcomm.codes[i] as usize].clone(),
                    keep(wk, wks[i]),
                    keep(wu, wus[i]),
                );
                acc.0
                    .entry(key)
                    .or_default()
                    .add(Weight { value: us, rows: 1 });
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

/// Names the raw pairs' stacks and merges pairs whose names agree, sorted
/// by value ascending (bcc prints the largest last), ties by folded line;
/// and the rows, by recording, whose shown stacks the recording lacks.
fn name_pairs(
    raw: HashMap<RawKey, Weight>,
    names: &StackNames,
) -> (Vec<Pair>, BTreeMap<usize, u64>) {
    type Named = (i32, Arc<str>, [Vec<Arc<str>>; 4], i32, Arc<str>);
    let mut merged: HashMap<Named, u64> = HashMap::new();
    let mut dangling: BTreeMap<usize, u64> = BTreeMap::new();
    for ((rec, pid, comm, k, u, wpid, wcomm, wk, wu), w) in raw {
        if [k, u, wk, wu].iter().any(|&id| names.dangling(rec, id)) {
            let n = dangling.entry(rec).or_default();
            *n = n.saturating_add(w.rows);
        }
        let kernel = |id| names.frames(rec, id, "[Missed Kernel Stack]").unwrap_or_default();
        let user = |id| names.frames(rec, id, "[Missed User Stack]").unwrap_or_default();
        let key = (pid, comm, [kernel(k), user(u), kernel(wk), user(wu)], wpid, wcomm);
        let e = merged.entry(key).or_default();
        *e = e.saturating_add(w.value);
    }
    let strings = |v: &[Arc<str>]| v.iter().map(|s| s.to_string()).collect();
    let mut out: Vec<Pair> = merged
        .into_iter()
        .map(|((pid, comm, [k, u, wk, wu], wpid, wcomm), value)| Pair {
            waker_pid: wpid,
            waker_comm: wcomm.to_string(),
            waker_kernel: strings(&wk),
            waker_user: strings(&wu),
            pid,
            comm: comm.to_string(),
            kernel: strings(&k),
            user: strings(&u),
            value,
        })
        .collect();
    let parts = StackParts {
        delimited: true,
        ..Default::default()
    };
    out.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| folded(a, parts).cmp(&folded(b, parts)))
            .then((a.pid, a.waker_pid).cmp(&(b.pid, b.waker_pid)))
    });
    (out, dangling)
}

/// The pairs of the recordings' window.
pub fn compute(
    recordings: &[Recording],
    sel: &Select,
    view: View,
    common: &Options,
) -> Result<PairReport> {
    if let View::Offwake(p) = view {
        check_parts(p)?;
    }
    if let (Some(lo), Some(hi)) = (sel.min_us, sel.max_us) {
        if lo > hi {
            return Err(Error::Usage(format!(
                "-m ({lo} us) is above -M ({hi} us): nothing could match"
            )));
        }
    }
    let window = Window::resolve(common, recordings)?;
    compute_in(recordings, sel, view, common, window)
}

/// [`compute`] over a given window.
pub fn compute_in(
    recordings: &[Recording],
    sel: &Select,
    view: View,
    common: &Options,
    window: Window,
) -> Result<PairReport> {
    let (raw, rows, negative) = aggregate(recordings, sel, view, common, &window)?;
    let names = StackNames::read(recordings)?;
    let loss = Loss::read(recordings, TABLE.family, window.range)?;
    let (pairs, dangling) = name_pairs(raw, &names);
    let mut warnings = StackNames::dangling_warnings(recordings, &dangling, "wakeups");
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} wakeups with a negative blocked_ns were left out (damaged rows)"
        ));
    }
    Ok(PairReport {
        pairs,
        window,
        loss,
        rows,
        warnings,
    })
}

/// [`compute`], after checking the tables: their warnings come first.
pub fn compute_checked(
    recordings: &[Recording],
    sel: &Select,
    view: View,
    common: &Options,
) -> Result<PairReport> {
    let mut warnings = tables::check(recordings, &Needs::one(TABLE.name))?;
    let mut r = compute(recordings, sel, view, common)?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    Ok(r)
}

/// A frame name fit for a folded line: `;` separates frames and a line
/// ends at a newline, so a name holding either (a damaged `stacks` table)
/// would cut the line into others with wrong counts.
pub fn clean(f: &str) -> String {
    f.replace(';', ":").replace(['\n', '\r'], " ")
}

/// bcc's folded offwake line without its value: the woken comm, the
/// blocked stack root to leaf (user, then kernel), `--`, the waker's
/// stack leaf to root (kernel, then user), the waker's comm; with `-d` a
/// `-` between the kernel and user part of a stack that has both.
pub fn folded(p: &Pair, parts: StackParts) -> String {
    let both = |k: &[String], u: &[String]| parts.delimited && !k.is_empty() && !u.is_empty();
    let mut v: Vec<&str> = vec![&p.comm];
    v.extend(p.user.iter().rev().map(String::as_str));
    if both(&p.kernel, &p.user) {
        v.push("-");
    }
    v.extend(p.kernel.iter().rev().map(String::as_str));
    v.push("--");
    v.extend(p.waker_kernel.iter().map(String::as_str));
    if both(&p.waker_kernel, &p.waker_user) {
        v.push("-");
    }
    v.extend(p.waker_user.iter().map(String::as_str));
    v.push(&p.waker_comm);
    v.iter().map(|f| clean(f)).collect::<Vec<_>>().join(";")
}

/// Prints pairs in bcc's multi-line layout: `waker:` with its comm and
/// tid, the waker's stack root to leaf (user, then kernel), `--`, the
/// blocked stack leaf to root (kernel, then user), `target:`, the µs.
pub fn write_multiline(pairs: &[Pair], parts: StackParts, out: &mut dyn Write) -> Result<()> {
    let delim = |k: &[String], u: &[String]| parts.delimited && !k.is_empty() && !u.is_empty();
    for p in pairs {
        writeln!(out, "    {:<16} {} {}", "waker:", p.waker_comm, p.waker_pid)?;
        for f in p.waker_user.iter().rev() {
            writeln!(out, "    {f}")?;
        }
        if delim(&p.waker_kernel, &p.waker_user) {
            writeln!(out, "    -")?;
        }
        for f in p.waker_kernel.iter().rev() {
            writeln!(out, "    {f}")?;
        }
        writeln!(out, "    {:<16} --", "--")?;
        for f in &p.kernel {
            writeln!(out, "    {f}")?;
        }
        if delim(&p.kernel, &p.user) {
            writeln!(out, "    -")?;
        }
        for f in &p.user {
            writeln!(out, "    {f}")?;
        }
        writeln!(out, "    {:<16} {} {}", "target:", p.comm, p.pid)?;
        writeln!(out, "        {}\n", p.value)?;
    }
    Ok(())
}

/// JSON form of a pair report.
#[derive(Debug, Serialize)]
pub struct PairsJson<'a> {
    pub from: String,
    pub to: String,
    pub unit: &'static str,
    pub pairs: &'a [Pair],
    pub loss: serde_json::Value,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

/// Writes a pair report as text (`text`) or JSON, with the notes every
/// stack report shares (warnings, unfinished segments, loss).
pub fn write_report(
    recordings: &[Recording],
    r: &PairReport,
    common: &Options,
    out: &mut Out<'_>,
    text: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    if common.json {
        out.json(&PairsJson {
            from: crate::time::format_rfc3339(r.window.start_ns),
            to: crate::time::format_rfc3339(r.window.end_ns),
            unit: "us",
            pairs: &r.pairs,
            loss: r.loss.to_json(),
            warnings: &r.warnings,
        })?;
    } else {
        text(out.out)?;
    }
    if let Some(w) = r.loss.warning() {
        out.warn(&w)?;
    }
    crate::common::table_notes(out, recordings, &r.warnings, &[TABLE.name, STACKS_TABLE.name])?;
    if r.pairs.is_empty() {
        out.warn("note: no wakeups match the window and filters")?;
    }
    Ok(())
}

/// Runs `offwaketime`.
pub fn run(recordings: &[Recording], opts: &OffwakeOptions, out: &mut Out<'_>) -> Result<()> {
    let view = View::Offwake(opts.parts);
    let r = compute_checked(recordings, &opts.select, view, &opts.common)?;
    write_report(recordings, &r, &opts.common, out, |w| {
        if opts.folded {
            for p in &r.pairs {
                writeln!(w, "{} {}", folded(p, opts.parts), p.value)?;
            }
            Ok(())
        } else {
            write_multiline(&r.pairs, opts.parts, w)
        }
    })
}

/// `-t`, `-u`/`-k`, `-m`/`-M`, shared by wakeuptime and offwaketime.
#[derive(clap::Args)]
pub struct SelectArgs {
    /// Only wakeups of this thread id.
    #[arg(short = 't', long = "tid", value_name = "TID")]
    tid: Option<i32>,
    /// Only wakeups of user threads (no kernel threads).
    #[arg(short = 'u', long = "user-threads-only", conflicts_with = "kernel_threads")]
    user_threads: bool,
    /// Only wakeups of kernel threads (no user threads).
    #[arg(short = 'k', long = "kernel-threads-only")]
    kernel_threads: bool,
    /// Only wakeups after at least this many microseconds blocked.
    #[arg(short = 'm', long = "min-block-time", value_name = "US")]
    min_us: Option<u64>,
    /// Only wakeups after at most this many microseconds blocked.
    #[arg(short = 'M', long = "max-block-time", value_name = "US")]
    max_us: Option<u64>,
}

impl SelectArgs {
    /// The library's selection (`state`: `--state` where a report has it).
    pub fn select(&self, state: Option<i64>) -> Select {
        Select {
            tid: self.tid,
            threads: match (self.user_threads, self.kernel_threads) {
                (true, _) => Threads::User,
                (_, true) => Threads::Kernel,
                _ => Threads::All,
            },
            min_us: self.min_us,
            max_us: self.max_us,
            state,
        }
    }
}

/// `offwaketime` on the command line.
#[derive(clap::Args)]
pub struct OffwaketimeArgs {
    /// Folded output (`target;blocked stack;--;waker stack;waker total_us`), for flame graph tools.
    #[arg(short = 'f', long)]
    folded: bool,
    /// Only this state of the woken task at switch-out: a bitmask (1 interruptible, 2 uninterruptible).
    #[arg(long, value_name = "STATE")]
    state: Option<i64>,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    parts: crate::stacks::PartsArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for OffwaketimeArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = OffwakeOptions {
            common: self.common.options(),
            select: self.select.select(self.state),
            parts: self.parts.parts(),
            folded: self.folded,
        };
        run(&recs, &opts, out).context("offwaketime")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> Pair {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Pair {
            waker_pid: 2,
            waker_comm: "w".into(),
            waker_kernel: s(&["try_to_wake_up", "pipe_write"]),
            waker_user: s(&["write", "main"]),
            pid: 1,
            comm: "t".into(),
            kernel: s(&["schedule", "pipe_read"]),
            user: s(&["read", "main"]),
            value: 5,
        }
    }

    #[test]
    fn folded_is_bcc_order() {
        let parts = StackParts::default();
        assert_eq!(
            folded(&pair(), parts),
            "t;main;read;pipe_read;schedule;--;try_to_wake_up;pipe_write;write;main;w"
        );
        let d = StackParts {
            delimited: true,
            ..parts
        };
        assert_eq!(
            folded(&pair(), d),
            "t;main;read;-;pipe_read;schedule;--;try_to_wake_up;pipe_write;-;write;main;w"
        );
    }

    #[test]
    fn multiline_is_bcc_layout() {
        let mut v = Vec::new();
        write_multiline(&[pair()], StackParts::default(), &mut v).unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "    waker:           w 2\n    main\n    write\n    pipe_write\n    try_to_wake_up\n    --               --\n    schedule\n    pipe_read\n    read\n    main\n    target:          t 1\n        5\n\n"
        );
    }
}
