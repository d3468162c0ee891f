//! The drain thread: rings → decoders → batches → writer channel.
//!
//! BPF programs submit without waking us, so the thread drains on a short
//! timer: `poll` sleeps up to [`TICK`] (returning early when a program
//! forces a wakeup because a ring is half full), then `consume` empties
//! every ring. Records go straight into each family's decoder; the cycle's
//! rows are then sorted and appended to column vectors ([`crate::columns`]). The thread never
//! touches disk: finished batches go to the writer thread over a bounded
//! channel, and if the writer falls behind, the channel blocks us, the
//! rings fill, and the kernel counts the loss. After each flush (once a
//! second) it sends the writer a tick, its cue to checkpoint or rotate.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use crossbeam_channel::Sender;
use ktape_format::TableSpec;
use libbpf_rs::{MapHandle, RingBufferBuilder};

use crate::abi;
use crate::family::Decoder;
use crate::writer::Msg;

/// Longest sleep between drains.
pub const TICK: Duration = Duration::from_millis(10);
/// Longest time rows wait in the column vectors before they are handed over.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Counters the main thread reads for the status line and summary.
#[derive(Debug, Default)]
pub struct DrainStats {
    /// Records decoded.
    pub events: AtomicU64,
    /// Records that could not be decoded (unknown kind, wrong size).
    pub malformed: AtomicU64,
}

/// Routes each record to its family's decoder by kind.
struct Dispatch {
    /// `(kind, index into decoders)`.
    by_kind: Vec<(u32, usize)>,
    decoders: Vec<Box<dyn Decoder>>,
    events: u64,
    malformed: u64,
}

impl Dispatch {
    #[inline]
    fn record(&mut self, rec: &[u8]) {
        let Some(kind) = abi::record_kind(rec) else {
            self.malformed += 1;
            return;
        };
        match self.by_kind.iter().find(|(k, _)| *k == kind) {
            Some(&(_, i)) => match self.decoders[i].decode(rec) {
                Ok(()) => self.events += 1,
                Err(_) => self.malformed += 1,
            },
            None => self.malformed += 1,
        }
    }
}

/// A running drain thread.
pub struct Drain {
    stop: Arc<AtomicBool>,
    join: JoinHandle<anyhow::Result<()>>,
}

impl Drain {
    /// Starts draining `rings` into `decoders` (each with the record kinds
    /// it takes).
    pub fn spawn(
        rings: Vec<MapHandle>,
        decoders: Vec<(&'static [u32], Box<dyn Decoder>)>,
        tx: Sender<Msg>,
        stats: Arc<DrainStats>,
    ) -> std::io::Result<Drain> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let join = std::thread::Builder::new()
            .name("ktape-drain".into())
            .spawn(move || run(rings, decoders, tx, stats, stop2))?;
        Ok(Drain { stop, join })
    }

    /// Whether the thread has ended (on its own, that means an error).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Asks for a last drain and flush, and waits for it. Call after the
    /// programs are detached, so the last drain really is the last.
    pub fn finish(self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.join.join() {
            Ok(r) => r,
            Err(_) => anyhow::bail!("the drain thread panicked"),
        }
    }
}

fn run(
    rings: Vec<MapHandle>,
    decoders: Vec<(&'static [u32], Box<dyn Decoder>)>,
    tx: Sender<Msg>,
    stats: Arc<DrainStats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut by_kind = Vec::new();
    let mut decs = Vec::new();
    for (i, (kinds, d)) in decoders.into_iter().enumerate() {
        by_kind.extend(kinds.iter().map(|&k| (k, i)));
        decs.push(d);
    }
    let dispatch = Rc::new(RefCell::new(Dispatch {
        by_kind,
        decoders: decs,
        events: 0,
        malformed: 0,
    }));
    let mut builder = RingBufferBuilder::new();
    for ring in &rings {
        let d = dispatch.clone();
        builder.add(ring, move |rec: &[u8]| {
            d.borrow_mut().record(rec);
            0
        })?;
    }
    let rb = builder.build()?;

    let mut out: Vec<(&'static TableSpec, RecordBatch)> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if !stopping {
            // EINTR (a signal) just ends this sleep early.
            let _ = rb.poll_raw(TICK);
        }
        let n = rb.consume_raw();
        if n < 0 {
            anyhow::bail!(
                "reading the ring buffers failed: {}",
                std::io::Error::from_raw_os_error(-n)
            );
        }
        let flush = stopping || last_flush.elapsed() >= FLUSH_EVERY;
        {
            let mut d = dispatch.borrow_mut();
            let mut sink = |t: &'static TableSpec, b: RecordBatch| out.push((t, b));
            for dec in d.decoders.iter_mut() {
                dec.end_cycle(&mut sink);
                if stopping {
                    dec.finish(&mut sink);
                } else if flush {
                    dec.flush(&mut sink);
                }
            }
            stats.events.store(d.events, Ordering::Relaxed);
            stats.malformed.store(d.malformed, Ordering::Relaxed);
        }
        if flush {
            last_flush = Instant::now();
        }
        for (table, batch) in out.drain(..) {
            if tx.send(Msg::Batch(table, batch)).is_err() {
                anyhow::bail!("the writer thread stopped");
            }
        }
        // Everything decoded so far is with the writer: it may checkpoint
        // or close the segments now without cutting a cycle in two.
        if flush && !stopping && tx.send(Msg::Tick).is_err() {
            anyhow::bail!("the writer thread stopped");
        }
        if stopping {
            return Ok(());
        }
    }
}
