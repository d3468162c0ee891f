//! `perfetto`'s command line: the trace to `-o` (a file, or stdout with
//! `-o -`), then what it holds: one line on stderr, or with `--json` a
//! JSON summary on stdout (counts per kind of event, packets, bytes).

use std::io::BufWriter;
use std::path::PathBuf;

use super::{prepare, write_trace, PerfettoOptions, Sink, Summary};
use crate::error::Error;
use crate::output::Out;

/// `perfetto` on the command line.
#[derive(clap::Args)]
pub struct PerfettoArgs {
    /// Where to write the trace (open it at ui.perfetto.dev); `-` writes it to stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for PerfettoArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let opts = PerfettoOptions {
            common: self.common.options(),
        };
        let to_stdout = self.output.as_os_str() == "-";
        if opts.common.json && to_stdout {
            return Err(Error::Usage(
                "-o - and --json would both write to stdout: give -o a file name".into(),
            ))
            .context("perfetto");
        }
        let recs = self.common.open()?;
        // Everything that can refuse the input does so before the output
        // is created.
        let ctx = prepare(&recs, &opts).context("perfetto")?;
        let summary: Summary = if to_stdout {
            let mut sink = Sink::new(&mut *out.out, "stdout");
            write_trace(&ctx, &mut sink).context("perfetto")?
        } else {
            let path = &self.output;
            let file = std::fs::File::create(path)
                .with_context(|| format!("perfetto: creating {}", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let name = path.display().to_string();
            let r = {
                let mut sink = Sink::new(&mut w, &name);
                write_trace(&ctx, &mut sink)
            };
            match r.and_then(|s| {
                w.into_inner()
                    .map_err(|e| Error::Output(std::io::Error::new(e.error().kind(), format!("{name}: {}", e.error()))))?;
                Ok(s)
            }) {
                Ok(s) => s,
                Err(e) => {
                    // No half-written trace is left behind.
                    let _ = std::fs::remove_file(path);
                    return Err(e).context("perfetto");
                }
            }
        };
        if opts.common.json {
            let mut v = serde_json::to_value(&summary)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("report".into(), "perfetto".into());
            }
            writeln!(out.out, "{}", serde_json::to_string(&v)?)?;
        }
        let slices: u64 = summary.slices.values().sum();
        let instants: u64 = summary.instants.values().sum();
        writeln!(
            out.err,
            "perfetto: wrote {} ({} bytes, {} packets: {} switches, {} wakeups, {} samples, {slices} slices, {instants} instants, {} process rows)",
            if to_stdout { "stdout".to_string() } else { self.output.display().to_string() },
            summary.bytes,
            summary.packets,
            summary.switches,
            summary.wakeups,
            summary.samples,
            summary.process_rows,
        )?;
        for w in &summary.warnings {
            out.warn(w)?;
        }
        for t in super::EVENT_TABLES {
            if let Some(note) = crate::common::incomplete_note(&recs, t) {
                out.warn(&note)?;
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}
