//! Cross-checks: the rows of a recording against the kernel's own exact
//! counters, which the recorder stored in its `counters` table.
//!
//! BPF can count only the events its programs saw; the kernel's counters
//! count every event. Their increase between two reads is compared with
//! the rows whose `ts` falls between the same two reads:
//!
//! | table | kernel counter | rows |
//! | --- | --- | --- |
//! | `bio` | `/proc/diskstats` reads, writes, discards and flushes completed, per disk | rows of that disk whose operation is in that group |
//! | `tcp_state` | `Tcp.ActiveOpens`, `Tcp.PassiveOpens` | CLOSE → SYN_SENT and LISTEN → SYN_RECV transitions |
//! | `tcp_retransmit` | `Tcp.RetransSegs` | retransmits that reached the wire (at most: a packet can carry several segments, and SYN-ACK retransmits have no row) |
//! | `sched_switch` | `ctxt` of `/proc/stat` | every row |
//!
//! The gap `kernel - recorded` allowed comes from the recording itself:
//! requests a disk had in flight at the first read (their completions are
//! counted but their start was not seen), events the recorder counted as
//! lost in the window, operations in groups diskstats files differently
//! (zone commands), writes that diskstats counts twice (on a disk without
//! FUA, a write asking for FUA or a preflush completes once for its data
//! and once at the end of its flush sequence: at most one per flush
//! completed), and what can happen while a counter file is being read (the
//! rate times the time the reads took). Outside it, the check disagrees:
//! events happened that no row and no loss count shows.

use std::collections::BTreeMap;

use ktape_format::counters as c;
use ktape_format::read::{Recording, TimeRange};
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{scan, scan_optional};
use crate::error::Result;
use crate::time::format_rfc3339;

/// One comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrossCheck {
    /// The recording's directory.
    pub recording: String,
    /// The table whose rows are counted.
    pub table: String,
    /// The kernel counter (`vda writes_completed`, `Tcp.ActiveOpens`,
    /// `ctxt`).
    pub counter: String,
    /// Its increase over the window.
    pub kernel: i64,
    /// Rows of the table in the window that it counts.
    pub recorded: i64,
    /// Allowed `kernel - recorded`, inclusive (`None` above: any excess of
    /// the kernel is allowed, the check is one-sided).
    pub allowed: (i64, Option<i64>),
    /// Whether `kernel - recorded` is within `allowed`.
    pub agree: bool,
    /// Start of the window (the first read), RFC 3339.
    pub from: String,
    /// End of the window (the last read), RFC 3339.
    pub to: String,
}

impl CrossCheck {
    /// The sentence a report prints on stderr when the check disagrees.
    pub fn warning(&self) -> String {
        let gap = self.kernel.saturating_sub(self.recorded);
        let what = if gap > 0 {
            format!("{gap} event(s) happened that neither a row nor the loss table shows")
        } else {
            format!(
                "the recording has {} more row(s) than the kernel counted",
                -gap
            )
        };
        format!(
            "WARNING: {}: `{}` disagrees with the kernel's {}: the kernel counted {}, the recording has {} between {} and {} ({what}); results from this table may be incomplete",
            self.recording,
            self.table,
            self.counter,
            self.kernel,
            self.recorded,
            self.from,
            self.to
        )
    }
}

/// One read of one counter.
#[derive(Debug, Clone, Copy)]
struct Read {
    ts: i64,
    value: i64,
    read_ns: i64,
}

/// The counters of one recording: (source, device, name) → reads in time
/// order.
type Reads = BTreeMap<(String, String, String), Vec<Read>>;

