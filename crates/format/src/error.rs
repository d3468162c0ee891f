//! Errors of the format crate. Every variant that concerns a file names it,
//! so a user can tell which of many segments is damaged. Messages never
//! repeat their `source()`: binaries print the whole chain with `{:#}`.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing a recording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist.
    #[error("{}: no such file or directory", .0.display())]
    Missing(PathBuf),

    /// An I/O error on a named path.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not Parquet, or its footer is damaged (a truncated file
    /// ends up here).
    #[error("{}: not a readable Parquet file (truncated, corrupt or foreign)", path.display())]
    NotParquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A Parquet file without ktape's metadata.
    #[error("{}: a Parquet file, but not written by ktape (no `{key}` metadata)", path.display())]
    NotKtape { path: PathBuf, key: &'static str },

    /// A ktape file of a format version this build cannot read.
    #[error(
        "{}: ktape format version {found}, but this build reads versions {supported}; \
         use a ktape-analyze at least as new as the recorder that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: String,
        supported: String,
    },

    /// A file's schema lacks a column a report needs.
    #[error("{}: table `{table}` has no column `{column}`", path.display())]
    MissingColumn {
        path: PathBuf,
        table: String,
        column: String,
    },

    /// A directory that holds no ktape tables.
    #[error("{}: not a ktape recording (no table folders with .parquet segments) nor a folder of recordings", .0.display())]
    NotARecording(PathBuf),

    /// A file whose content does not match its checksums: it was damaged
    /// after it was written.
    #[error("{}: damaged: {what} (the file changed after it was written; `ktape-analyze verify` checks every segment)", path.display())]
    Corrupt { path: PathBuf, what: String },

    /// A segment file in the folder of another table.
    #[error("{}: a segment of table `{found}` in the folder of table `{folder}`", path.display())]
    WrongTable {
        path: PathBuf,
        found: String,
        folder: String,
    },

    /// A recording whose recorder stopped before any segment or checkpoint
    /// reached the disk.
    #[error("{}: a ktape recording with nothing readable: the recorder stopped (killed, or its machine lost power) before its first checkpoint reached the disk", .0.display())]
    Unfinished(PathBuf),

    /// `--force` was given for something that is not exactly one recording.
    #[error("{}: not replacing it even with --force: {why}; --force replaces a single ktape recording only", path.display())]
    NotReplaceable { path: PathBuf, why: String },

    /// The recording already exists and replacing it was not asked for.
    #[error("{}: already exists (use --force to replace it)", .0.display())]
    Exists(PathBuf),

    /// A Parquet or Arrow error while reading or writing a named file.
    #[error("{}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// An Arrow error while decoding a named file.
    #[error("{}", path.display())]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing(path)
        } else {
            Error::Io { path, source }
        }
    }
}
