//! `flamegraph`: SVG flame graphs of CPU samples or off-CPU time, drawn by
//! inferno from the same folded stacks `profile -f` / `offcputime -f`
//! print, and differential flame graphs between two windows or two
//! recordings (inferno's differential: red got hotter, blue colder).

use std::path::PathBuf;

use inferno::flamegraph::color::{BasicPalette, Palette};
use ktape_format::read::Recording;

use crate::common::{Options, Window};
use crate::error::{Error, Result};
use crate::output::Out;
use crate::profile::{compute_checked, compute_in, Source, StackReport};
use crate::stacks::StackParts;
use crate::time::format_rfc3339;

/// What the flame graph's widths are (`--type`): `Cpu`, CPU samples (the
/// `profile` table), or `Offcpu`, time blocked in µs (the `offcpu` table).
/// (No doc comments on the variants: clap would print them as a
/// possible-values list in `--help`'s long layout.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    #[default]
    Cpu,
    Offcpu,
}

/// The "before" side of `--diff`.
#[derive(Debug, Clone)]
pub enum Before {
    /// Another window of the same recordings (`--before FROM,TO`).
    Window(Options),
    /// Another recording (the first PATH).
    Recordings(Vec<Recording>),
}

/// Options of `flamegraph`.
#[derive(Debug, Clone, Default)]
pub struct FlamegraphOptions {
    pub common: Options,
    pub parts: StackParts,
    pub kind: Kind,
    /// Where the SVG goes.
    pub output: PathBuf,
    /// `--diff`: draw after − before.
    pub diff: Option<Before>,
}

fn source(kind: Kind) -> Source {
    match kind {
        Kind::Cpu => Source::Cpu,
        Kind::Offcpu => Source::Offcpu {
            min_us: None,
            max_us: None,
            state: None,
        },
    }
}

fn folded_text(r: &StackReport, parts: StackParts) -> String {
    let mut s = String::new();
    for st in &r.stacks {
        s.push_str(&st.folded(parts));
        s.push(' ');
        s.push_str(&st.value.to_string());
        s.push('\n');
    }
    s
}

fn hosts(recordings: &[Recording]) -> String {
    let mut h: Vec<&str> = recordings.iter().map(|r| r.info.host.as_str()).collect();
    h.sort();
    h.dedup();
    h.join(", ")
}

fn describe(recordings: &[Recording], r: &StackReport, kind: Kind) -> String {
    let what = match kind {
        Kind::Cpu => "samples",
        Kind::Offcpu => "off-CPU episodes",
    };
    format!(
        "{} {} .. {}: {} {what}, {} lost",
        hosts(recordings),
        format_rfc3339(r.window.start_ns),
        format_rfc3339(r.window.end_ns),
        r.rows,
        r.loss.total()
    )
}

/// Draws the flame graph into `opts.output`.
pub fn run(recordings: &[Recording], opts: &FlamegraphOptions, out: &mut Out<'_>) -> Result<()> {
    let src = source(opts.kind);
    let after = compute_checked(recordings, &src, &opts.common, opts.parts)?;
    let mut warnings = after.warnings.clone();
    let mut fg = inferno::flamegraph::Options::default();
    let (title, count_name) = match opts.kind {
        Kind::Cpu => ("CPU flame graph", "samples"),
        Kind::Offcpu => ("Off-CPU flame graph", "us"),
    };
    fg.count_name = count_name.to_string();
    if opts.kind == Kind::Offcpu {
        fg.colors = Palette::Basic(BasicPalette::Blue);
    }
    let mut folded = folded_text(&after, opts.parts);
    match &opts.diff {
        None => {
            fg.title = format!("{title}: {}", describe(recordings, &after, opts.kind));
        }
        Some(before) => {
            let (brecs, b) = match before {
                Before::Window(w) => {
                    let win = Window::resolve(w, recordings)?;
                    (
                        recordings,
                        compute_in(recordings, &src, &opts.common, opts.parts, win)?,
                    )
                }
                Before::Recordings(r) => (
                    r.as_slice(),
                    compute_checked(r, &src, &opts.common, opts.parts)?,
                ),
            };
            let before_only: Vec<String> = b
                .warnings
                .iter()
                .filter(|w| !warnings.contains(w))
                .map(|w| format!("before: {w}"))
                .collect();
            warnings.extend(before_only);
            fg.title = format!("Differential {}", title.to_lowercase());
            fg.subtitle = Some(format!(
                "before: {} | after: {}",
                describe(brecs, &b, opts.kind),
                describe(recordings, &after, opts.kind)
            ));
            let before_text = folded_text(&b, opts.parts);
            let mut diff = Vec::new();
            inferno::differential::from_readers(
                inferno::differential::Options::default(),
                before_text.as_bytes(),
                folded.as_bytes(),
                &mut diff,
            )
            .map_err(Error::Output)?;
            folded = String::from_utf8_lossy(&diff).into_owned();
        }
    }
    if folded.trim().is_empty() {
        return Err(Error::Usage(
            "no stacks match the window and filters: nothing to draw".into(),
        ));
    }
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut fg, folded.lines(), &mut svg).map_err(Error::Output)?;
    std::fs::write(&opts.output, &svg)
        .map_err(|e| Error::Usage(format!("writing {}: {e}", opts.output.display())))?;
    if let Some(w) = after.loss.warning() {
        out.warn(&w)?;
    }
    for w in &warnings {
        out.warn(w)?;
    }
    writeln!(
        out.err,
        "wrote {} ({} stacks)",
        opts.output.display(),
        after.stacks.len()
    )?;
    Ok(())
}

/// `flamegraph` on the command line.
#[derive(clap::Args)]
pub struct FlamegraphArgs {
    /// Where to write the SVG.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// cpu: width is CPU samples (profile table); offcpu: width is time blocked (offcpu table).
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value_t = Kind::Cpu)]
    kind: Kind,
    /// Differential flame graph: with two PATHs, the first is before and the second after; with one, --before gives the before window and --from/--to the after window.
    #[arg(long)]
    diff: bool,
    /// With --diff on one recording: the before window, FROM,TO (same forms as --from).
    #[arg(long, value_name = "FROM,TO", requires = "diff")]
    before: Option<String>,
    #[command(flatten)]
    parts: crate::stacks::PartsArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for FlamegraphArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use crate::common::open_recordings;
        use anyhow::Context;
        let a = self;
        let common = a.common.options();
        let (recs, diff) = match (a.diff, &a.before, a.common.paths.len()) {
            (false, _, _) => (a.common.open()?, None),
            (true, None, 2) => {
                let before = open_recordings(&a.common.paths[..1])?;
                let after = open_recordings(&a.common.paths[1..])?;
                (after, Some(Before::Recordings(before)))
            }
            (true, Some(w), 1) => {
                let (f, t) = w
                    .split_once(',')
                    .context("--before takes FROM,TO (for example +0s,+10s)")?;
                let before = Options {
                    from: Some(crate::time::parse_time_spec(f.trim())?),
                    to: Some(crate::time::parse_time_spec(t.trim())?),
                    ..common.clone()
                };
                (a.common.open()?, Some(Before::Window(before)))
            }
            (true, None, _) => anyhow::bail!(
                "--diff needs two recordings (before, after), or one recording with --before FROM,TO"
            ),
            (true, Some(_), _) => {
                anyhow::bail!(
                    "--diff with --before compares two windows of one recording: give one PATH"
                )
            }
        };
        let opts = FlamegraphOptions {
            common,
            parts: a.parts.parts(),
            kind: a.kind,
            output: a.output,
            diff,
        };
        run(&recs, &opts, out).context("flamegraph")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