fn read_counters(rec: &Recording) -> Result<Reads> {
    let one = std::slice::from_ref(rec);
    let mut reads = scan(
        one,
        c::TABLE.name,
        TimeRange::ALL,
        &["ts", "source", "device", "name", "value", "read_ns"],
        Reads::new,
        |acc: &mut Reads, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let source = Strings::from_batch(batch, "source", path)?;
            let device = Strings::from_batch(batch, "device", path)?;
            let name = Strings::from_batch(batch, "name", path)?;
            let value = columns::i64s(batch, "value", path)?;
            let read_ns = columns::i64s(batch, "read_ns", path)?;
            for i in 0..batch.num_rows() {
                acc.entry((
                    source.get(i).to_string(),
                    device.get(i).to_string(),
                    name.get(i).to_string(),
                ))
                .or_default()
                .push(Read {
                    ts: ts[i],
                    value: value[i],
                    read_ns: read_ns[i].max(0),
                });
            }
            Ok(())
        },
        |mut a, b| {
            for (k, mut v) in b {
                a.entry(k).or_default().append(&mut v);
            }
            a
        },
    )?;
    for v in reads.values_mut() {
        v.sort_by_key(|r| r.ts);
        // A boundary's reads are written to both segments beside it.
        v.dedup_by_key(|r| r.ts);
    }
    Ok(reads)
}

/// The first and last read of a counter, when there are two.
fn span(reads: &Reads, source: &str, device: &str, name: &str) -> Option<(Read, Read)> {
    let v = reads.get(&(source.into(), device.into(), name.into()))?;
    let (a, b) = (*v.first()?, *v.last()?);
    (b.ts > a.ts).then_some((a, b))
}

/// What can happen while the two reads are made: the counter's own rate
/// times the time the reads took, plus one for the instant itself.
fn read_slack(a: Read, b: Read) -> i64 {
    let secs = (b.ts.saturating_sub(a.ts)) as f64 / 1e9;
    let delta = b.value.saturating_sub(a.value).max(0) as f64;
    let rate = if secs > 0.0 { delta / secs } else { 0.0 };
    ((rate * (a.read_ns.saturating_add(b.read_ns)) as f64 / 1e9).ceil() as i64).saturating_add(1)
}

/// Rows of `table` counted by the key `classify` gives each row of a
/// batch (`None`: not counted). `classify` sees each row's `ts` and
/// applies its own key's window; `range` (their union) only skips row
/// groups, so one pass counts every key of a table.
fn count_rows<G, K>(
    rec: &Recording,
    table: &str,
    (cols, optional): (&[&str], &[&str]),
    range: TimeRange,
    classify: K,
) -> Result<BTreeMap<G, i64>>
where
    G: Ord + Copy + Send,
    K: Fn(&arrow_array::RecordBatch, &std::path::Path, &[i64]) -> Result<Vec<Option<G>>>
        + Sync
        + Send,
{
    if !rec.has_table(table) {
        return Ok(BTreeMap::new());
    }
    let mut all = vec!["ts"];
    all.extend_from_slice(cols);
    scan_optional(
        std::slice::from_ref(rec),
        table,
        range,
        &all,
        optional,
        BTreeMap::new,
        |acc: &mut BTreeMap<G, i64>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            for g in classify(batch, path, ts)?.into_iter().flatten() {
                *acc.entry(g).or_default() += 1;
            }
            Ok(())
        },
        |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        },
    )
}

/// The union of windows, for skipping row groups.
fn union(ranges: impl IntoIterator<Item = TimeRange>) -> TimeRange {
    ranges
        .into_iter()
        .reduce(|a, b| TimeRange {
            from_ns: a.from_ns.min(b.from_ns),
            to_ns: a.to_ns.max(b.to_ns),
        })
        .unwrap_or(TimeRange {
            from_ns: Some(0),
            to_ns: Some(0),
        })
}

/// Events of `family` the recorder counted as lost with `ts` in the window
/// (a loss row covers the second that starts at its `ts`).
fn lost(rec: &Recording, family: &str, range: TimeRange) -> Result<i64> {
    if !rec.has_table(ktape_format::loss::TABLE.name) {
        return Ok(0);
    }
    let widened = TimeRange {
        from_ns: range
            .from_ns
            .map(|f| f.saturating_sub(crate::time::NS_PER_SEC)),
        to_ns: range.to_ns,
    };
    scan(
        std::slice::from_ref(rec),
        ktape_format::loss::TABLE.name,
        widened,
        &["ts", "family", "lost"],
        || 0i64,
        |acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let fam = Strings::from_batch(batch, "family", path)?;
            let n = columns::i64s(batch, "lost", path)?;
            for i in 0..batch.num_rows() {
                if widened.contains(ts[i]) && &**fam.get(i) == family {
                    *acc = acc.saturating_add(n[i].max(0));
                }
            }
            Ok(())
        },
        |a, b| a.saturating_add(b),
    )
}

