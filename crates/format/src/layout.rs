//! Where things live inside a recording directory.
//!
//! ```text
//! out.parquet/
//!   bio/000000.parquet            complete segments only
//!   .in-progress/bio/000001.parquet   the segment being written
//!   .in-progress/bio/000001.footer    its latest checkpoint footer
//! ```
//!
//! Segments being written live in `.in-progress/`, not in the table
//! folders, so every reader that globs a table folder (`bio/*` in DuckDB,
//! which matches hidden files too, `pd.read_parquet("out.parquet/bio")`,
//! Spark) sees complete files only. A segment is renamed into its table
//! folder when it is finished; the rename is atomic, so a reader sees the
//! whole file or none of it.

use std::path::{Path, PathBuf};

/// Extension of a segment file.
pub const SEGMENT_EXT: &str = "parquet";
/// Folder (inside the recording) of the segments being written.
pub const IN_PROGRESS_DIR: &str = ".in-progress";
/// The file in `.in-progress/` that a running recorder holds locked, so
/// that readers can tell a recording in progress from one whose recorder
/// was killed.
pub const LOCK_FILE: &str = "lock";
/// Extension of an in-progress segment's checkpoint footer.
pub const FOOTER_EXT: &str = "footer";
/// Suffix of a segment still being written by recorders before the
/// `.in-progress` folder existed (left in the table folder); readers
/// ignore such files.
pub const TMP_SUFFIX: &str = ".tmp";

/// Folder of a table inside a recording.
pub fn table_dir(root: &Path, table: &str) -> PathBuf {
    root.join(table)
}

/// File name of segment `n` (`000000.parquet`).
pub fn segment_name(n: u32) -> String {
    format!("{n:06}.{SEGMENT_EXT}")
}

/// Path of segment `n` of a table.
pub fn segment_path(root: &Path, table: &str, n: u32) -> PathBuf {
    table_dir(root, table).join(segment_name(n))
}

/// Folder of a table's in-progress segments.
pub fn in_progress_dir(root: &Path, table: &str) -> PathBuf {
    root.join(IN_PROGRESS_DIR).join(table)
}

/// Where segment `n` of a table is written until it is complete.
pub fn in_progress_path(root: &Path, table: &str, n: u32) -> PathBuf {
    in_progress_dir(root, table).join(segment_name(n))
}

/// The checkpoint footer of an in-progress segment (`000001.footer` beside
/// `000001.parquet`).
pub fn footer_path(data: &Path) -> PathBuf {
    data.with_extension(FOOTER_EXT)
}

/// A file name's segment number, for `NNNNNN.parquet` (and the other
/// extensions of the same stem).
pub fn segment_number(name: &str) -> Option<u32> {
    let stem = name.split('.').next()?;
    (stem.len() >= 6 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Path a file is written to before it replaces `path` by a rename.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Whether a table folder name is one ktape could have written
/// (lowercase letters, digits and `_`, not starting with `.` or `_`).
pub fn is_table_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let root = Path::new("/r/out.parquet");
        assert_eq!(
            segment_path(root, "bio", 3),
            Path::new("/r/out.parquet/bio/000003.parquet")
        );
        let p = in_progress_path(root, "bio", 3);
        assert_eq!(
            p,
            Path::new("/r/out.parquet/.in-progress/bio/000003.parquet")
        );
        assert_eq!(
            footer_path(&p),
            Path::new("/r/out.parquet/.in-progress/bio/000003.footer")
        );
        assert_eq!(segment_number("000003.parquet"), Some(3));
        assert_eq!(segment_number("000003.parquet.tmp"), Some(3));
        assert_eq!(segment_number("1234567.footer"), Some(1234567));
        assert_eq!(segment_number("x.parquet"), None);
        assert_eq!(segment_number("12.parquet"), None);
        assert!(is_table_name("sched_switch"));
        assert!(!is_table_name(".in-progress"));
        assert!(!is_table_name("host=a"));
        assert!(!is_table_name("_tmp"));
    }
}
