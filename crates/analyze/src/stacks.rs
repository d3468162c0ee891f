//! Stacks shared by `profile`, `offcputime` and `flamegraph`: reading the
//! `stacks` table, aggregating `profile`/`offcpu` rows into weighted
//! stacks, and printing them in bcc's multi-line and folded layouts.
//!
//! Frame names come only from the recording's `stacks` table (symbolized
//! by the recorder while the processes lived), so a recording analyzed on
//! another machine, after every process exited, names the same frames.
//! Stack ids are per recording, so every lookup is keyed by (recording,
//! id). Rows are grouped by their frame *names*, not ids: two stacks that
//! differ only in return offsets inside the same functions are one stack
//! in a report, as they are in a flame graph.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use ktape_format::read::{Recording, TimeRange};
use ktape_format::stacks::{LOST_STACK, TABLE as STACKS_TABLE};
use serde::Serialize;

use crate::columns;
use crate::common::{scan, Options, Window};
use crate::error::{Error, Result};
use crate::output::Out;

/// Frame names of one stack, leaf first.
pub type Frames = Arc<[Arc<str>]>;

/// Every stack of the recordings, by (recording index, stack id).
#[derive(Debug, Default)]
pub struct StackNames {
    map: HashMap<(usize, i32), Frames>,
}

impl StackNames {
    /// Reads the `stacks` tables (all of them: a stack is written once,
    /// whenever it was first seen, so no time window applies).
    pub fn read(recordings: &[Recording]) -> Result<StackNames> {
        let map = scan(
            recordings,
            STACKS_TABLE.name,
            TimeRange::default(),
            &["id", "function"],
            HashMap::new,
            |acc: &mut HashMap<(usize, i32), Frames>, unit, batch| {
                let path = &unit.segment.path;
                let ids = columns::i32s(batch, "id", path)?;
                let funcs = columns::string_lists(batch, "function", path)?;
                let mut interned: HashMap<String, Arc<str>> = HashMap::new();
                for (i, &id) in ids.iter().enumerate() {
                    if funcs.is_null(i) {
                        continue;
                    }
                    let v = funcs.value(i);
                    let s = v.as_string::<i32>();
                    let frames: Frames = (0..s.len())
                        .map(|j| {
                            let name = s.value(j);
                            interned
                                .entry(name.to_string())
                                .or_insert_with(|| Arc::from(name))
                                .clone()
                        })
                        .collect();
                    acc.insert((unit.recording, id), frames);
                }
                Ok(())
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )?;
        Ok(StackNames { map })
    }

    /// Frames of a stack reference: `None` for "no stack" (-1), a
    /// placeholder for a lost stack (-2) or an id the table lacks.
    pub fn frames(&self, rec: usize, id: i32, missed: &'static str) -> Option<Vec<Arc<str>>> {
        if id == ktape_format::stacks::NO_STACK {
            return None;
        }
        if id <= LOST_STACK {
            return Some(vec![Arc::from(missed)]);
        }
        match self.map.get(&(rec, id)) {
            Some(f) => Some(f.to_vec()),
            None => Some(vec![Arc::from(missed)]),
        }
    }

    /// Whether a reference names a stack the recording should hold but
    /// does not: an id the `stacks` table lacks, or a negative id that
    /// means nothing. Lost stacks (-2) are not: the recorder counted them
    /// in the `loss` table, which the report shows.
    pub fn dangling(&self, rec: usize, id: i32) -> bool {
        id < LOST_STACK || (id >= 0 && !self.map.contains_key(&(rec, id)))
    }

    /// The warnings for rows whose stacks the recordings lack, per
    /// recording (`dangling`: rows by recording index), with `what` the
    /// rows' name (`samples`, `off-CPU episodes`).
    pub fn dangling_warnings(
        recordings: &[Recording],
        dangling: &BTreeMap<usize, u64>,
        what: &str,
    ) -> Vec<String> {
        let shown = "they show as [Missed Kernel Stack] or [Missed User Stack]";
        dangling
            .iter()
            .filter(|(_, &n)| n > 0)
            .filter_map(|(&i, &n)| {
                let rec = recordings.get(i)?;
                Some(if rec.has_table(STACKS_TABLE.name) {
                    format!(
                        "WARNING: {n} {what} of {} refer to stacks missing from its `stacks` table: {shown}",
                        rec.root.display()
                    )
                } else {
                    crate::tables::missing_warning(
                        STACKS_TABLE.name,
                        &[rec],
                        &format!("{n} {what} refer to stacks it would hold: {shown}"),
                    )
                })
            })
            .collect()
    }
}

/// What a raw stack weighs: the report's value (samples, µs) and the
/// rows that went into it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weight {
    pub value: u64,
    pub rows: u64,
}

