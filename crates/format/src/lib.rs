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
//! * one module per table family, each a file in `src/tables/` ([`bio`],
//!   [`exec`], [`sched`], [`tcp`], [`profile`], [`offcpu`], [`stacks`],
//!   [`runqlen`], [`open`], [`fileio`], [`cache`], [`loss`], [`process`],
//!   [`counters`]) with its [`schema::TableSpec`]s, a `TABLES` list and any
//!   decoding the recorder and analyzer share; `build.rs` lists the folder,
//!   so a new file there is declared and in [`tables()`] by itself;
//! * [`write`]: segment writers (write in `.in-progress/`, checkpoint every
//!   second, rename into the table folder when complete, owner-only
//!   permissions);
//! * [`checksum`]: the digests that let every reader detect damage;
//! * [`read`]: opening recordings, validating files and planning parallel
//!   scans over files and row groups.

pub mod checksum;
mod chunks;
mod dir;
pub mod error;
mod fleet;
pub mod layout;
pub mod meta;
mod pread;
pub mod read;
mod recording;
mod scan;
pub mod schema;
mod seal;
pub mod write;

// Every file in `src/tables/` is a table module, declared here by the list
// `build.rs` makes of that folder and re-exported at the crate root
// (`ktape_format::bio`, …).
mod tables {
    include!(concat!(env!("OUT_DIR"), "/tables.rs"));

    macro_rules! declare {
        ($($module:ident)*) => {
            $(pub mod $module;)*

            /// Each module's tables, modules in name order.
            pub(crate) static ALL: &[&[&crate::TableSpec]] = &[$($module::TABLES,)*];
        };
    }
    with_table_modules!(declare);
}
pub use tables::*;

pub use error::{Error, Result};
pub use schema::{ColumnSpec, ColumnType, TableSpec};

/// Version of the on-disk format this crate writes. Readers accept every
/// version listed in [`SUPPORTED_FORMAT_VERSIONS`]; `formats/CHANGELOG.md`
/// says what changed between versions.
pub const FORMAT_VERSION: u32 = 1;

/// Format versions this crate can read.
pub const SUPPORTED_FORMAT_VERSIONS: &[u32] = &[1];

/// Every table ktape can write: the modules of `src/tables/` in name
/// order, each module's tables in the order it lists them.
pub fn tables() -> &'static [&'static TableSpec] {
    static TABLES: std::sync::LazyLock<Vec<&'static TableSpec>> =
        std::sync::LazyLock::new(|| tables::ALL.iter().flat_map(|m| m.iter().copied()).collect());
    &TABLES
}

/// Looks a table up by its folder name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    tables().iter().copied().find(|t| t.name == name)
}
