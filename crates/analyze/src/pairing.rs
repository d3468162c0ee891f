//! The scheduler pairing engine of runqlat, cpudist and runqslower: a
//! thread's *starting* event (runqlat: a queue event; cpudist -O: a
//! switch-out) pairs with its next *ending* event (a switch-in), thread by
//! thread, in parallel and in bounded memory. It lives apart from the
//! reports because three of them use it and none of them owns it; each
//! report only says which events start a pair and what to do with a pair.
//!
//! # Pairing
//!
//! A thread becomes *queued* at a `sched_wakeup` row for it (`new` or not)
//! or when it is switched out while still runnable (`sched_switch` with
//! `prev_pid` = it and `preempt OR prev_state = 0`). Its latency ends at
//! its next switch-in (`next_pid` = it): latency = switch-in `ts` − the
//! latest queue event since its previous switch-in, the same as bcc, whose
//! map entry is overwritten by each queue event and deleted at switch-in.
//! The idle task (pid 0) is never counted. Events at the same `ts` order a
//! queue event before a switch-in. A switch-in with no queue event in the
//! window (the thread was queued before `--from` or before recording
//! started) has no latency. `formats/sql/runqlat.sql` is the same pairing
//! as window functions; the end-to-end test checks that both count the same
//! pairs.
//!
//! # Parallelism and memory
//!
//! The window is cut into time slices of about two million rows
//! ([`crate::common::time_slices`], from the row groups' footers), taken
//! one after the other. A slice's rows are scanned in parallel (rayon,
//! over row groups) into compact 16-byte events (`ts`, `pid`, `tgid`,
//! kind), sorted in parallel by (pid, ts, kind) and split at pid
//! boundaries, so each task pairs whole threads' histories independently.
//! A thread still queued at the end of a slice carries its queue event
//! into the next, so the pairs are exactly those of one pass over the
//! whole window. Memory is one slice's events (at most 64 MiB), one
//! carried event per thread and one 512-byte histogram per group and
//! interval: about 130 MiB peak for 11.6 million `sched_switch` and 6.8
//! million `sched_wakeup` rows (520 MiB before slicing). With `-P`, `-L`
//! or `--comm` a first pass reads each thread's comm (one entry per
//! thread).
//!

use std::collections::HashMap;
use std::sync::Arc;

use ktape_format::read::{Recording, TimeRange};
use ktape_format::sched::{SWITCH_TABLE, WAKEUP_TABLE};
use rayon::prelude::*;

use crate::columns::{self, Strings};
use crate::common::{scan, slice_rows, time_slices, Window};
use crate::error::Result;

/// Kind bit of [`Ev::tgid_kind`]: the event that ends a pair (runqlat: a
/// switch-in; cpudist -O: a switch-in; else it starts one).
pub(crate) const SWITCH_IN: u32 = 1 << 31;

/// One event of a thread that starts a pair (runqlat: a queue event;
/// cpudist -O: a switch-out) or ends one (a switch-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ev {
    pub(crate) ts: i64,
    pub(crate) pid: i32,
    /// tgid of an ending event, with [`SWITCH_IN`] set; 0 for a starting one.
    pub(crate) tgid_kind: u32,
}

impl Ev {
    #[inline]
    fn key(&self) -> (i32, i64, u32) {
        // Queue events (kind 0) sort before a switch-in at the same ts.
        (self.pid, self.ts, self.tgid_kind >> 31)
    }
}

/// Per thread or process: (ts of the last switch-in seen, comm then).
pub(crate) type Comms = HashMap<i32, (i64, Arc<str>)>;

/// Keeps the comm of `key`'s latest switch-in.
#[inline]
pub(crate) fn note_comm(comms: &mut Comms, key: i32, ts: i64, comm: &Arc<str>) {
    let e = comms.entry(key).or_insert_with(|| (ts, comm.clone()));
    if ts > e.0 {
        *e = (ts, comm.clone());
    }
}

/// Merges two comm maps, the latest switch-in winning.
pub(crate) fn merge_comms(a: &mut Comms, b: Comms) {
    for (k, (ts, c)) in b {
        note_comm(a, k, ts, &c);
    }
}

/// Each thread's comm at its last switch-in in `range` (with `by_tgid`:
/// each process's, from its thread switched in last): one pass over
/// `sched_switch` that holds one entry per thread. Shared with cpudist.
pub(crate) fn collect_comms(
    recordings: &[Recording],
    range: TimeRange,
    by_tgid: bool,
) -> Result<Comms> {
    scan(
        recordings,
        SWITCH_TABLE.name,
        range,
        &["ts", "next_pid", "next_tgid", "next_comm"],
        Comms::new,
        |comms: &mut Comms, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let next = columns::i32s(batch, "next_pid", path)?;
            let ntgid = columns::i32s(batch, "next_tgid", path)?;
            let comm = Strings::from_batch(batch, "next_comm", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) && next[i] != 0 {
                    let key = if by_tgid { ntgid[i] } else { next[i] };
                    note_comm(comms, key, ts[i], comm.get(i));
                }
            }
            Ok(())
        },
        |mut a, b| {
            merge_comms(&mut a, b);
            a
        },
    )
}

