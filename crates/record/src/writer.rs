//! The writer thread: the only place that touches the recording on disk.
//!
//! # Durability
//!
//! Every table's open segment lives in `.in-progress/` (see
//! `ktape_format::write`). The drain thread sends [`Msg::Tick`] after each
//! of its flushes (once a second): the writer then *checkpoints* every
//! open segment, so a recorder killed by SIGKILL or the OOM killer loses
//! only the last second or so of rows, or, when the segment is due,
//! *closes* every segment (footer, fsync, rename into the table folder,
//! fsync of the folders) and starts the next. Segments close every 10 s by
//! default, so a power cut loses at most that, and plain readers (pandas,
//! DuckDB) see all but the last 10 s even of a killed recording.
//!
//! # Segments
//!
//! All tables close together, so segment N of every table covers the same
//! span. A table gets a file for a segment only when it had rows in it,
//! except `loss` and `counters`, which have one in every segment (an empty
//! `loss` file says nothing was lost in that span), and each table's
//! first, so that every table recorded is present. Rows are filed by when
//! they reach the writer; a row near a boundary can sit in the segment
//! after the one whose span holds its `ts` (by a drain interval); readers
//! go by `ts`.
//!
//! # Ring mode (`--keep N`)
//!
//! The oldest complete segment is deleted once N are complete, with what
//! the kept segments still refer to carried forward: see [`keep`].
//!
//! # Disk space
//!
//! Before each write the writer checks the file system's free space
//! against the reserve (`--min-free`) plus what the open segments still
//! hold in memory. Below it, in ring mode the oldest segment goes;
//! otherwise it asks the main thread to stop, and finishes every file
//! while the reserve is still there. A write that fails for lack of space
//! anyway seals every open segment at its last checkpoint (which frees the
//! unflushed part) and ends the recording with completed segments intact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use crossbeam_channel::Receiver;
use ktape_format::meta::RecordingInfo;
use ktape_format::write::{SegmentSummary, SegmentWriter, WriteOptions};
use ktape_format::TableSpec;

use crate::counters::Counters;
use crate::space::Space;

mod keep;

use keep::{Limbo, Refs};