/// The diskstats group of a bio row's operation (the last word of its
/// `flags` name, e.g. `Sync-Write`), as the kernel's `op_stat_group`
/// files it; `other` for zone commands, whose group depends on the
/// kernel's numbering; `None` for pass-through commands, which diskstats
/// does not count.
pub fn disk_group(flags: &str) -> Option<&'static str> {
    let op = flags.rsplit('-').next().unwrap_or(flags);
    match op {
        "Read" => Some(c::READS),
        "Write" | "SecureErase" | "WriteZeroes" | "ZoneAppend" => Some(c::WRITES),
        "Discard" => Some(c::DISCARDS),
        "Flush" => Some(c::FLUSHES),
        "DrvIn" | "DrvOut" => None,
        _ => Some("other"),
    }
}

fn window(a: Read, b: Read) -> TimeRange {
    TimeRange {
        from_ns: Some(a.ts),
        to_ns: Some(b.ts),
    }
}

fn check(
    rec: &Recording,
    table: &str,
    counter: String,
    (a, b): (Read, Read),
    recorded: i64,
    allowed: (i64, Option<i64>),
) -> CrossCheck {
    let kernel = b.value.saturating_sub(a.value);
    let gap = kernel.saturating_sub(recorded);
    CrossCheck {
        recording: rec.root.display().to_string(),
        table: table.to_string(),
        counter,
        kernel,
        recorded,
        allowed,
        agree: gap >= allowed.0 && allowed.1.is_none_or(|hi| gap <= hi),
        from: format_rfc3339(a.ts),
        to: format_rfc3339(b.ts),
    }
}

/// Every cross-check a recording allows (none for recordings without a
/// `counters` table, or with one read only: cut short before a second).
pub fn compute(rec: &Recording) -> Result<Vec<CrossCheck>> {
    checks(rec, None)
}

/// The cross-checks of table `only` (of every table when `None`): a report
/// pays only for the scan of its own table, and each table is scanned once.
fn checks(rec: &Recording, only: Option<&str>) -> Result<Vec<CrossCheck>> {
    if !rec.has_table(c::TABLE.name) {
        return Ok(Vec::new());
    }
    let wants = |t: &str| only.is_none_or(|o| o == t) && rec.has_table(t);
    let reads = read_counters(rec)?;
    let mut out = Vec::new();
    if wants(ktape_format::bio::TABLE.name) {
        bio_checks(rec, &reads, &mut out)?;
    }
    if wants(ktape_format::tcp::STATE_TABLE.name) {
        tcp_open_checks(rec, &reads, &mut out)?;
    }
    if wants(ktape_format::tcp::RETRANSMIT_TABLE.name) {
        retransmit_check(rec, &reads, &mut out)?;
    }
    if wants(ktape_format::sched::SWITCH_TABLE.name) {
        switch_check(rec, &reads, &mut out)?;
    }
    Ok(out)
}