pub(crate) fn append<T>(mut a: Vec<T>, mut b: Vec<T>) -> Vec<T> {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    a.append(&mut b);
    a
}

/// One run-queue latency: the thread, its process, when it was switched
/// in and how long it waited (ns). Used by runqslower and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub pid: i32,
    pub tgid: i32,
    pub ts: i64,
    pub latency_ns: i64,
}

/// Collects the queue and switch-in events of `range` (one time slice).
pub(crate) fn collect(recordings: &[Recording], range: TimeRange) -> Result<Vec<Ev>> {
    let cols = [
        "ts",
        "prev_pid",
        "prev_state",
        "preempt",
        "next_pid",
        "next_tgid",
    ];
    let switches = scan(
        recordings,
        SWITCH_TABLE.name,
        range,
        &cols,
        Vec::new,
        |evs: &mut Vec<Ev>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let prev = columns::i32s(batch, "prev_pid", path)?;
            let state = columns::i64s(batch, "prev_state", path)?;
            let preempt = columns::bools(batch, "preempt", path)?;
            let next = columns::i32s(batch, "next_pid", path)?;
            let ntgid = columns::i32s(batch, "next_tgid", path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) {
                    continue;
                }
                if prev[i] != 0
                    && (state[i] == ktape_format::sched::TASK_RUNNING || preempt.value(i))
                {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: prev[i],
                        tgid_kind: 0,
                    });
                }
                if next[i] != 0 {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: next[i],
                        tgid_kind: ntgid[i] as u32 | SWITCH_IN,
                    });
                }
            }
            Ok(())
        },
        append,
    )?;
    let wakeups = scan(
        recordings,
        WAKEUP_TABLE.name,
        range,
        &["ts", "pid"],
        Vec::new,
        |evs: &mut Vec<Ev>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            for i in 0..batch.num_rows() {
                if range.contains(ts[i]) && pid[i] != 0 {
                    evs.push(Ev {
                        ts: ts[i],
                        pid: pid[i],
                        tgid_kind: 0,
                    });
                }
            }
            Ok(())
        },
        append,
    )?;
    Ok(append(switches, wakeups))
}

/// The time slices runqlat's pairing walks through (see the module docs).
pub(crate) fn slices(recordings: &[Recording], range: TimeRange) -> Vec<TimeRange> {
    time_slices(
        recordings,
        &[SWITCH_TABLE.name, WAKEUP_TABLE.name],
        range,
        slice_rows(),
    )
}

/// Pairs the events of one time slice: calls `f` with every latency, in
/// parallel over threads (so `f` folds into a per-task accumulator). A
/// pair is the latest starting event of a thread since its previous
/// ending event, and that ending event. Returns the accumulator and the
/// starting events still waiting for their end, one per thread at most,
/// for the next slice.
pub(crate) fn pair<A, I, F, M>(mut evs: Vec<Ev>, init: &I, f: &F, merge: &M) -> (A, Vec<Ev>)
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, Latency) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    evs.par_sort_unstable_by_key(Ev::key);
    // Split into chunks that never cut a thread's history.
    let n = evs.len();
    let target = (n / (rayon::current_num_threads() * 4)).max(64 * 1024);
    let mut bounds = vec![0];
    let mut at = target;
    while at < n {
        let pid = evs[at].pid;
        while at < n && evs[at].pid == pid {
            at += 1;
        }
        bounds.push(at);
        at += target;
    }
    if *bounds.last().unwrap() != n {
        bounds.push(n);
    }
    bounds
        .par_windows(2)
        .fold(
            || (init(), Vec::new()),
            |(mut acc, mut waiting), w| {
                let mut queued: Option<Ev> = None;
                for e in &evs[w[0]..w[1]] {
                    if let Some(q) = queued {
                        if q.pid != e.pid {
                            waiting.push(q);
                            queued = None;
                        }
                    }
                    if e.tgid_kind & SWITCH_IN == 0 {
                        queued = Some(*e);
                        continue;
                    }
                    if let Some(q) = queued.take() {
                        f(
                            &mut acc,
                            Latency {
                                pid: e.pid,
                                tgid: (e.tgid_kind & !SWITCH_IN) as i32,
                                ts: e.ts,
                                // Sorted by ts, so never negative; saturating
                                // for a damaged ts at each end of the clock.
                                latency_ns: e.ts.saturating_sub(q.ts),
                            },
                        );
                    }
                }
                waiting.extend(queued);
                (acc, waiting)
            },
        )
        .reduce(
            || (init(), Vec::new()),
            |(a, wa), (b, wb)| (merge(a, b), append(wa, wb)),
        )
}

