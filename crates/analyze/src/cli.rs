//! The command line's shared pieces, so that each report module can own
//! its clap arguments (its `…Args` struct next to its `…Options`) and the
//! binary stays a dispatch over one list of reports.
//!
//! Each report's arguments turn into its library options in exactly one
//! place (its [`Run`] impl); defaults live in the report module as
//! constants that both the clap attribute and `Default` use.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ktape_format::read::Recording;

use crate::common::{open_recordings, Options};
use crate::filter::Filter;
use crate::output::Out;
use crate::time::{parse_duration, parse_time_spec, DefaultUnit, TimeSpec};

/// A subcommand: parsed arguments that know how to run themselves.
pub trait Run {
    /// Runs the report, writing to `out`. The exit code is success unless
    /// the subcommand has a verdict of its own (`verify`).
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<ExitCode>;
}

/// Options every report takes.
#[derive(Args)]
pub struct CommonArgs {
    /// Recordings (directories such as out.parquet); glob patterns are expanded.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
    /// Start of the time window: RFC 3339 (2025-01-31T12:00:00Z) or an offset from the recording's start (+10s, +1m30s; plain numbers are seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub from: Option<TimeSpec>,
    /// End of the time window (exclusive), same forms as --from.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub to: Option<TimeSpec>,
    /// Only this process id (tgid).
    #[arg(short = 'p', long, value_name = "PID")]
    pub pid: Option<i32>,
    /// Only this thread name (exact match on the kernel's 15-byte comm).
    #[arg(long, value_name = "COMM")]
    pub comm: Option<String>,
    /// Only this cgroup v2 id (the cgroup directory's inode number).
    #[arg(long, value_name = "ID")]
    pub cgroup: Option<i64>,
}

impl CommonArgs {
    /// The library's common options.
    pub fn options(&self) -> Options {
        Options {
            from: self.from,
            to: self.to,
            filter: Filter {
                pid: self.pid,
                comm: self.comm.clone(),
                cgroup_id: self.cgroup,
            },
            json: self.json,
        }
    }

    /// Opens the PATHs (globs expanded).
    pub fn open(&self) -> crate::Result<Vec<Recording>> {
        open_recordings(&self.paths)
    }
}

/// `--from`/`--to` values.
pub fn parse_time_arg(s: &str) -> Result<TimeSpec, String> {
    parse_time_spec(s).map_err(|e| e.to_string())
}

/// Durations whose plain numbers are seconds (`--interval`).
pub fn parse_secs_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Seconds).map_err(|e| e.to_string())
}

/// Durations whose plain numbers are microseconds.
pub fn parse_us_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Micros).map_err(|e| e.to_string())
}

/// Durations whose plain numbers are milliseconds.
pub fn parse_ms_arg(s: &str) -> Result<i64, String> {
    parse_duration(s, DefaultUnit::Millis).map_err(|e| e.to_string())
}

/// `--interval`/`--count` of the reports that print one result per
/// interval of recorded time.
#[derive(Args)]
pub struct IntervalArgs {
    /// One histogram per interval of recorded time (plain numbers are seconds; 500ms, 1m …); times are printed.
    #[arg(short = 'i', long, value_name = "SECS", value_parser = parse_secs_arg)]
    pub interval: Option<i64>,
    /// Print at most this many intervals (needs --interval).
    #[arg(long, value_name = "N", requires = "interval")]
    pub count: Option<u64>,
}

/// -T/--localtime of the reports with a time-of-day column.
#[derive(Args)]
pub struct ClockArgs {
    /// Include a TIME column (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    pub time: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    pub localtime: bool,
}
