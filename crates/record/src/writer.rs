//! The writer thread: the only place that touches the recording on disk.
//!
//! Every table gets its segment file at start, so even a table that never
//! sees a row has a (valid, empty) file. On channel close every file gets
//! its footer and is renamed from `.tmp`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread::JoinHandle;

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

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Format(#[from] ktape_format::Error),
    #[error("a batch arrived for table {0}, which this recording does not have")]
    UnknownTable(&'static str),
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
    ) -> Result<Writer, WriteError> {
        let opts = WriteOptions::default();
        let mut writers = BTreeMap::new();
        for t in tables {
            writers.insert(
                t.name,
                SegmentWriter::create(&root, t, 0, info, info.start_ns, &opts)?,
            );
        }
        let join = std::thread::Builder::new()
            .name("ktape-writer".into())
            .spawn(move || run(writers, rx))
            .expect("spawning the writer thread");
        Ok(Writer { join })
    }

    /// Waits until every sender is gone and every file is finished.
    pub fn finish(self) -> anyhow::Result<Vec<SegmentSummary>> {
        match self.join.join() {
            // The message already names the cause; see main's `flat`.
            Ok(r) => r.map_err(|e| anyhow::anyhow!("{e}")),
            Err(_) => anyhow::bail!("the writer thread panicked"),
        }
    }

    /// Whether the thread has ended (before finish, that means an error).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

fn run(
    mut writers: BTreeMap<&'static str, SegmentWriter>,
    rx: Receiver<Msg>,
) -> Result<Vec<SegmentSummary>, WriteError> {
    let mut failed = None;
    for msg in rx.iter() {
        let Msg::Batch(table, batch) = msg;
        let r = match writers.get_mut(table.name) {
            Some(w) => w.write(&batch).map_err(WriteError::from),
            None => Err(WriteError::UnknownTable(table.name)),
        };
        if let Err(e) = r {
            failed = Some(e);
            break;
        }
    }
    // Even after a failure, finish the other files: what they hold is good.
    drop(rx);
    let end_ns = crate::clock::wall_now_ns();
    let mut done = Vec::new();
    for (_, w) in writers {
        match w.finish(end_ns) {
            Ok(s) => done.push(s),
            Err(e) => {
                failed.get_or_insert(e.into());
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(done),
    }
}
