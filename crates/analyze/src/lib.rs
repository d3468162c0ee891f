//! `ktape-analyze`: bcc-style reports from ktape recordings, on any machine,
//! without root or BPF.
//!
//! A recording is plain Parquet (see `ktape-format`); each report here reads
//! only the columns and row groups it needs, in parallel over
//! (segment, row group) scan units with rayon, and folds rows into small
//! per-thread accumulators that are merged at the end, so memory stays
//! bounded however large the recording is (biosnoop is the exception by
//! nature: it sorts the rows it prints, keeping only the printed columns).
//!
//! Layout, one module per report plus shared pieces:
//!
//! * [`verify`] (and `recover`): every file's checksums, one by one;
//!   [`crosscheck`]: rows against the kernel's own counters;
//! * the reports: [`summary`], [`biolatency`], [`biosnoop`],
//!   [`execsnoop`], [`exitsnoop`], [`opensnoop`], [`fsslower`],
//!   [`filetop`], [`cachestat`]; [`tcp`]: the six TCP reports (tcpconnect,
//!   tcpaccept, tcplife, tcpconnlat, tcpretrans, tcpstates);
//! * [`profile`] (profile and offcputime) and [`flamegraph`] over the
//!   shared stack code in [`stacks`];
//! * [`runqlat`], [`runqslower`], [`runqlen`], [`cpudist`]: the scheduler
//!   reports; runqlat, cpudist and runqslower pair events through
//!   [`pairing`], and cpudist reuses runqlat's histogram sets;
//! * [`hist`]: log2 and linear histograms, printed exactly like bcc's
//!   libbpf-tools `print_log2_hist` / `print_linear_hist`;
//! * [`cli`]: the command line's shared pieces; each report module owns
//!   its clap arguments (`…Args`) and turns them into its `…Options`;
//! * [`common`]: the options every report takes ([`common::Options`]),
//!   opening recordings (paths and globs) and the notes about the input;
//!   [`window`]: the time window and `--interval` steps; [`scan`]: the
//!   parallel scans and their guards;
//! * [`filter`]: the row filters (`-p`, `--comm`, `--cgroup`);
//! * [`loss`]: reading the `loss` table so that no result hides lost events;
//! * [`tables`]: which tables each report reads, and the error or warning
//!   when one is missing, so that no result is quietly different;
//! * [`time`]: parsing `--from/--to` and durations, formatting times;
//! * [`columns`]: typed access to Arrow columns by name;
//! * [`output`]: small helpers for text and JSON output;
//! * [`error`]: the error type, each variant naming what went wrong.
//!
//! Text output matches the bcc tool a report replaces, byte for byte in the
//! histogram and table blocks; `--json` gives machine output. Warnings
//! (lost events, empty results) go to the second writer (stderr in the
//! binary) so stdout stays what bcc would print.

pub mod biolatency;
pub mod biosnoop;
pub mod cachestat;
pub mod cli;
pub mod columns;
pub mod common;
pub mod cpudist;
pub mod crosscheck;
pub mod error;
pub mod execsnoop;
pub mod exitsnoop;
pub mod filetop;
pub mod filter;
pub mod flamegraph;
pub mod fsslower;
pub mod hist;
pub mod loss;
pub mod opensnoop;
pub mod output;
pub mod pairing;
pub mod profile;
pub mod runqlat;
pub mod runqlen;
pub mod runqslower;
pub mod scan;
pub mod stacks;
pub mod summary;
pub mod tables;
pub mod tcp;
pub mod time;
pub mod verify;
pub mod window;

pub use common::Options;
pub use error::{Error, Result};
pub use filter::Filter;
