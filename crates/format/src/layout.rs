//! Where things live inside a recording directory.

use std::path::{Path, PathBuf};

/// Extension of a complete segment file.
pub const SEGMENT_EXT: &str = "parquet";
/// Suffix of a segment still being written; readers ignore such files.
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

/// Path a segment is written to before it is complete.
pub fn tmp_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
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
        assert_eq!(
            tmp_path(&segment_path(root, "bio", 0)),
            Path::new("/r/out.parquet/bio/000000.parquet.tmp")
        );
    }
}