/// What the writer thread is sent.
pub enum Msg {
    /// Rows for a table.
    Batch(&'static TableSpec, RecordBatch),
    /// The drain thread has handed over every row it decoded so far:
    /// checkpoint, or close the segments when they are due.
    Tick,
    /// The kernel's counters read by the main thread: right after
    /// attaching (the recording's first), and right before detaching (its
    /// last: no segment closes after it).
    Counters {
        snapshot: crate::counters::Snapshot,
        last: bool,
    },
}

/// Default segment length: what a power cut (or a plain reader of a
/// killed recording) can lose at most.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// When to close the open segments and start new ones, and how many to
/// keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Close every this long (`None`: never by time).
    pub every: Option<Duration>,
    /// Close once the open segments of all tables together hold this many
    /// bytes (written plus buffered).
    pub size: Option<u64>,
    /// Keep only the newest N complete segments of each table (plus the
    /// open one); `None` keeps all.
    pub keep: Option<u32>,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            every: Some(DEFAULT_EVERY),
            size: None,
            keep: None,
        }
    }
}

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Format(#[from] ktape_format::Error),
    #[error("a batch arrived for table {0}, which this recording does not have")]
    UnknownTable(&'static str),
    #[error("deleting old segment {}", .0.display())]
    Delete(PathBuf, #[source] std::io::Error),
    /// The file system refused to take more. Said in one sentence; the OS
    /// error once.
    #[error("{fs} is full ({os}): stopped; {kept}")]
    DiskFull {
        fs: String,
        os: String,
        kept: String,
    },
}

/// What the writer tells the main thread while it runs.
#[derive(Debug, Default)]
pub struct Shared {
    /// The writer asks the recorder to stop (the disk-space reserve is
    /// reached).
    pub stop: AtomicBool,
    /// Why, in one sentence.
    pub reason: Mutex<Option<String>>,
}

/// Everything the writer needs to know.
pub struct Setup {
    pub root: PathBuf,
    pub tables: Vec<&'static TableSpec>,
    pub info: RecordingInfo,
    pub rotation: Rotation,
    pub space: Option<Space>,
    pub counters: Counters,
}

/// A running writer thread.
pub struct Writer {
    join: JoinHandle<Result<Vec<SegmentSummary>, WriteError>>,
    pub shared: Arc<Shared>,
}

impl Writer {
    /// Starts the thread. Nothing is created on disk until rows arrive
    /// (or the first close).
    pub fn start(setup: Setup, rx: Receiver<Msg>) -> Result<Writer, WriteError> {
        let shared = Arc::new(Shared::default());
        let state = State::new(setup, shared.clone());
        let join = std::thread::Builder::new()
            .name("ktape-writer".into())
            .spawn(move || run(state, rx))
            .expect("spawning the writer thread");
        Ok(Writer { join, shared })
    }

    /// Waits until every sender is gone and every file is finished; returns
    /// the segments that are on disk.
    pub fn finish(self) -> Result<Vec<SegmentSummary>, anyhow::Error> {
        match self.join.join() {
            Ok(r) => r.map_err(anyhow::Error::from),
            Err(_) => anyhow::bail!("the writer thread panicked"),
        }
    }

    /// Whether the thread has ended (before finish, that means an error).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

/// Tables that have a file in every segment.
fn always(table: &str) -> bool {
    table == ktape_format::loss::TABLE.name || table == ktape_format::counters::TABLE.name
}

struct State {
    setup: Setup,
    shared: Arc<Shared>,
    opts: WriteOptions,
    /// The open segment's number, start (ns since the epoch) and age.
    n: u32,
    start_ns: i64,
    opened: Instant,
    open: BTreeMap<&'static str, SegmentWriter>,
    /// Complete files on disk, per table: their segment numbers.
    files: BTreeMap<&'static str, BTreeSet<u32>>,
    /// Complete segment numbers, oldest first.
    complete: Vec<u32>,
    /// Per segment, what its rows refer to (ring mode only).
    refs: BTreeMap<u32, Refs>,
    /// Rows of deleted segments that may still be referred to.
    stack_limbo: Limbo,
    process_limbo: Limbo,
    done: Vec<SegmentSummary>,
    stop_asked: bool,
    /// How fast the disk fills, for the room a stop needs.
    fill: crate::space::FillRate,
    /// The last counters came: no segment closes before the end.
    last_counters: bool,
}

impl State {
    fn new(setup: Setup, shared: Arc<Shared>) -> State {
        let start_ns = setup.info.start_ns;
        State {
            files: setup
                .tables
                .iter()
                .map(|t| (t.name, BTreeSet::new()))
                .collect(),
            setup,
            shared,
            opts: WriteOptions::default(),
            n: 0,
            start_ns,
            opened: Instant::now(),
            open: BTreeMap::new(),
            complete: Vec::new(),
            refs: BTreeMap::new(),
            stack_limbo: Limbo::default(),
            process_limbo: Limbo::default(),
            done: Vec::new(),
            stop_asked: false,
            fill: crate::space::FillRate::default(),
            last_counters: false,
        }
    }

    /// Now, on the recording's clock (monotonic plus the offset measured
    /// at start, as every row's `ts`), so that boundaries and rows compare
    /// exactly even when the wall clock is stepped or slewed meanwhile.
    fn now(&self) -> i64 {
        crate::clock::mono_now_ns() + self.setup.info.clock_offset_ns
    }

    fn spec(&self, name: &str) -> Option<&'static TableSpec> {
        self.setup.tables.iter().copied().find(|t| t.name == name)
    }

    fn writer(&mut self, table: &'static TableSpec) -> Result<&mut SegmentWriter, WriteError> {
        if !self.open.contains_key(table.name) {
            let w = SegmentWriter::create(
                &self.setup.root,
                table,
                self.n,
                &self.setup.info,
                self.start_ns,
                &self.opts,
            )?;
            self.open.insert(table.name, w);
        }
        Ok(self.open.get_mut(table.name).expect("just inserted"))
    }

    fn write(&mut self, table: &'static TableSpec, batch: &RecordBatch) -> Result<(), WriteError> {
        if self.spec(table.name).is_none() {
            return Err(WriteError::UnknownTable(table.name));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.setup.rotation.keep.is_some() {
            let (pids, stacks) = self
                .refs
                .entry(self.n)
                .or_default()
                .collect(table.name, batch);
            // A row that refers to a stack or thread whose row left with a
            // deleted segment brings that row back into this one.
            for (dim, rows) in [
                (
                    &ktape_format::stacks::TABLE,
                    self.stack_limbo.revive(&stacks),
                ),
                (
                    &ktape_format::process::TABLE,
                    self.process_limbo.revive(&pids),
                ),
            ] {
                if !rows.is_empty() && self.spec(dim.name).is_some() {
                    let b = arrow_select::concat::concat_batches(&dim.schema(), &rows).map_err(
                        |source| ktape_format::Error::Arrow {
                            path: self.setup.root.clone(),
                            source,
                        },
                    )?;
                    self.refs.entry(self.n).or_default().collect(dim.name, &b);
                    self.writer(dim)?.write(&b)?;
                }
            }
        }
        self.writer(table)?.write(batch)?;
        if let (Some(limit), false) = (self.setup.rotation.size, self.last_counters) {
            let held: u64 = self.open.values().map(|w| w.bytes_so_far() as u64).sum();
            if held >= limit {
                self.rotate()?;
            }
        }
        self.check_space()
    }

    /// Counter values into the open segment's `counters` file.
    fn write_counters(&mut self, snap: &crate::counters::Snapshot) -> Result<(), WriteError> {
        let Some(spec) = self.spec(ktape_format::counters::TABLE.name) else {
            return Ok(());
        };
        if snap.counters.is_empty() {
            return Ok(());
        }
        self.writer(spec)?.write(&crate::counters::batch(snap))?;
        Ok(())
    }

    /// At a boundary between segments: the counters as the closing
    /// segment's end and the next one's start.
    fn boundary_counters(&mut self) -> Option<crate::counters::Snapshot> {
        (!self.setup.counters.is_empty() && !self.last_counters).then(|| self.setup.counters.read())
    }

    /// Whether the open segment is due to close by time, `early` before
    /// its deadline.
    fn due(&self, early: Duration) -> bool {
        !self.last_counters
            && self
                .setup
                .rotation
                .every
                .is_some_and(|d| self.opened.elapsed() + early >= d)
    }

    /// The writer's own clock, between ticks: closes segments shorter
    /// than the tick interval (a second) on time; longer ones close at a
    /// tick, after a whole drain cycle.
    fn idle(&mut self) -> Result<(), WriteError> {
        let short = self
            .setup
            .rotation
            .every
            .is_some_and(|d| d < Duration::from_secs(1));
        if short && self.due(Duration::ZERO) {
            self.rotate()?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), WriteError> {
        // A tick comes about once a second: close at the one nearest the
        // deadline rather than the first after it.
        if self.due(Duration::from_millis(500)) {
            self.rotate()?;
        } else {
            let now = self.now();
            // `loss` is checkpointed at every tick, rows or not: after a
            // kill, its checkpoint says up to when nothing else was lost.
            let loss = &ktape_format::loss::TABLE;
            if self.spec(loss.name).is_some() {
                self.writer(loss)?.checkpoint_now(now)?;
            }
            for (name, w) in self.open.iter_mut() {
                if *name != loss.name {
                    w.checkpoint(now)?;
                }
            }
        }
        self.check_space()
    }

    /// Closes the open segment of every table at `end_ns`.
    fn close(&mut self, end_ns: i64) -> Result<(), WriteError> {
        let tables = self.setup.tables.clone();
        for t in tables {
            let w = match self.open.remove(t.name) {
                Some(w) => w,
                None if always(t.name) || self.files[t.name].is_empty() => SegmentWriter::create(
                    &self.setup.root,
                    t,
                    self.n,
                    &self.setup.info,
                    self.start_ns,
                    &self.opts,
                )?,
                None => continue,
            };
            let s = w.finish(end_ns)?;
            self.files
                .get_mut(t.name)
                .expect("every table")
                .insert(self.n);
            self.done.retain(|d| d.path != s.path);
            self.done.push(s);
        }
        self.complete.push(self.n);
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), WriteError> {
        let snap = self.boundary_counters();
        if let Some(s) = &snap {
            self.write_counters(s)?;
        }
        let now = self.now();
        self.close(now)?;
        self.n += 1;
        self.start_ns = now;
        self.opened = Instant::now();
        if let Some(s) = &snap {
            self.write_counters(s)?;
        }
        if let Some(keep) = self.setup.rotation.keep {
            while self.complete.len() > keep as usize {
                self.delete_oldest()?;
            }
        }
        Ok(())
    }

    /// Keeps the reserve free: drops the oldest segment in ring mode, else
    /// asks the recorder to stop (once).
    fn check_space(&mut self) -> Result<(), WriteError> {
        let Some(space) = self.setup.space.clone() else {
            return Ok(());
        };
        loop {
            let Ok(free) = space.free() else {
                return Ok(());
            };
            // Finishing the open segments writes what they hold in memory
            // plus a footer each, and rows keep coming until the stop is
            // done: at the rate at which free space less what is held
            // falls (free space alone moves only at checkpoints, in steps
            // of a second of rows).
            let held: u64 = self
                .open
                .values()
                .map(|w| w.pending_bytes() as u64 + 64 * 1024)
                .sum();
            self.fill.update(Instant::now(), free.saturating_sub(held));
            let pending = held.saturating_add(self.fill.headroom());
            if free >= space.reserve.saturating_add(pending) {
                return Ok(());
            }
            if self.setup.rotation.keep.is_some() && !self.complete.is_empty() {
                self.delete_oldest()?;
                continue;
            }
            if !self.stop_asked {
                self.stop_asked = true;
                *self.shared.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                    "stopped early: {}",
                    space.low_message(free, pending)
                ));
                self.shared.stop.store(true, Ordering::SeqCst);
            }
            return Ok(());
        }
    }

    /// After a failure: every open segment sealed at its last checkpoint
    /// (or removed), so no partial file is left and what was checkpointed
    /// is kept. Returns how many were sealed.
    fn seal_all(&mut self) -> usize {
        let mut sealed = 0;
        for (_, w) in std::mem::take(&mut self.open) {
            if let Ok(Some(s)) = w.seal_at_checkpoint() {
                self.done.push(s);
                sealed += 1;
            }
        }
        sealed
    }

    /// Removes the emptied `.in-progress` folders at the end.
    fn tidy(&self) {
        let dir = self.setup.root.join(ktape_format::layout::IN_PROGRESS_DIR);
        for t in &self.setup.tables {
            let _ = std::fs::remove_dir(dir.join(t.name));
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

fn run(mut state: State, rx: Receiver<Msg>) -> Result<Vec<SegmentSummary>, WriteError> {
    // A timeout, not a blocking receive: a stalled drain thread must not
    // stop checkpoints and time-based rotation.
    let poll = Duration::from_millis(200);
    let mut last_tick = Instant::now();
    loop {
        let r = match rx.recv_timeout(poll) {
            Ok(Msg::Batch(table, batch)) => state.write(table, &batch),
            Ok(Msg::Tick) => {
                last_tick = Instant::now();
                state.tick()
            }
            Ok(Msg::Counters { snapshot, last }) => {
                state.last_counters |= last;
                state.write_counters(&snapshot)
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if last_tick.elapsed() >= Duration::from_secs(2) {
                    last_tick = Instant::now();
                    state.tick()
                } else {
                    Ok(())
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        if let Err(e) = r.and_then(|()| state.idle()) {
            return Err(fail(state, e));
        }
    }
    drop(rx);
    let end = state.now();
    let r = state.close(end);
    match r {
        Ok(()) => {
            state.tidy();
            Ok(state.done)
        }
        Err(e) => Err(fail(state, e)),
    }
}

/// Ends the recording after a write failed: seals what can be sealed and
/// turns a full disk into one sentence.
fn fail(mut state: State, e: WriteError) -> WriteError {
    let sealed = state.seal_all();
    state.tidy();
    state.shared.stop.store(true, Ordering::SeqCst);
    if !crate::space::is_disk_full(&e) {
        return e;
    }
    let fs = state
        .setup
        .space
        .as_ref()
        .map(|s| s.fs.clone())
        .unwrap_or_else(|| crate::space::fs_name(&state.setup.root));
    let kept = match (state.complete.len(), sealed) {
        (0, 0) => "nothing had reached the disk yet".to_string(),
        (0, _) => "the rows up to the last checkpoint (about a second before) were kept".into(),
        (c, 0) => format!("the {c} segment(s) closed before are intact"),
        (c, _) => format!(
            "the {c} segment(s) closed before are intact, and the open one was kept up to its last checkpoint"
        ),
    };
    WriteError::DiskFull {
        fs,
        os: crate::space::os_error(&e),
        kept,
    }
}