impl Weight {
    /// Adds another weight (saturating: the µs of damaged durations can
    /// sum beyond u64).
    pub fn add(&mut self, other: Weight) {
        self.value = self.value.saturating_add(other.value);
        self.rows = self.rows.saturating_add(other.rows);
    }
}

/// Which part of the stacks to show (bcc's `-U`, `-K`, `-d`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackParts {
    /// `-U`: user stacks only.
    pub user_only: bool,
    /// `-K`: kernel stacks only.
    pub kernel_only: bool,
    /// `-d`: a `--` (folded: `-`) between kernel and user frames.
    pub delimited: bool,
}

/// One aggregated stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stack {
    /// Process id (`profile`) or thread id (`offcputime`), as bcc shows it.
    pub pid: i32,
    pub comm: String,
    /// Kernel frames, leaf first (empty when none or not shown).
    pub kernel: Vec<String>,
    /// User frames, leaf first.
    pub user: Vec<String>,
    /// Whether both stacks are present (where `-d` puts its delimiter).
    #[serde(skip)]
    pub both: bool,
    /// Samples (`profile`) or microseconds off CPU (`offcputime`).
    pub value: u64,
}

impl Stack {
    /// The folded line's frames: comm, user root → leaf, kernel root →
    /// leaf (bcc's `-f` order).
    pub fn folded_frames(&self, parts: StackParts) -> Vec<&str> {
        let mut v = vec![self.comm.as_str()];
        v.extend(self.user.iter().rev().map(String::as_str));
        if parts.delimited && self.both {
            v.push("-");
        }
        v.extend(self.kernel.iter().rev().map(String::as_str));
        v
    }

    /// The folded line without its count. `;` separates frames and a
    /// line ends at a newline, so a frame name holding either (a damaged
    /// `stacks` table) would cut the line into others with wrong counts:
    /// `;` becomes `:` and line breaks a space.
    pub fn folded(&self, parts: StackParts) -> String {
        self.folded_frames(parts)
            .iter()
            .map(|f| f.replace(';', ":").replace(['\n', '\r'], " "))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Raw per-row key before names are looked up.
pub type RawKey = (usize, i32, Arc<str>, i32, i32);

/// Turns raw (recording, pid, comm, kstack, ustack) → weights into
/// named stacks, merged by names, sorted by value ascending (bcc prints
/// the hottest last), ties by folded line; and the rows, by recording,
/// whose shown stacks the recording lacks.
pub fn name_stacks(
    raw: HashMap<RawKey, Weight>,
    names: &StackNames,
    parts: StackParts,
) -> (Vec<Stack>, BTreeMap<usize, u64>) {
    // (pid, comm, kernel frames, user frames, both shown) → value.
    type Named = (i32, Arc<str>, Vec<Arc<str>>, Vec<Arc<str>>, bool);
    let mut merged: HashMap<Named, u64> = HashMap::new();
    let mut dangling: BTreeMap<usize, u64> = BTreeMap::new();
    for ((rec, pid, comm, k, u), w) in raw {
        let v = w.value;
        if (!parts.user_only && names.dangling(rec, k))
            || (!parts.kernel_only && names.dangling(rec, u))
        {
            let n = dangling.entry(rec).or_default();
            *n = n.saturating_add(w.rows);
        }
        let kernel = if parts.user_only {
            None
        } else {
            names.frames(rec, k, "[Missed Kernel Stack]")
        };
        let user = if parts.kernel_only {
            None
        } else {
            names.frames(rec, u, "[Missed User Stack]")
        };
        let both = kernel.is_some() && user.is_some();
        let key = (
            pid,
            comm,
            kernel.unwrap_or_default(),
            user.unwrap_or_default(),
            both,
        );
        let e = merged.entry(key).or_default();
        *e = e.saturating_add(v);
    }
    let mut out: Vec<Stack> = merged
        .into_iter()
        .map(|((pid, comm, k, u, both), value)| Stack {
            pid,
            comm: comm.to_string(),
            kernel: k.iter().map(|s| s.to_string()).collect(),
            user: u.iter().map(|s| s.to_string()).collect(),
            both,
            value,
        })
        .collect();
    out.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| a.folded(parts).cmp(&b.folded(parts)))
            .then(a.pid.cmp(&b.pid))
    });
    (out, dangling)
}

