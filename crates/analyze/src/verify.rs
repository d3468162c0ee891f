//! `verify` and `recover`: the integrity of a recording, file by file.
//!
//! `verify` checks every segment on its own, so that one damaged file is
//! named among all the others instead of stopping at the first: the
//! footer against its digest, every column chunk against its digest, and
//! every row decoded. Unfinished segments are checked through their
//! checkpoint. Exit status 1 when anything is damaged.
//!
//! `recover` turns the unfinished segments a killed recorder left (in
//! `.in-progress/`) into complete segment files as of their last
//! checkpoint, so that pandas, DuckDB and Spark see those rows too. It
//! refuses while a recorder is still writing the recording.

use std::path::{Path, PathBuf};

use ktape_format::layout;
use ktape_format::read::Segment;
use serde::Serialize;

use crate::common::{expand_paths, rel_path};
use crate::error::{Error, Result};
use crate::output::Out;

/// What `verify` found for one file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileCheck {
    /// The file, relative to its recording.
    pub path: String,
    /// `ok`, `damaged`, `unverified` (written before checksums; every row
    /// decoded), `unfinished` (readable through its checkpoint) or
    /// `unreadable` (an unfinished segment with nothing checkpointed).
    pub status: &'static str,
    /// Rows in it (readable rows for an unfinished one).
    pub rows: u64,
    /// What is wrong, for `damaged` and `unreadable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `verify`'s result for one recording.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingCheck {
    /// The recording's directory.
    pub recording: String,
    /// Every file, in path order.
    pub files: Vec<FileCheck>,
    /// How many files are damaged.
    pub damaged: usize,
}

/// Options of `verify` and `recover`.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Recordings (directories); globs expanded.
    pub paths: Vec<PathBuf>,
    /// JSON output.
    pub json: bool,
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Decodes every row of every column: a file without checksums can still
/// be caught by the decoder.
fn decode_all(seg: &Segment) -> std::result::Result<u64, String> {
    let cols: Vec<String> = seg
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut rows = 0u64;
    for rg in 0..seg.row_groups() {
        let reader = seg
            .read_row_group(rg, &cols, 64 * 1024)
            .map_err(|e| e.to_string())?;
        for b in reader {
            rows += b.map_err(|e| format!("row group {rg}: {e}"))?.num_rows() as u64;
        }
    }
    if rows != seg.rows().max(0) as u64 {
        return Err(format!(
            "{rows} rows decoded, its footer says {}",
            seg.rows()
        ));
    }
    Ok(rows)
}

fn check_segment(root: &Path, path: &Path) -> FileCheck {
    let rel = rel_path(root, path);
    let damaged = |e: String| FileCheck {
        path: rel.clone(),
        status: "damaged",
        rows: 0,
        problem: Some(e),
    };
    let seg = match Segment::open(path) {
        Ok(s) => s,
        Err(e) => return damaged(format!("{e:#}")),
    };
    if let Err(e) = seg.verify_chunks() {
        return damaged(e.to_string());
    }
    match decode_all(&seg) {
        Ok(rows) => FileCheck {
            path: rel,
            status: if seg.has_checksums() {
                "ok"
            } else {
                "unverified"
            },
            rows,
            problem: None,
        },
        Err(e) => damaged(e),
    }
}

fn check_in_progress(root: &Path, data: &Path) -> FileCheck {
    let rel = rel_path(root, data);
    match Segment::open_in_progress(data) {
        Ok(Some(seg)) => match decode_all(&seg) {
            Ok(rows) => FileCheck {
                path: rel,
                status: "unfinished",
                rows,
                problem: None,
            },
            Err(e) => FileCheck {
                path: rel,
                status: "damaged",
                rows: 0,
                problem: Some(e),
            },
        },
        Ok(None) => FileCheck {
            path: rel,
            status: "unreadable",
            rows: 0,
            problem: Some("nothing in it was checkpointed".into()),
        },
        Err(e) => FileCheck {
            path: rel,
            status: "damaged",
            rows: 0,
            problem: Some(e.to_string()),
        },
    }
}

/// Checks every file of one recording directory.
pub fn verify_recording(root: &Path) -> Result<RecordingCheck> {
    if !root.is_dir() {
        return Err(Error::Usage(format!(
            "{}: not a directory (verify takes recordings)",
            root.display()
        )));
    }
    let mut files = Vec::new();
    for dir in sorted(root).into_iter().filter(|p| p.is_dir()) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == layout::IN_PROGRESS_DIR {
            for t in sorted(&dir).into_iter().filter(|p| p.is_dir()) {
                for f in sorted(&t) {
                    if f.extension().is_some_and(|e| e == layout::SEGMENT_EXT) {
                        files.push(check_in_progress(root, &f));
                    }
                }
            }
            continue;
        }
        for f in sorted(&dir) {
            let fname = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if fname.ends_with(layout::TMP_SUFFIX) {
                files.push(FileCheck {
                    path: rel_path(root, &f),
                    status: "unreadable",
                    rows: 0,
                    problem: Some("an unfinished segment of an older recorder".into()),
                });
            } else if f.extension().is_some_and(|e| e == layout::SEGMENT_EXT) {
                let mut c = check_segment(root, &f);
                if c.status != "damaged" {
                    if let Ok(seg) = Segment::open(&f) {
                        if seg.table() != name {
                            c.status = "damaged";
                            c.problem = Some(format!(
                                "a segment of table `{}` in the folder of `{name}`",
                                seg.table()
                            ));
                        }
                    }
                }
                files.push(c);
            }
        }
    }
    if files.is_empty() {
        return Err(ktape_format::Error::NotARecording(root.to_path_buf()).into());
    }
    let damaged = files.iter().filter(|f| f.status == "damaged").count();
    Ok(RecordingCheck {
        recording: root.display().to_string(),
        files,
        damaged,
    })
}

