//! Finding the recordings below a folder (a fleet).
//!
//! A fleet is a folder of recordings laid out hive-style
//! (`fleet/host=web1/out.parquet/...`); each `key=value` folder on the way
//! becomes a partition of the recording below it, which reports can
//! group by.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::layout;
use crate::read::Recording;

/// How deep [`discover`] looks below the folder it is given: enough for
/// `fleet/dc=x/host=y/date=z/out.parquet`, bounded so that a wrong path
/// (`/`) fails fast instead of walking a whole file system.
const MAX_FLEET_DEPTH: usize = 6;

/// Whether a directory looks like a recording: one of its folders holds
/// segment files (finished or not), or it has an `.in-progress` folder.
fn looks_like_recording(dir: &Path) -> bool {
    if dir.join(layout::IN_PROGRESS_DIR).is_dir() {
        return true;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        p.is_dir()
            && fs::read_dir(&p).is_ok_and(|files| {
                files.filter_map(|f| f.ok()).any(|f| {
                    if !f.file_type().is_ok_and(|t| t.is_file()) {
                        return false;
                    }
                    let name = f.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(&format!(".{}", layout::SEGMENT_EXT))
                        || name.ends_with(layout::TMP_SUFFIX)
                })
            })
    })
}

/// The paths in `dir`, sorted: recordings and fleets are read in path
/// order, so every run (and every machine) sees them in the same order.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

/// The `key=value` form of a hive partition folder name.
fn partition_of(name: &str) -> Option<(String, String)> {
    let (k, v) = name.split_once('=')?;
    (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
}

/// Every recording at or below `path`: `path` itself when it is a
/// recording (or a file, so that [`Recording::open`] names what is wrong
/// with it); otherwise each recording found below it, in path order, with
/// the `key=value` folders on the way as its partitions. A folder with no
/// recording below it is an error naming it.
pub fn discover(path: &Path) -> Result<Vec<Recording>> {
    if !path.is_dir() || looks_like_recording(path) {
        return Ok(vec![Recording::open(path)?]);
    }
    let mut found = Vec::new();
    walk(path, &mut Vec::new(), 0, &mut found)?;
    if found.is_empty() {
        return Err(Error::NotARecording(path.to_path_buf()));
    }
    Ok(found)
}

fn walk(
    dir: &Path,
    parts: &mut Vec<(String, String)>,
    depth: usize,
    found: &mut Vec<Recording>,
) -> Result<()> {
    if looks_like_recording(dir) {
        let mut rec = Recording::open(dir)?;
        rec.partitions = parts.clone();
        found.push(rec);
        return Ok(());
    }
    if depth >= MAX_FLEET_DEPTH {
        return Ok(());
    }
    let subdirs = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir());
    for sub in subdirs {
        let part = sub
            .file_name()
            .and_then(|n| partition_of(&n.to_string_lossy()));
        let pushed = part.is_some();
        if let Some(p) = part {
            parts.push(p);
        }
        walk(&sub, parts, depth + 1, found)?;
        if pushed {
            parts.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names() {
        assert_eq!(
            partition_of("host=web1"),
            Some(("host".into(), "web1".into()))
        );
        assert_eq!(partition_of("out.parquet"), None);
        assert_eq!(partition_of("=x"), None);
        assert_eq!(partition_of("k="), None);
    }

    #[test]
    fn an_empty_folder_is_not_a_fleet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("host=a/nothing")).unwrap();
        let err = discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&*dir.path().to_string_lossy()), "{err}");
    }
}
