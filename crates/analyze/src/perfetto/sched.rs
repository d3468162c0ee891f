//! What ran on each CPU: `sched_switch` and `sched_wakeup` rows as
//! Perfetto's `compact_sched` bundles, one CPU per bundle, at most
//! [`CHUNK_EVENTS`] events each, read and written one time slice at a
//! time.
//!
//! In the compact form a switch names only the task switched in: the
//! task switched out is the one the CPU's previous switch brought in,
//! and its state is the `prev_state` the tracepoint reports
//! ([`report_state`]).

use std::sync::Arc;

use super::proto::{CompactSched, FtraceEventBundle, TracePacket};
use super::{Ctx, Sink, Summary, CHUNK_EVENTS, SEQ_SCHED};
use crate::columns::{self, Strings};
use crate::common::scan_rows;
use crate::error::Result;

/// One switch or wakeup, as the bundle needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    cpu: u32,
    mono: u64,
    /// 0: switch, 1: wakeup (a switch first at one instant).
    kind: u8,
    pid: i32,
    prio: i32,
    /// Switch: the reported `prev_state`; wakeup: the target CPU.
    extra: i64,
    comm: Arc<str>,
}

/// The `prev_state` the `sched_switch` tracepoint reports for a task
/// with raw `__state` `raw` (as `__trace_sched_switch_state` computes
/// it): `TASK_REPORT_MAX` (0x100, Perfetto's `R+`) for a preemption,
/// else the highest reportable state bit (`TASK_IDLE` as
/// `TASK_REPORT_IDLE`, 0x80; an rtlock wait as uninterruptible). The
/// kernel also folds in `exit_state`, which ktape does not record: a
/// dying task (`TASK_DEAD`, 0x80) is reported dead (`EXIT_DEAD`, 0x10).
pub fn report_state(raw: i64, preempt: bool) -> i64 {
    const TASK_REPORT: u32 = 0x7f;
    const TASK_IDLE: u32 = 0x402;
    const TASK_DEAD: u32 = 0x80;
    const TASK_RTLOCK_WAIT: u32 = 0x1000;
    if preempt {
        return 0x100;
    }
    let s = raw as u32;
    let mut state = s & TASK_REPORT;
    if s & TASK_IDLE == TASK_IDLE {
        state = 0x80;
    }
    if s & TASK_RTLOCK_WAIT != 0 {
        state = 0x2;
    }
    if state == 0 && s & TASK_DEAD != 0 {
        state = 0x10;
    }
    if state == 0 {
        0
    } else {
        1 << (31 - state.leading_zeros())
    }
}

