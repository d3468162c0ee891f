//! `report`'s command line. The common options are kept as typed, so that
//! every view's report gets exactly the user's `--from`, `-p` … (and its
//! command, shown on the page, reads as the user wrote them).

use std::ffi::OsString;
use std::path::PathBuf;

use super::{build, ReportOptions, DEFAULT_MAX_LINES, DEFAULT_TOP};
use crate::common::{expand_paths, open_recordings, Options};
use crate::error::Error;
use crate::filter::Filter;
use crate::output::Out;
use crate::time::parse_time_spec;

/// `report` on the command line.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Where to write the HTML page.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// Rows of the tables of slowest I/Os and execs per command.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TOP)]
    top: usize,
    /// Lines of a listing (tcplife, exitsnoop …) shown before it is cut.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LINES)]
    max_lines: usize,
    /// The page's title. Default: "ktape report: HOSTS".
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Recordings (directories such as out.parquet); glob patterns are expanded.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Start of the time window: RFC 3339 (2025-01-31T12:00:00Z) or an offset from the recording's start (+10s, +1m30s; plain numbers are seconds).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    from: Option<String>,
    /// End of the time window (exclusive), same forms as --from.
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    to: Option<String>,
    /// Only this process id (tgid).
    #[arg(short = 'p', long, value_name = "PID")]
    pid: Option<i32>,
    /// Only this thread name (exact match on the kernel's 15-byte comm).
    #[arg(long, value_name = "COMM")]
    comm: Option<String>,
    /// Only this cgroup v2 id (the cgroup directory's inode number).
    #[arg(long, value_name = "ID")]
    cgroup: Option<i64>,
}

/// A `--from/--to` value, checked and kept as written.
fn time_arg(s: &str) -> Result<String, String> {
    parse_time_spec(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

impl crate::cli::Run for ReportArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        if self.output.as_os_str() == "-" {
            return Err(Error::Usage(
                "report writes a file: give -o a file name (report.html)".into(),
            ))
            .context("report");
        }
        let paths = expand_paths(&self.paths)?;
        let recs = open_recordings(&paths)?;
        let mut common_args: Vec<OsString> = Vec::new();
        let mut push = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                common_args.push(flag.into());
                common_args.push(v.into());
            }
        };
        push("--from", self.from.clone());
        push("--to", self.to.clone());
        push("--pid", self.pid.map(|p| p.to_string()));
        push("--comm", self.comm.clone());
        push("--cgroup", self.cgroup.map(|c| c.to_string()));
        let parse = |s: &Option<String>| s.as_deref().map(parse_time_spec).transpose();
        let opts = ReportOptions {
            paths,
            common_args,
            common: Options {
                from: parse(&self.from)?,
                to: parse(&self.to)?,
                filter: Filter {
                    pid: self.pid,
                    comm: self.comm.clone(),
                    cgroup_id: self.cgroup,
                },
                json: false,
            },
            top: self.top.max(1),
            max_lines: self.max_lines.max(1),
            title: self.title,
        };
        let started = std::time::Instant::now();
        let built = build(&recs, &opts).context("report")?;
        std::fs::write(&self.output, &built.html)
            .with_context(|| format!("report: writing {}", self.output.display()))?;
        writeln!(
            out.err,
            "report: wrote {} ({} sections, {} views{}, {:.1} KB) in {:.1}s",
            self.output.display(),
            built.sections,
            built.views,
            if built.failed > 0 {
                format!(", {} failed: see the page", built.failed)
            } else {
                String::new()
            },
            built.html.len() as f64 / 1e3,
            started.elapsed().as_secs_f64()
        )?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
