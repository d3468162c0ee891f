//! Errors of the analyzer library. Anything about a file names the file:
//! with many recordings of many segments, "truncated file" alone is useless.

use std::path::PathBuf;

/// Result alias for the analyzer library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while analyzing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or reading a recording failed (missing, truncated, not
    /// ktape, unsupported version …); the message names the file.
    #[error(transparent)]
    Format(#[from] ktape_format::Error),

    /// Decoding a batch of a named file failed. The message is the path
    /// only: `{:#}` prints the chain, and repeating the source here
    /// printed the decoder's message twice.
    #[error("{}", path.display())]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// A column has a type this build does not expect.
    #[error("{}: column `{column}` has type {found}, expected {expected}", path.display())]
    ColumnType {
        path: PathBuf,
        column: String,
        found: String,
        expected: &'static str,
    },

    /// A segment of one table found in another table's folder.
    #[error("{}: a segment of table `{table}` in the `{folder}` folder (moved or copied there?)", path.display())]
    WrongTable {
        path: PathBuf,
        folder: String,
        table: String,
    },

    /// A column name that appears twice in a file's schema.
    #[error("{}: column `{column}` appears more than once", path.display())]
    DuplicateColumn { path: PathBuf, column: String },

    /// Values that cannot be what the file says they are (a dictionary
    /// key beyond its dictionary …): the file is damaged.
    #[error("{}: damaged data: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },

    /// A report's own table is in none of the recordings given.
    #[error("no `{table}` table in {recordings}: {hint}")]
    MissingTable {
        table: String,
        /// The recordings, comma-separated.
        recordings: String,
        /// Why it may be missing (from the table's family).
        hint: String,
    },

    /// A panic in the Parquet decoder on a named file, caught at the
    /// scan ([`crate::common::guarded`]) so that one damaged file is an
    /// error, not a crash.
    #[error("{}: could not be decoded ({detail}); the file is damaged", path.display())]
    DecodePanic { path: PathBuf, detail: String },

    /// A glob pattern matched nothing.
    #[error("{pattern}: no such file or directory (the pattern matches nothing)")]
    NoMatch { pattern: String },

    /// A glob pattern is malformed.
    #[error("{pattern}: bad pattern")]
    Glob {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },

    /// A `--from/--to` value could not be parsed or makes no sense.
    #[error("invalid time `{input}`: {reason}")]
    BadTime { input: String, reason: String },

    /// A duration could not be parsed.
    #[error("invalid duration `{input}`: {reason}")]
    BadDuration { input: String, reason: String },

    /// Options that do not fit together.
    #[error("{0}")]
    Usage(String),

    /// Writing the report failed (a closed pipe ends up here too; the
    /// binary treats that one as success).
    #[error("writing output")]
    Output(#[from] std::io::Error),
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Output(std::io::Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_each_cause_once() {
        // What the binary prints: `{:#}` of the whole chain.
        let chain = |e: Error| format!("{:#}", anyhow::Error::new(e));
        let e = Error::Arrow {
            path: "bio/000001.parquet".into(),
            source: arrow_schema::ArrowError::ParseError("bad page".into()),
        };
        let s = chain(e);
        assert_eq!(s, "bio/000001.parquet: Parser error: bad page");
        let s = chain(Error::Output(std::io::Error::other("disk full")));
        assert_eq!(s, "writing output: disk full");
    }
}