/// bio: per disk and group, from one scan of the table.
fn bio_checks(rec: &Recording, reads: &Reads, out: &mut Vec<CrossCheck>) -> Result<()> {
    let disks: Vec<(String, TimeRange)> = reads
        .keys()
        .filter(|(s, _, n)| s == c::SOURCE_DISKSTATS && n == c::WRITES)
        .filter_map(|(_, d, _)| {
            let w = span(reads, c::SOURCE_DISKSTATS, d, c::WRITES)?;
            Some((d.clone(), window(w.0, w.1)))
        })
        .collect();
    if disks.is_empty() {
        return Ok(());
    }
    let rows = count_rows(
        rec,
        ktape_format::bio::TABLE.name,
        (&["disk", "flags"], &[]),
        union(disks.iter().map(|d| d.1)),
        |batch, path, ts| {
            let d = Strings::from_batch(batch, "disk", path)?;
            let f = Strings::from_batch(batch, "flags", path)?;
            Ok((0..batch.num_rows())
                .map(|i| {
                    let k = disks.iter().position(|(name, _)| **name == **d.get(i))?;
                    disks[k].1.contains(ts[i]).then_some(())?;
                    Some((k, disk_group(f.get(i))?))
                })
                .collect())
        },
    )?;
    for (k, (disk, range)) in disks.iter().enumerate() {
        let in_flight = span(reads, c::SOURCE_DISKSTATS, disk, c::IN_FLIGHT)
            .map(|(a, _)| a.value.max(0))
            .unwrap_or(0);
        let lost = lost(rec, "bio", *range)?;
        let other = rows.get(&(k, "other")).copied().unwrap_or(0);
        // On a disk without FUA the kernel completes a write that asks for
        // FUA or a preflush twice, its data and then the end of its flush
        // sequence, and diskstats counts both; the recording has one row.
        // At most one such write per flush.
        let flushed = span(reads, c::SOURCE_DISKSTATS, disk, c::FLUSHES)
            .map(|(a, b)| b.value.saturating_sub(a.value).max(0))
            .unwrap_or(0);
        for group in [c::READS, c::WRITES, c::DISCARDS, c::FLUSHES] {
            let Some(s) = span(reads, c::SOURCE_DISKSTATS, disk, group) else {
                continue;
            };
            let delta = s.1.value.saturating_sub(s.0.value);
            let recorded = rows.get(&(k, group)).copied().unwrap_or(0);
            // A disk nobody used says nothing about the recorder.
            if delta == 0 && recorded == 0 {
                continue;
            }
            let slack = read_slack(s.0, s.1);
            let twice = if group == c::WRITES { flushed } else { 0 };
            out.push(check(
                rec,
                ktape_format::bio::TABLE.name,
                format!("{disk} {group}"),
                s,
                recorded,
                (
                    slack.saturating_neg().saturating_sub(other),
                    Some(
                        in_flight
                            .saturating_add(lost)
                            .saturating_add(other)
                            .saturating_add(twice)
                            .saturating_add(slack),
                    ),
                ),
            ));
        }
    }
    Ok(())
}

/// tcp: opens from the state transitions, both counters from one scan.
fn tcp_open_checks(rec: &Recording, reads: &Reads, out: &mut Vec<CrossCheck>) -> Result<()> {
    let opens: Vec<(&str, &str, &str, (Read, Read))> = [
        (c::ACTIVE_OPENS, "CLOSE", "SYN_SENT"),
        (c::PASSIVE_OPENS, "LISTEN", "SYN_RECV"),
    ]
    .into_iter()
    .filter_map(|(name, old, new)| Some((name, old, new, span(reads, c::SOURCE_SNMP, "", name)?)))
    .collect();
    if opens.is_empty() {
        return Ok(());
    }
    let rows = count_rows(
        rec,
        ktape_format::tcp::STATE_TABLE.name,
        (&["oldstate", "newstate"], &[]),
        union(opens.iter().map(|o| window(o.3 .0, o.3 .1))),
        |batch, path, ts| {
            let o = Strings::from_batch(batch, "oldstate", path)?;
            let n = Strings::from_batch(batch, "newstate", path)?;
            Ok((0..batch.num_rows())
                .map(|i| {
                    let k = opens
                        .iter()
                        .position(|p| &**o.get(i) == p.1 && &**n.get(i) == p.2)?;
                    let s = opens[k].3;
                    window(s.0, s.1).contains(ts[i]).then_some(k)
                })
                .collect())
        },
    )?;
    for (k, (name, _, _, s)) in opens.iter().enumerate() {
        let range = window(s.0, s.1);
        let recorded = rows.get(&k).copied().unwrap_or(0);
        let lost = lost(rec, "tcp", range)?;
        // A transition and its counter are a few instructions apart: a
        // connection can straddle each read.
        let slack = read_slack(s.0, s.1).saturating_add(1);
        out.push(check(
            rec,
            ktape_format::tcp::STATE_TABLE.name,
            name.to_string(),
            *s,
            recorded,
            (slack.saturating_neg(), Some(lost.saturating_add(slack))),
        ));
    }
    Ok(())
}