/// Writes the scheduler bundles.
pub fn write(ctx: &Ctx<'_>, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let sw = ktape_format::sched::SWITCH_TABLE.name;
    let wk = ktape_format::sched::WAKEUP_TABLE.name;
    let (has_sw, has_wk) = (ctx.has(sw), ctx.has(wk));
    if !has_sw && !has_wk {
        return Ok(());
    }
    if ctx.no_cgroup(sw, summary) | ctx.no_cgroup(wk, summary) {
        return Ok(());
    }
    let filter = &ctx.common.filter;
    for slice in ctx.slices(&[sw, wk]) {
        let mut evs: Vec<Ev> = Vec::new();
        if has_sw {
            evs.extend(scan_rows(
                ctx.recordings,
                sw,
                slice,
                &[
                    "ts", "cpu", "prev_tgid", "prev_comm", "prev_state", "preempt", "next_pid",
                    "next_tgid", "next_comm", "next_prio",
                ],
                |acc: &mut Vec<Ev>, unit, batch| {
                    let path = &unit.segment.path;
                    let ts = columns::timestamps(batch, "ts", path)?;
                    let cpu = columns::i32s(batch, "cpu", path)?;
                    let prev_tgid = columns::i32s(batch, "prev_tgid", path)?;
                    let prev_comm = Strings::from_batch(batch, "prev_comm", path)?;
                    let state = columns::i64s(batch, "prev_state", path)?;
                    let preempt = columns::bools(batch, "preempt", path)?;
                    let pid = columns::i32s(batch, "next_pid", path)?;
                    let tgid = columns::i32s(batch, "next_tgid", path)?;
                    let comm = Strings::from_batch(batch, "next_comm", path)?;
                    let prio = columns::i32s(batch, "next_prio", path)?;
                    for i in 0..batch.num_rows() {
                        if !slice.contains(ts[i]) || cpu[i] < 0 {
                            continue;
                        }
                        let keep_pid = filter
                            .pid
                            .is_none_or(|p| p == prev_tgid[i] || p == tgid[i]);
                        let keep_comm = filter.comm.as_ref().is_none_or(|c| {
                            **c == **prev_comm.get(i) || **c == **comm.get(i)
                        });
                        if !(keep_pid && keep_comm) {
                            continue;
                        }
                        let Some(mono) = ctx.clocks.mono(unit.recording, ts[i]) else {
                            continue;
                        };
                        acc.push(Ev {
                            cpu: cpu[i] as u32,
                            mono,
                            kind: 0,
                            pid: pid[i],
                            prio: prio[i],
                            extra: report_state(state[i], preempt.value(i)),
                            comm: comm.get(i).clone(),
                        });
                    }
                    Ok(())
                },
            )?);
        }
        if has_wk {
            evs.extend(scan_rows(
                ctx.recordings,
                wk,
                slice,
                &["ts", "cpu", "target_cpu", "pid", "tgid", "comm", "prio"],
                |acc: &mut Vec<Ev>, unit, batch| {
                    let path = &unit.segment.path;
                    let ts = columns::timestamps(batch, "ts", path)?;
                    let cpu = columns::i32s(batch, "cpu", path)?;
                    let target = columns::i32s(batch, "target_cpu", path)?;
                    let pid = columns::i32s(batch, "pid", path)?;
                    let tgid = columns::i32s(batch, "tgid", path)?;
                    let comm = Strings::from_batch(batch, "comm", path)?;
                    let prio = columns::i32s(batch, "prio", path)?;
                    for i in 0..batch.num_rows() {
                        if !slice.contains(ts[i])
                            || cpu[i] < 0
                            || filter.pid.is_some_and(|p| p != tgid[i])
                            || filter.comm.as_ref().is_some_and(|c| **c != **comm.get(i))
                        {
                            continue;
                        }
                        let Some(mono) = ctx.clocks.mono(unit.recording, ts[i]) else {
                            continue;
                        };
                        acc.push(Ev {
                            cpu: cpu[i] as u32,
                            mono,
                            kind: 1,
                            pid: pid[i],
                            prio: prio[i],
                            extra: target[i] as i64,
                            comm: comm.get(i).clone(),
                        });
                    }
                    Ok(())
                },
            )?);
        }
        evs.sort_unstable();
        for cpu_evs in evs.chunk_by(|a, b| a.cpu == b.cpu) {
            for chunk in cpu_evs.chunks(CHUNK_EVENTS) {
                write_bundle(chunk, sink, summary)?;
            }
        }
    }
    Ok(())
}

/// One bundle: the events of one CPU, in time order.
fn write_bundle(evs: &[Ev], sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let mut c = CompactSched::default();
    let mut names: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let (mut last_sw, mut last_wk) = (0u64, 0u64);
    for e in evs {
        let next = names.len() as u32;
        let idx = *names.entry(&e.comm).or_insert_with(|| {
            c.intern_table.push(e.comm.to_string());
            next
        });
        if e.kind == 0 {
            c.switch_timestamp.push(e.mono - last_sw);
            last_sw = e.mono;
            c.switch_prev_state.push(e.extra);
            c.switch_next_pid.push(e.pid);
            c.switch_next_prio.push(e.prio);
            c.switch_next_comm_index.push(idx);
        } else {
            c.waking_timestamp.push(e.mono - last_wk);
            last_wk = e.mono;
            c.waking_pid.push(e.pid);
            c.waking_target_cpu.push(e.extra as i32);
            c.waking_prio.push(e.prio);
            c.waking_comm_index.push(idx);
        }
    }
    summary.switches += c.switch_timestamp.len() as u64;
    summary.wakeups += c.waking_timestamp.len() as u64;
    summary.bundles += 1;
    sink.put(&TracePacket {
        trusted_packet_sequence_id: Some(SEQ_SCHED),
        ftrace_events: Some(FtraceEventBundle {
            cpu: Some(evs[0].cpu),
            compact_sched: Some(c),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_as_the_tracepoint_reports_them() {
        assert_eq!(report_state(0, false), 0);
        assert_eq!(report_state(1, true), 0x100);
        assert_eq!(report_state(0, true), 0x100);
        assert_eq!(report_state(1, false), 1);
        assert_eq!(report_state(2, false), 2);
        // TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD) is I.
        assert_eq!(report_state(0x402, false), 0x80);
        // TASK_WAKEKILL | TASK_UNINTERRUPTIBLE (TASK_KILLABLE) is D.
        assert_eq!(report_state(0x102, false), 2);
        assert_eq!(report_state(0x80, false), 0x10);
        assert_eq!(report_state(0x1000, false), 2);
        assert_eq!(report_state(-1, false), 2);
    }
}