/// Prints stacks in bcc's multi-line layout: kernel frames leaf first,
/// `--` with `-d`, user frames, `-  comm (pid)`, the value, a blank line.
pub fn write_multiline(stacks: &[Stack], parts: StackParts, out: &mut dyn Write) -> Result<()> {
    for s in stacks {
        for f in &s.kernel {
            writeln!(out, "    {f}")?;
        }
        if parts.delimited && s.both {
            writeln!(out, "    --")?;
        }
        for f in &s.user {
            writeln!(out, "    {f}")?;
        }
        writeln!(out, "    {:<16} {} ({})", "-", s.comm, s.pid)?;
        writeln!(out, "        {}\n", s.value)?;
    }
    Ok(())
}

/// Prints stacks as folded lines (`comm;user…;kernel… value`).
pub fn write_folded(stacks: &[Stack], parts: StackParts, out: &mut dyn Write) -> Result<()> {
    for s in stacks {
        writeln!(out, "{} {}", s.folded(parts), s.value)?;
    }
    Ok(())
}

/// Checks `-U`/`-K` are not both given.
pub fn check_parts(parts: StackParts) -> Result<()> {
    if parts.user_only && parts.kernel_only {
        return Err(Error::Usage(
            "-U (user stacks only) and -K (kernel stacks only) exclude each other".into(),
        ));
    }
    Ok(())
}

/// JSON form of a stack report.
#[derive(Debug, Serialize)]
pub struct StacksJson<'a> {
    pub from: String,
    pub to: String,
    pub unit: &'static str,
    pub stacks: &'a [Stack],
    pub loss: serde_json::Value,
    /// What the input made different (missing tables and stacks).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

/// Writes a report's stacks as text or JSON, with the notes every stack
/// report shares (warnings, unfinished segments, loss).
#[allow(clippy::too_many_arguments)]
pub fn write_report(
    recordings: &[Recording],
    table: &str,
    warnings: &[String],
    stacks: &[Stack],
    window: &Window,
    loss: &crate::loss::Loss,
    common: &Options,
    folded: bool,
    parts: StackParts,
    unit: &'static str,
    out: &mut Out<'_>,
) -> Result<()> {
    if common.json {
        out.json(&StacksJson {
            from: crate::time::format_rfc3339(window.start_ns),
            to: crate::time::format_rfc3339(window.end_ns),
            unit,
            stacks,
            loss: loss.to_json(),
            warnings,
        })?;
    } else if folded {
        write_folded(stacks, parts, out.out)?;
    } else {
        write_multiline(stacks, parts, out.out)?;
    }
    if let Some(w) = loss.warning() {
        out.warn(&w)?;
    }
    crate::common::table_notes(out, recordings, warnings, &[table, STACKS_TABLE.name])?;
    if stacks.is_empty() {
        out.warn("note: no stacks match the window and filters")?;
    }
    Ok(())
}

/// -U/-K/-d, shared by the stack reports.
#[derive(clap::Args)]
pub struct PartsArgs {
    /// User stacks only.
    #[arg(short = 'U', long = "user-stacks-only", conflicts_with = "kernel_only")]
    user_only: bool,
    /// Kernel stacks only.
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_only: bool,
    /// A delimiter between kernel and user frames (`--`; `-` when folded).
    #[arg(short = 'd', long)]
    delimited: bool,
}

impl PartsArgs {
    /// The library's stack parts.
    pub fn parts(&self) -> StackParts {
        StackParts {
            user_only: self.user_only,
            kernel_only: self.kernel_only,
            delimited: self.delimited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folded_line_stays_one_line() {
        let s = Stack {
            pid: 1,
            comm: "a;b".into(),
            kernel: vec!["k\nk".into()],
            user: vec!["u;u\r\nx".into()],
            both: true,
            value: 3,
        };
        let parts = StackParts {
            delimited: true,
            ..Default::default()
        };
        assert_eq!(s.folded(parts), "a:b;u:u  x;-;k k");
    }
}
