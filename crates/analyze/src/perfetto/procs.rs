//! The trace's first packets (the clock snapshot, the system's kernel
//! release) and the process trees from the `process` table, so that every
//! pid and tid on the timeline has its name and command line.

use std::sync::Arc;

use ktape_format::read::TimeRange;

use super::proto::{self, ClockSnapshot, Process, ProcessTree, SystemInfo, Thread, TracePacket, Utsname};
use super::{packet, Ctx, Sink, Summary, SEQ_META};
use crate::columns::{self, Strings};
use crate::common::scan_rows;
use crate::error::Result;

/// Process rows per `ProcessTree` packet.
const TREE_ROWS: usize = 1000;

/// The clock snapshot (at the window's start: its monotonic, boot and
/// wall times) and the system info.
pub fn write_header(ctx: &Ctx<'_>, sink: &mut Sink<'_>) -> Result<()> {
    let wall = ctx.window.start_ns;
    // The first recording's offset (all share one boot).
    let mono = ctx.clocks.mono(0, wall).unwrap_or(0);
    let clock = |id, ts| proto::Clock {
        clock_id: Some(id),
        timestamp: Some(ts),
    };
    sink.put(&TracePacket {
        timestamp: Some(mono),
        timestamp_clock_id: Some(proto::CLOCK_BOOTTIME),
        trusted_packet_sequence_id: Some(SEQ_META),
        clock_snapshot: Some(ClockSnapshot {
            clocks: vec![
                clock(proto::CLOCK_BOOTTIME, mono),
                clock(proto::CLOCK_MONOTONIC, mono),
                clock(proto::CLOCK_REALTIME, u64::try_from(wall).unwrap_or(0)),
            ],
            primary_trace_clock: Some(proto::CLOCK_BOOTTIME),
        }),
        ..Default::default()
    })?;
    if let Some(r) = ctx.recordings.first() {
        sink.put(&TracePacket {
            trusted_packet_sequence_id: Some(SEQ_META),
            system_info: Some(SystemInfo {
                utsname: Some(Utsname {
                    sysname: Some("Linux".into()),
                    release: (!r.info.kernel.is_empty()).then(|| r.info.kernel.clone()),
                }),
                num_cpus: (r.info.ncpus > 0).then_some(r.info.ncpus),
                machine_name: (!r.info.host.is_empty()).then(|| r.info.host.clone()),
            }),
            ..Default::default()
        })?;
    }
    Ok(())
}

/// One `process` row.
struct Row {
    mono: u64,
    pid: i32,
    tgid: i32,
    ppid: i32,
    uid: i64,
    comm: Arc<str>,
    cmdline: String,
}

/// The process trees: every `process` row before the window's end (a
/// process seen at the start is named on the whole timeline), with `-p`
/// and `--comm` applied, in time order, [`TREE_ROWS`] rows per packet.
pub fn write_processes(ctx: &Ctx<'_>, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let table = ktape_format::process::TABLE.name;
    if !ctx.has(table) {
        if ctx.recordings.iter().any(|r| !r.tables.is_empty()) {
            summary.warnings.push(crate::tables::missing_warning(
                table,
                &ctx.recordings.iter().collect::<Vec<_>>(),
                "processes and threads are named only by their comm on the CPU tracks",
            ));
        }
        return Ok(());
    }
    let range = TimeRange {
        from_ns: None,
        to_ns: ctx.window.range.to_ns,
    };
    let filter = &ctx.common.filter;
    let mut rows: Vec<Row> = scan_rows(
        ctx.recordings,
        table,
        range,
        &["ts", "pid", "tgid", "ppid", "uid", "comm", "cmdline"],
        |acc: &mut Vec<Row>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let ppid = columns::i32s(batch, "ppid", path)?;
            let uid = columns::i64s(batch, "uid", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let cmdline = Strings::from_batch(batch, "cmdline", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i])
                    || filter.pid.is_some_and(|p| p != tgid[i])
                    || filter.comm.as_ref().is_some_and(|c| **c != **comm.get(i))
                {
                    continue;
                }
                let Some(mono) = ctx.clocks.mono(unit.recording, ts[i]) else {
                    continue;
                };
                acc.push(Row {
                    mono,
                    pid: pid[i],
                    tgid: tgid[i],
                    ppid: ppid[i],
                    uid: uid[i],
                    comm: comm.get(i).clone(),
                    cmdline: cmdline.get(i).to_string(),
                });
            }
            Ok(())
        },
    )?;
    rows.sort_by(|a, b| {
        (a.mono, a.tgid, a.pid, &a.comm, &a.cmdline, a.ppid, a.uid)
            .cmp(&(b.mono, b.tgid, b.pid, &b.comm, &b.cmdline, b.ppid, b.uid))
    });
    for chunk in rows.chunks(TREE_ROWS) {
        let mut tree = ProcessTree::default();
        for r in chunk {
            if r.pid == r.tgid {
                let kthread = r.cmdline.is_empty();
                tree.processes.push(Process {
                    pid: Some(r.tgid),
                    ppid: Some(r.ppid),
                    // The recorder joined the arguments with spaces.
                    cmdline: if kthread {
                        vec![r.comm.to_string()]
                    } else {
                        r.cmdline.split(' ').map(str::to_string).collect()
                    },
                    uid: i32::try_from(r.uid).ok(),
                    cmdline_is_comm: kthread.then_some(true),
                });
            }
            tree.threads.push(Thread {
                tid: Some(r.pid),
                name: Some(r.comm.to_string()),
                tgid: Some(r.tgid),
            });
        }
        let mut p = packet(chunk[0].mono, SEQ_META);
        p.process_tree = Some(tree);
        sink.put(&p)?;
    }
    summary.process_rows = rows.len() as u64;
    Ok(())
}
