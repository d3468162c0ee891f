//! The writer thread: the only place that touches the recording on disk.
//!
//! Every table gets its segment file at start, so even a table that never
//! sees a row has a (valid, empty) file. On channel close every file gets
//! its footer and is renamed from `.tmp`.
//!
//! With `--rotate`, all tables rotate together: segment N of every table
//! covers the same span of the recording, so a reader (or `--keep`, which
//! deletes the oldest segments) can treat a segment number as a time slice.
//! Rows are filed by when their batch reaches the writer, so a row near a
//! boundary can sit in the segment after the one whose span holds its `ts`
//! (by at most one batch interval, about a second); readers go by `ts`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use crossbeam_channel::Receiver;
use ktape_format::meta::RecordingInfo;
use ktape_format::write::{SegmentSummary, SegmentWriter, WriteOptions};
use ktape_format::TableSpec;

/// What the writer thread is sent.
pub enum Msg {
    /// Rows for a table.
    Batch(&'static TableSpec, RecordBatch),
}

/// When to close the open segments and start new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotate {
    /// One segment per table for the whole recording (the default).
    #[default]
    Never,
    /// Every this long.
    Every(Duration),
    /// Once the open segments of all tables together hold this many bytes
    /// (written plus buffered).
    Size(u64),
}

/// Segment rotation and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// When to rotate.
    pub rotate: Rotate,
    /// Keep only the newest N complete segments of each table (plus the
    /// open one); `None` keeps all.
    pub keep: Option<u32>,
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
}

/// A running writer thread.
pub struct Writer {
    join: JoinHandle<Result<Vec<SegmentSummary>, WriteError>>,
}

impl Writer {
    /// Creates segment 0 of every table under `root` (now, so that errors
    /// such as a full disk show before recording starts) and starts the
    /// thread.
    pub fn start(
        root: PathBuf,
        tables: &[&'static TableSpec],
        info: &RecordingInfo,
        rx: Receiver<Msg>,
        rotation: Rotation,
    ) -> Result<Writer, WriteError> {
        let segments = Segments {
            root,
            tables: tables.to_vec(),
            info: info.clone(),
            opts: WriteOptions::default(),
            rotation,
        };
        let writers = segments.open(0, info.start_ns)?;
        let join = std::thread::Builder::new()
            .name("ktape-writer".into())
            .spawn(move || run(segments, writers, rx))
            .expect("spawning the writer thread");
        Ok(Writer { join })
    }

    /// Waits until every sender is gone and every file is finished; returns
    /// the segments that are on disk.
    pub fn finish(self) -> anyhow::Result<Vec<SegmentSummary>> {
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

/// Everything needed to open the next set of segments.
struct Segments {
    root: PathBuf,
    tables: Vec<&'static TableSpec>,
    info: RecordingInfo,
    opts: WriteOptions,
    rotation: Rotation,
}

type Open = BTreeMap<&'static str, SegmentWriter>;

impl Segments {
    fn open(&self, n: u32, start_ns: i64) -> Result<Open, WriteError> {
        let mut writers = BTreeMap::new();
        for t in &self.tables {
            writers.insert(
                t.name,
                SegmentWriter::create(&self.root, t, n, &self.info, start_ns, &self.opts)?,
            );
        }
        Ok(writers)
    }

    fn due(&self, writers: &Open, opened: Instant) -> bool {
        match self.rotation.rotate {
            Rotate::Never => false,
            Rotate::Every(d) => opened.elapsed() >= d,
            Rotate::Size(limit) => {
                writers
                    .values()
                    .map(|w| w.bytes_so_far() as u64)
                    .sum::<u64>()
                    >= limit
            }
        }
    }
}

/// Finishes every open segment; the first error wins, but every file is
/// still finished: what the others hold is good.
fn finish_all(
    writers: Open,
    end_ns: i64,
    done: &mut Vec<SegmentSummary>,
    failed: &mut Option<WriteError>,
) {
    for (_, w) in writers {
        match w.finish(end_ns) {
            Ok(s) => done.push(s),
            Err(e) => {
                failed.get_or_insert(e.into());
            }
        }
    }
}

fn run(
    segments: Segments,
    mut writers: Open,
    rx: Receiver<Msg>,
) -> Result<Vec<SegmentSummary>, WriteError> {
    let mut failed = None;
    let mut done = Vec::new();
    let mut n = 0u32;
    let mut opened = Instant::now();
    // A timeout, not a blocking receive: time-based rotation must happen
    // even while no rows arrive.
    let tick = Duration::from_millis(200);
    loop {
        match rx.recv_timeout(tick) {
            Ok(Msg::Batch(table, batch)) => {
                let r = match writers.get_mut(table.name) {
                    Some(w) => w.write(&batch).map_err(WriteError::from),
                    None => Err(WriteError::UnknownTable(table.name)),
                };
                if let Err(e) = r {
                    failed = Some(e);
                    break;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if segments.due(&writers, opened) {
            let now = crate::clock::wall_now_ns();
            let next = match segments.open(n + 1, now) {
                Ok(w) => w,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            finish_all(
                std::mem::replace(&mut writers, next),
                now,
                &mut done,
                &mut failed,
            );
            n += 1;
            opened = Instant::now();
            if let Some(keep) = segments.rotation.keep {
                // Segments 0..n are complete; keep the newest `keep`.
                if let Some(old) = n.checked_sub(keep + 1) {
                    if let Err(e) = delete_segment(&segments, old, &mut done) {
                        failed.get_or_insert(e);
                    }
                }
            }
            if failed.is_some() {
                break;
            }
        }
    }
    drop(rx);
    finish_all(writers, crate::clock::wall_now_ns(), &mut done, &mut failed);
    match failed {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

fn delete_segment(
    segments: &Segments,
    n: u32,
    done: &mut Vec<SegmentSummary>,
) -> Result<(), WriteError> {
    for t in &segments.tables {
        let path = ktape_format::layout::segment_path(&segments.root, t.name, n);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WriteError::Delete(path, e)),
        }
        done.retain(|s| s.path != path);
    }
    Ok(())
}