/// tcp: retransmits, one-sided.
fn retransmit_check(rec: &Recording, reads: &Reads, out: &mut Vec<CrossCheck>) -> Result<()> {
    let Some(s) = span(reads, c::SOURCE_SNMP, "", c::RETRANS_SEGS) else {
        return Ok(());
    };
    let range = window(s.0, s.1);
    let rows = count_rows(
        rec,
        ktape_format::tcp::RETRANSMIT_TABLE.name,
        (&[], &["error"]),
        range,
        |batch, _, ts| {
            use arrow_array::Array;
            // Older kernels' tracepoints give no result: every row
            // counts.
            let err = batch
                .column_by_name("error")
                .and_then(|a| a.as_any().downcast_ref::<arrow_array::Int32Array>());
            Ok((0..batch.num_rows())
                .map(|i| {
                    let sent = err.is_none_or(|e| e.is_null(i) || e.value(i) == 0);
                    (sent && range.contains(ts[i])).then_some(())
                })
                .collect())
        },
    )?;
    let recorded = rows.get(&()).copied().unwrap_or(0);
    let slack = read_slack(s.0, s.1);
    out.push(check(
        rec,
        ktape_format::tcp::RETRANSMIT_TABLE.name,
        c::RETRANS_SEGS.to_string(),
        s,
        recorded,
        (slack.saturating_neg(), None),
    ));
    Ok(())
}

/// sched: every switch.
fn switch_check(rec: &Recording, reads: &Reads, out: &mut Vec<CrossCheck>) -> Result<()> {
    let Some(s) = span(reads, c::SOURCE_STAT, "", c::CTXT) else {
        return Ok(());
    };
    let range = window(s.0, s.1);
    let rows = count_rows(
        rec,
        ktape_format::sched::SWITCH_TABLE.name,
        (&[], &[]),
        range,
        |_, _, ts| {
            Ok(ts
                .iter()
                .map(|&t| range.contains(t).then_some(()))
                .collect())
        },
    )?;
    let recorded = rows.get(&()).copied().unwrap_or(0);
    let lost = lost(rec, "sched", range)?;
    let slack = read_slack(s.0, s.1);
    out.push(check(
        rec,
        ktape_format::sched::SWITCH_TABLE.name,
        c::CTXT.to_string(),
        s,
        recorded,
        (slack.saturating_neg(), Some(lost.saturating_add(slack))),
    ));
    Ok(())
}

/// Warnings for the checks of `table` that disagree, for every recording.
pub fn warnings(recordings: &[Recording], table: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in recordings {
        if !r.has_table(table) {
            continue;
        }
        for c in checks(r, Some(table))? {
            if !c.agree {
                out.push(c.warning());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_groups_follow_the_kernel() {
        assert_eq!(disk_group("Read"), Some(c::READS));
        assert_eq!(disk_group("ReadAhead-Read"), Some(c::READS));
        assert_eq!(disk_group("Sync-Write"), Some(c::WRITES));
        assert_eq!(disk_group("Priority-Metadata-Sync-Write"), Some(c::WRITES));
        assert_eq!(disk_group("SecureErase"), Some(c::WRITES));
        assert_eq!(disk_group("WriteZeroes"), Some(c::WRITES));
        assert_eq!(disk_group("Sync-Discard"), Some(c::DISCARDS));
        assert_eq!(disk_group("PreFlush-Flush"), Some(c::FLUSHES));
        assert_eq!(disk_group("DrvIn"), None);
        assert_eq!(disk_group("ZoneReset"), Some("other"));
    }

    #[test]
    fn slack_is_rate_times_read_time() {
        let a = Read {
            ts: 0,
            value: 0,
            read_ns: 50_000,
        };
        let b = Read {
            ts: 1_000_000_000,
            value: 100_000,
            read_ns: 50_000,
        };
        // 100k/s for 100 µs of reading: 10, plus one.
        assert_eq!(read_slack(a, b), 11);
    }
}