/// [`pair`] over consecutive time slices, each collected by `collect`
/// only when its turn comes, with the waiting events carried from one
/// slice to the next: the same pairs as one pass over everything, in the
/// memory of one slice.
pub(crate) fn pair_slices<A, C, I, F, M>(
    slices: &[TimeRange],
    collect: C,
    init: I,
    f: F,
    merge: M,
) -> Result<A>
where
    A: Send,
    C: Fn(TimeRange) -> Result<Vec<Ev>>,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, Latency) + Sync + Send,
    M: Fn(A, A) -> A + Sync + Send,
{
    let mut acc = init();
    let mut waiting = Vec::new();
    for &slice in slices {
        let evs = append(collect(slice)?, waiting);
        let (a, w) = pair(evs, &init, &f, &merge);
        acc = merge(acc, a);
        waiting = w;
    }
    Ok(acc)
}

/// Every run-queue latency of the window (unfiltered), for callers that
/// need the rows themselves, sorted by (ts, pid).
pub fn latencies(recordings: &[Recording], window: &Window) -> Result<Vec<Latency>> {
    latencies_where(recordings, window, |_| true)
}

/// The run-queue latencies of the window that `keep` selects, sorted by
/// (ts, pid): only those are held (runqslower keeps the slow ones).
pub fn latencies_where(
    recordings: &[Recording],
    window: &Window,
    keep: impl Fn(&Latency) -> bool + Sync + Send,
) -> Result<Vec<Latency>> {
    let mut v = pair_slices(
        &slices(recordings, window.range),
        |range| collect(recordings, range),
        Vec::new,
        |v: &mut Vec<Latency>, l| {
            if keep(&l) {
                v.push(l)
            }
        },
        append,
    )?;
    v.par_sort_unstable_by_key(|l| (l.ts, l.pid));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pid: i32, ts: i64) -> Ev {
        Ev {
            ts,
            pid,
            tgid_kind: 0,
        }
    }
    fn s(pid: i32, ts: i64) -> Ev {
        Ev {
            ts,
            pid,
            tgid_kind: 7 | SWITCH_IN,
        }
    }

    type Lats = Vec<(i32, i64, i64)>;

    fn push(v: &mut Lats, l: Latency) {
        v.push((l.pid, l.ts, l.latency_ns))
    }

    /// The pairs of one pass, sorted, and the events left waiting.
    fn pairs(evs: Vec<Ev>) -> (Lats, Vec<Ev>) {
        let (mut v, mut waiting) = pair(evs, &Vec::new, &push, &append);
        v.sort();
        waiting.sort_by_key(Ev::key);
        (v, waiting)
    }

    fn lats(evs: Vec<Ev>) -> Lats {
        pairs(evs).0
    }

    #[test]
    fn latest_queue_event_pairs_with_the_next_switch_in() {
        let evs = vec![
            s(1, 5),  // switch-in without a queue event: nothing
            q(1, 10), // wakeup
            q(1, 12), // a second wakeup overwrites the first (bcc)
            s(1, 20), // 8
            s(1, 30), // no queue event since the last switch-in
            q(2, 40),
            s(2, 40), // same ts: the queue event comes first → 0
            q(1, 50),
            s(2, 60), // another thread's switch-in does not pair with 1's queue event
            s(1, 70), // 20
            q(3, 80), // never switched in: nothing
        ];
        let (got, waiting) = pairs(evs.clone());
        assert_eq!(got, vec![(1, 20, 8), (1, 70, 20), (2, 40, 0)]);
        // Thread 3 is still queued at the end: carried to the next slice.
        assert_eq!(waiting, vec![q(3, 80)]);
        // Cut anywhere, with the waiting events carried, the pairs are the
        // same.
        for cut in 0..=evs.len() {
            let (mut a, waiting) = pairs(evs[..cut].to_vec());
            let (b, _) = pairs(evs[cut..].iter().copied().chain(waiting).collect());
            a.extend(b);
            a.sort();
            assert_eq!(a, got, "cut at {cut}");
        }
    }

    #[test]
    fn chunks_never_split_a_thread() {
        // Enough events to be cut into several chunks.
        let mut evs = Vec::new();
        for pid in 1..=50 {
            for k in 0..5000i64 {
                evs.push(q(pid, k * 100));
                evs.push(s(pid, k * 100 + pid as i64));
            }
        }
        let got = lats(evs);
        assert_eq!(got.len(), 50 * 5000);
        assert!(got.iter().all(|&(pid, _, l)| l == pid as i64));
    }
}
