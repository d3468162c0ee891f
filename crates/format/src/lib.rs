//! `ktape-format`: the one source of truth for what a ktape recording is.
//!
//! A recording is a directory (its name often ends in `.parquet`) with one
//! folder per table; each folder holds segment files `NNNNNN.parquet` that
//! share one schema. Every file carries the key-value metadata listed in
//! [`meta`], so a single file is self-describing.
//!
//! ```text
//! out.parquet/
//!   bio/000000.parquet        one row per completed block request
//!   exec/, exit/              execs (with arguments) and task exits
//!   sched_switch/000000.parquet  one row per context switch
//!   sched_wakeup/000000.parquet  one row per task wakeup
//!   loss/000000.parquet       events the kernel could not hand over
//!   process/000000.parquet    processes seen (a /proc snapshot at start)
//!   tcp_state/, tcp_accept/, tcp_retransmit/   the tcp family (-e tcp)
//!   profile/, offcpu/, stacks/   CPU samples, off-CPU episodes, their stacks
//!   open/                     open/openat/openat2 calls (-e open)
//!   file_op/                  reads, writes, syncs of regular files (-e fileio)
//!   cache/                    page-cache counters per second (-e cache)
//!   counters/                 the kernel's own counters at segment boundaries
//!   .in-progress/             segments being written, with checkpoint footers
//! ```
//!
//! This crate has no BPF dependency and builds on any OS. It holds:
//!
//! * [`schema`]: how a table and its columns are described (type, unit,
//!   doc); [`tables()`] lists every table. `formats/*.md` is checked
//!   against these descriptions by a test.
//! * one module per table family ([`bio`], [`exec`], [`sched`], [`tcp`], [`stacks`], [`open`], [`fileio`], [`cache`], [`loss`], [`process`]) with its
//!   [`schema::TableSpec`] and any decoding the recorder and analyzer share;
//! * [`write`]: segment writers (write in `.in-progress/`, checkpoint every
//!   second, rename into the table folder when complete, owner-only
//!   permissions);
//! * [`checksum`]: the digests that let every reader detect damage;
//! * [`read`]: opening recordings, validating files and planning parallel
//!   scans over files and row groups.

pub mod bio;
pub mod cache;
pub mod checksum;
mod chunks;
pub mod counters;
mod dir;
pub mod error;
pub mod exec;
pub mod fileio;
mod fleet;
pub mod layout;
pub mod loss;
pub mod meta;
pub mod open;
mod pread;
pub mod process;
pub mod read;
mod recording;
mod scan;
pub mod sched;
pub mod schema;
mod seal;
pub mod stacks;
pub mod tcp;
pub mod write;

pub use error::{Error, Result};
pub use schema::{ColumnSpec, ColumnType, TableSpec};

/// Version of the on-disk format this crate writes. Readers accept every
/// version listed in [`SUPPORTED_FORMAT_VERSIONS`]; `formats/CHANGELOG.md`
/// says what changed between versions.
pub const FORMAT_VERSION: u32 = 1;

/// Format versions this crate can read.
pub const SUPPORTED_FORMAT_VERSIONS: &[u32] = &[1];

/// Every table ktape can write, in the order reports list them.
pub fn tables() -> &'static [&'static TableSpec] {
    static TABLES: &[&TableSpec] = &[
        &bio::TABLE,
        &exec::EXEC_TABLE,
        &exec::EXIT_TABLE,
        &sched::SWITCH,
        &sched::WAKEUP,
        &tcp::STATE_TABLE,
        &tcp::ACCEPT_TABLE,
        &tcp::RETRANSMIT_TABLE,
        &loss::TABLE,
        &process::TABLE,
        &stacks::PROFILE_TABLE,
        &stacks::OFFCPU_TABLE,
        &stacks::STACKS_TABLE,
        &sched::RUNQLEN,
        &open::TABLE,
        &fileio::TABLE,
        &cache::TABLE,
        &counters::TABLE,
    ];
    TABLES
}

/// Looks a table up by its folder name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    tables().iter().copied().find(|t| t.name == name)
}
