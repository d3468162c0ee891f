//! A recording as a whole: its table folders, finished and unfinished
//! segments, and what a killed or still running recorder left.
//!
//! Opening reads every segment's footer once (checked: ktape file, known
//! version, digests), so a damaged file is named before any report
//! starts, and unfinished segments are read through their checkpoints.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fleet::sorted_entries;
use crate::layout;
use crate::meta::RecordingInfo;
use crate::read::{file_name, Segment};

/// A segment that its recorder never finished.
#[derive(Debug, Clone)]
pub struct Incomplete {
    /// The unfinished file (in `.in-progress/`, or a `.tmp` left in the
    /// table folder by an older recorder).
    pub path: PathBuf,
    /// Its table.
    pub table: String,
    /// Rows readable through its checkpoint (they are part of the
    /// recording's segments, marked `in_progress`).
    pub recovered_rows: u64,
    /// The end of what its checkpoint covers, ns since the epoch; `None`
    /// when nothing could be read from it.
    pub recovered_until_ns: Option<i64>,
    /// Why nothing could be read, when something was wrong with it.
    pub problem: Option<String>,
}

/// One recording: a directory of table folders.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The recording's directory.
    pub root: PathBuf,
    /// Recording-wide facts, from the first segment found.
    pub info: RecordingInfo,
    /// Segments of each table, in segment order; an unfinished last
    /// segment is included when its checkpoint is readable
    /// ([`Segment::in_progress`]).
    pub tables: BTreeMap<String, Vec<Segment>>,
    /// Segments the recorder did not finish (it was killed, or is still
    /// running), with what could be read of each.
    pub incomplete: Vec<Incomplete>,
    /// Hive partitions (`key=value` folders) between the folder given to
    /// [`discover`] and the recording, outermost first.
    pub partitions: Vec<(String, String)>,
    /// Whether a recorder is writing it now (so unfinished segments are
    /// not the mark of a kill).
    pub recording_now: bool,
}

impl Recording {
    /// Opens a recording directory and checks every segment's footer.
    pub fn open(root: &Path) -> Result<Recording> {
        let md = fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !md.is_dir() {
            // A single segment file: open it so the error says what is wrong
            // with it (not Parquet, not ktape), else explain what to pass.
            Segment::open(root)?;
            return Err(Error::NotARecording(root.to_path_buf()));
        }
        let mut tables: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
        let mut incomplete = Vec::new();
        let dirs = sorted_entries(root)?.into_iter().filter(|p| p.is_dir());
        for dir in dirs {
            let table = file_name(&dir);
            if table.starts_with('.') {
                continue;
            }
            let files = sorted_entries(&dir)?;
            let mut segments = Vec::new();
            for f in files {
                let name = file_name(&f);
                if name.ends_with(layout::TMP_SUFFIX) {
                    incomplete.push(Incomplete {
                        path: f,
                        table: table.clone(),
                        recovered_rows: 0,
                        recovered_until_ns: None,
                        problem: None,
                    });
                } else if f.extension().is_some_and(|e| e == layout::SEGMENT_EXT) {
                    let seg = Segment::open(&f)?;
                    if seg.table() != table {
                        return Err(Error::WrongTable {
                            path: f,
                            found: seg.table().to_string(),
                            folder: table,
                        });
                    }
                    segments.push(seg);
                }
            }
            if !segments.is_empty() {
                tables.insert(table, segments);
            }
        }
        let in_progress = root.join(layout::IN_PROGRESS_DIR);
        if in_progress.is_dir() {
            for dir in sorted_entries(&in_progress)?
                .into_iter()
                .filter(|p| p.is_dir())
            {
                let table = file_name(&dir);
                for f in sorted_entries(&dir)? {
                    if f.extension().is_none_or(|e| e != layout::SEGMENT_EXT) {
                        continue;
                    }
                    let mut inc = Incomplete {
                        path: f.clone(),
                        table: table.clone(),
                        recovered_rows: 0,
                        recovered_until_ns: None,
                        problem: None,
                    };
                    match Segment::open_in_progress(&f) {
                        Ok(Some(seg)) if seg.table() == table => {
                            inc.recovered_rows = seg.rows().max(0) as u64;
                            inc.recovered_until_ns = seg.time_range().1;
                            tables.entry(table.clone()).or_default().push(seg);
                        }
                        Ok(Some(seg)) => {
                            inc.problem =
                                Some(format!("its checkpoint names table `{}`", seg.table()))
                        }
                        Ok(None) => {}
                        Err(e) => inc.problem = Some(e.to_string()),
                    }
                    incomplete.push(inc);
                }
            }
            for segs in tables.values_mut() {
                segs.sort_by_key(|s| s.number());
            }
        }
        let info = tables
            .values()
            .flatten()
            .next()
            .map(Segment::info)
            .ok_or_else(|| {
                if incomplete.is_empty() {
                    Error::NotARecording(root.to_path_buf())
                } else {
                    Error::Unfinished(root.to_path_buf())
                }
            })?;
        Ok(Recording {
            root: root.to_path_buf(),
            info,
            tables,
            incomplete,
            partitions: Vec::new(),
            recording_now: crate::write::recorder_running(root),
        })
    }

    /// The value of a grouping key for this recording: its hive partition
    /// of that name, else, for `host`, the host name the recorder stored.
    /// `None` when the recording has neither.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.partitions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .or_else(|| (key == "host").then_some(self.info.host.as_str()))
    }

    /// Segments of a table (empty if the recording lacks it).
    pub fn segments(&self, table: &str) -> &[Segment] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the recording has a table.
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// Whether the recorder did not finish every segment (it was killed,
    /// or it is still recording).
    pub fn ended_abruptly(&self) -> bool {
        !self.incomplete.is_empty()
            || self
                .tables
                .values()
                .flatten()
                .any(Segment::ended_at_checkpoint)
    }

    /// The end of a table's rows that are known to be complete: the latest
    /// end of its segments that their recorder closed (ns since the
    /// epoch); `None` when it has none.
    pub fn complete_until(&self, table: &str) -> Option<i64> {
        self.segments(table)
            .iter()
            .filter(|s| !s.ended_at_checkpoint())
            .filter_map(|s| s.time_range().1)
            .max()
    }

    /// The end of a table's readable rows: [`Recording::complete_until`],
    /// or later where a checkpoint of an unfinished segment reaches.
    pub fn readable_until(&self, table: &str) -> Option<i64> {
        self.segments(table)
            .iter()
            .filter_map(|s| s.time_range().1)
            .max()
    }

    /// Earliest segment start and latest segment end over all tables, ns
    /// since the epoch.
    pub fn time_range(&self) -> (Option<i64>, Option<i64>) {
        let mut lo: Option<i64> = None;
        let mut hi: Option<i64> = None;
        for s in self.tables.values().flatten() {
            let (a, b) = s.time_range();
            if let Some(a) = a {
                lo = Some(lo.map_or(a, |l| l.min(a)));
            }
            if let Some(b) = b {
                hi = Some(hi.map_or(b, |h| h.max(b)));
            }
        }
        (lo, hi)
    }
}

/// Shared handle type for recordings opened once and used by many threads.
pub type Recordings = Arc<Vec<Recording>>;