/// Runs `verify`; returns how many files are damaged.
pub fn run_verify(opts: &VerifyOptions, out: &mut Out<'_>) -> Result<usize> {
    let mut all = Vec::new();
    for p in expand_paths(&opts.paths)? {
        all.push(verify_recording(&p)?);
    }
    let damaged: usize = all.iter().map(|r| r.damaged).sum();
    if opts.json {
        out.json(&serde_json::json!({
            "report": "verify",
            "damaged": damaged,
            "recordings": all,
        }))?;
        return Ok(damaged);
    }
    for r in &all {
        let w = &mut *out.out;
        writeln!(w, "{}", r.recording)?;
        let width = r.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
        for f in &r.files {
            write!(
                w,
                "  {:<width$}  {:<10} {:>12} rows",
                f.path, f.status, f.rows
            )?;
            if let Some(p) = &f.problem {
                write!(w, "  {p}")?;
            }
            writeln!(w)?;
        }
        let count = |s: &str| r.files.iter().filter(|f| f.status == s).count();
        writeln!(
            w,
            "{} files: {} ok, {} unverified (no checksums), {} unfinished, {} unreadable, {} damaged",
            r.files.len(),
            count("ok"),
            count("unverified"),
            count("unfinished"),
            count("unreadable"),
            r.damaged
        )?;
    }
    if damaged > 0 {
        out.warn(&format!(
            "WARNING: {damaged} damaged file(s): reports refuse them; move them out of the recording to read the rest"
        ))?;
    }
    Ok(damaged)
}

/// What `recover` did with one unfinished segment.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    /// The unfinished file.
    pub from: String,
    /// The complete segment made of it, when there was something to keep.
    pub to: Option<String>,
    /// Rows it holds.
    pub rows: u64,
}

/// Runs `recover` on every recording given.
pub fn run_recover(opts: &VerifyOptions, out: &mut Out<'_>) -> Result<()> {
    let mut done = Vec::new();
    for root in expand_paths(&opts.paths)? {
        if ktape_format::write::recorder_running(&root) {
            return Err(Error::Usage(format!(
                "{}: a recorder is still writing it; stop it first (its unfinished segments are readable as they are)",
                root.display()
            )));
        }
        let dir = root.join(layout::IN_PROGRESS_DIR);
        for t in sorted(&dir).into_iter().filter(|p| p.is_dir()) {
            for f in sorted(&t) {
                if f.extension().is_none_or(|e| e != layout::SEGMENT_EXT) {
                    continue;
                }
                let sealed = ktape_format::write::seal_from_checkpoint(&root, &f)?;
                if sealed.is_none() {
                    // Nothing checkpointed: nothing to keep.
                    let _ = std::fs::remove_file(&f);
                    let _ = std::fs::remove_file(layout::footer_path(&f));
                }
                done.push(Recovered {
                    from: rel_path(&root, &f),
                    to: sealed.as_ref().map(|s| rel_path(&root, &s.path)),
                    rows: sealed.map(|s| s.rows).unwrap_or(0),
                });
            }
            let _ = std::fs::remove_dir(&t);
        }
        let _ = std::fs::remove_file(dir.join(layout::LOCK_FILE));
        let _ = std::fs::remove_dir(&dir);
    }
    if opts.json {
        out.json(&serde_json::json!({"report": "recover", "segments": done}))?;
        return Ok(());
    }
    let w = &mut *out.out;
    if done.is_empty() {
        writeln!(w, "nothing to recover: every segment is complete")?;
    }
    for d in &done {
        match &d.to {
            Some(to) => writeln!(w, "{} -> {} ({} rows)", d.from, to, d.rows)?,
            None => writeln!(w, "{}: nothing checkpointed, removed", d.from)?,
        }
    }
    Ok(())
}

/// `verify` and `recover` on the command line.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Recordings (directories such as out.parquet); glob patterns are expanded.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    fn options(self) -> VerifyOptions {
        VerifyOptions {
            paths: self.paths,
            json: self.json,
        }
    }
}

/// `verify`: exit status 1 if any file is damaged.
#[derive(clap::Args)]
pub struct VerifyCli {
    #[command(flatten)]
    args: VerifyArgs,
}

impl crate::cli::Run for VerifyCli {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let damaged = run_verify(&self.args.options(), out).context("verify")?;
        Ok(if damaged > 0 {
            std::process::ExitCode::FAILURE
        } else {
            std::process::ExitCode::SUCCESS
        })
    }
}

/// `recover`.
#[derive(clap::Args)]
pub struct RecoverCli {
    #[command(flatten)]
    args: VerifyArgs,
}

impl crate::cli::Run for RecoverCli {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        run_recover(&self.args.options(), out).context("recover")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
