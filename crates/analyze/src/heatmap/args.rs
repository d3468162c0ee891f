//! `heatmap`'s command line: its options into [`HeatmapOptions`], then the
//! SVG to `-o`, the cells to stdout with `--json`, and what was written
//! and the input's warnings on stderr.

use std::path::PathBuf;

use super::{compute, svg, write_json, HeatmapOptions, Of};
use crate::error::Error;
use crate::hist::LOG2_SLOTS;
use crate::output::Out;
use crate::time::format_secs;

/// `heatmap` on the command line.
#[derive(clap::Args)]
pub struct HeatmapArgs {
    /// Where to write the SVG (required unless --json); `-` writes it to stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// What to draw. Default: bio when the recording has it, else runqlat, else fileio.
    #[arg(long, value_enum, value_name = "WHAT")]
    of: Option<Of>,
    /// Length of a column (plain numbers are seconds; 100ms, 5s, 1m …). Default: the shortest of 100ms, 200ms, 500ms, 1s, 2s, 5s … that gives at most 200 columns.
    #[arg(short = 's', long, value_name = "SECS", value_parser = crate::cli::parse_secs_arg)]
    step: Option<i64>,
    /// Rows in milliseconds instead of microseconds.
    #[arg(short = 'm', long)]
    milliseconds: bool,
    /// --of bio: one map per disk.
    #[arg(short = 'D', long)]
    disks: bool,
    /// --of bio: include the time queued in the OS (as biolatency -Q).
    #[arg(short = 'Q', long)]
    queued: bool,
    /// --of fileio: only this operation (read, write, open, fsync).
    #[arg(long, value_name = "OP")]
    op: Option<String>,
    /// Linear latency rows of this many µs (ms with -m) each, from 0, instead of log2; the top row (64th) takes everything longer.
    #[arg(long, value_name = "STEP")]
    linear: Option<u64>,
    /// --of profile: rows per second (a divisor of 1000 up to 50). Default: 50, 20 ms each, as FlameScope.
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
    /// Times of day (title, hover texts) in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for HeatmapArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let opts = HeatmapOptions {
            common: self.common.options(),
            of: self.of,
            step_ns: self.step,
            millis: self.milliseconds,
            per_disk: self.disks,
            queued: self.queued,
            op: self.op,
            rows: self.rows,
            linear: self.linear,
        };
        if self.output.is_none() && !opts.common.json {
            return Err(Error::Usage(
                "heatmap draws an SVG: give -o FILE for it, or --json for the cells".into(),
            ))
            .context("heatmap");
        }
        if opts.common.json && self.output.as_ref().is_some_and(|p| p.as_os_str() == "-") {
            return Err(Error::Usage(
                "-o - and --json would both write to stdout: give -o a file name".into(),
            ))
            .context("heatmap");
        }
        let recs = self.common.open()?;
        let r = compute(&recs, &opts).context("heatmap")?;
        if opts.common.json {
            write_json(&r, out).context("heatmap")?;
        }
        if let Some(path) = &self.output {
            let image = svg(&r, self.localtime);
            if path.as_os_str() == "-" {
                out.out.write_all(image.as_bytes())?;
            } else {
                std::fs::write(path, image)
                    .with_context(|| format!("heatmap: writing {}", path.display()))?;
            }
            let cells: usize = r
                .maps
                .iter()
                .flat_map(|m| m.columns.iter())
                .map(|h| (0..LOG2_SLOTS).filter(|&s| h.slot(s) > 0).count())
                .sum();
            writeln!(
                out.err,
                "heatmap: wrote {} ({} map{}, {} columns of {}, {cells} cells)",
                path.display(),
                r.maps.len(),
                if r.maps.len() == 1 { "" } else { "s" },
                r.columns.len(),
                format_secs(r.step_ns)
            )?;
        }
        for w in &r.warnings {
            writeln!(out.err, "{w}")?;
        }
        if !opts.common.json {
            if let Some(w) = r.loss.warning() {
                writeln!(out.err, "{w}")?;
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}

