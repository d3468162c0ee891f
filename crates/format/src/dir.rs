//! The recording directory: creating it (and what `--force` may
//! replace), the recorder's lock, private files and folders, and syncing
//! folders so that a rename survives a power cut.

use std::fs::{self, File};
use std::path::Path;

use crate::error::{Error, Result};
use crate::layout;

/// Creates the recording directory with owner-only permissions.
///
/// An existing path is an error unless `force` is set; even then it is
/// replaced only when it is exactly one ktape recording ([`is_recording`]):
/// never a folder of recordings, a recording with other files in it, or a
/// symlink.
pub fn create_recording_dir(root: &Path, force: bool) -> Result<()> {
    if root.symlink_metadata().is_ok() {
        if !force {
            return Err(Error::Exists(root.to_path_buf()));
        }
        if let Err(why) = is_recording(root) {
            return Err(Error::NotReplaceable {
                path: root.to_path_buf(),
                why,
            });
        }
        fs::remove_dir_all(root).map_err(|e| Error::io(root, e))?;
    }
    create_private_dir(root)
}

/// Marks a recording as being written: an exclusive lock on
/// `.in-progress/lock`, held as long as the returned file is open (the OS
/// drops it when the recorder dies, however it dies).
pub fn lock_recording(root: &Path) -> Result<File> {
    let dir = root.join(layout::IN_PROGRESS_DIR);
    create_private_dir(&dir)?;
    let path = dir.join(layout::LOCK_FILE);
    let f = create_private_file(&path)?;
    f.try_lock().map_err(|e| Error::Io {
        path: path.clone(),
        source: std::io::Error::other(format!("another recorder is writing here ({e})")),
    })?;
    Ok(f)
}

/// Whether a recorder is writing `root` now (it holds the lock); false
/// when it finished or was killed, and where the OS cannot tell.
pub fn recorder_running(root: &Path) -> bool {
    let path = root.join(layout::IN_PROGRESS_DIR).join(layout::LOCK_FILE);
    let Ok(f) = File::open(&path) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
}

/// Whether `root` is exactly one ktape recording, which `--force` may
/// replace: a real directory (not a symlink) holding only table folders
/// and `.in-progress`, which hold only segment files (regular files, no
/// symlinks), every complete one of which is a ktape file of its folder's
/// table. `Err` says what disqualifies it.
pub fn is_recording(root: &Path) -> std::result::Result<(), String> {
    let md = fs::symlink_metadata(root).map_err(|e| e.to_string())?;
    if md.file_type().is_symlink() {
        return Err("it is a symlink".into());
    }
    if !md.is_dir() {
        return Err("it is not a directory".into());
    }
    let mut segments = 0;
    for entry in read_dir(root)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| e.to_string())?;
        if !ft.is_dir() || ft.is_symlink() {
            return Err(format!("it holds {name}, which is not a table folder"));
        }
        if name == layout::IN_PROGRESS_DIR {
            for table in read_dir(&path)? {
                let tname = table.file_name().to_string_lossy().into_owned();
                let ft = table.file_type().map_err(|e| e.to_string())?;
                if tname == layout::LOCK_FILE && ft.is_file() {
                    continue;
                }
                if !ft.is_dir() || ft.is_symlink() || !layout::is_table_name(&tname) {
                    return Err(format!(
                        "it holds {name}/{tname}, which ktape did not write"
                    ));
                }
                for f in read_dir(&table.path())? {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let ok = f.file_type().is_ok_and(|t| t.is_file())
                        && layout::segment_number(&fname).is_some();
                    if !ok {
                        return Err(format!(
                            "it holds {name}/{tname}/{fname}, which ktape did not write"
                        ));
                    }
                    segments += 1;
                }
            }
            continue;
        }
        if !layout::is_table_name(&name) {
            return Err(format!("it holds {name}, which is not a table folder"));
        }
        for f in read_dir(&path)? {
            let fname = f.file_name().to_string_lossy().into_owned();
            let is_file = f.file_type().is_ok_and(|t| t.is_file());
            if !is_file || layout::segment_number(&fname).is_none() {
                return Err(format!("it holds {name}/{fname}, which is not a segment"));
            }
            if fname.ends_with(layout::TMP_SUFFIX) {
                segments += 1;
                continue;
            }
            let seg = crate::read::Segment::open(&f.path())
                .map_err(|e| format!("{name}/{fname} is not a ktape segment ({e})"))?;
            if seg.table() != name {
                return Err(format!(
                    "{name}/{fname} is a segment of table `{}`, not `{name}`",
                    seg.table()
                ));
            }
            segments += 1;
        }
    }
    if segments == 0 {
        return Err("it holds no segment files".into());
    }
    Ok(())
}

pub(crate) fn read_dir(dir: &Path) -> std::result::Result<Vec<fs::DirEntry>, String> {
    fs::read_dir(dir)
        .and_then(|it| it.collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Creates a directory (and missing parents) readable by its owner only.
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|e| Error::io(path, e))
}

pub(crate) fn create_private_file(path: &Path) -> Result<File> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| Error::io(path, e))
}

/// Syncs a directory, so that a rename or a new file in it survives a
/// power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}
