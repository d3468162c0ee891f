//! `flamegraph`: SVG flame graphs of CPU samples, off-CPU time or off-CPU
//! time with the wakers' stacks on top (offwake), drawn by inferno from the
//! same folded stacks `profile -f` / `offcputime -f` / `offwaketime -f`
//! print, and differential flame graphs between two windows or two
//! recordings (inferno's differential: red got hotter, blue colder).

use std::path::PathBuf;

use inferno::flamegraph::color::{BasicPalette, MultiPalette, Palette};
use ktape_format::read::Recording;

use crate::common::{Options, Window};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::offwaketime::{self, View};
use crate::output::Out;
use crate::profile::{compute_checked, compute_in, Source, StackReport};
use crate::stacks::StackParts;
use crate::time::format_rfc3339;

/// What the flame graph's widths are (`--type`): `Cpu`, CPU samples (the
/// `profile` table), `Offcpu`, time blocked in µs (the `offcpu` table), or
/// `Offwake`, time blocked in µs by blocked and waker stack (the `wakeup`
/// table).
/// (No doc comments on the variants: clap would print them as a
/// possible-values list in `--help`'s long layout.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    #[default]
    Cpu,
    Offcpu,
    Offwake,
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
        Kind::Offcpu => Source::Offcpu {
            min_us: None,
            max_us: None,
            state: None,
        },
        _ => Source::Cpu,
    }
}

/// What one side of a flame graph draws: its folded lines and what they
/// cover.
struct Drawn {
    folded: String,
    stacks: usize,
    rows: u64,
    window: Window,
    loss: Loss,
    warnings: Vec<String>,
}

fn from_stacks(r: StackReport, parts: StackParts) -> Drawn {
    let mut s = String::new();
    for st in &r.stacks {
        s.push_str(&st.folded(parts));
        s.push(' ');
        s.push_str(&st.value.to_string());
        s.push('\n');
    }
    Drawn {
        folded: s,
        stacks: r.stacks.len(),
        rows: r.rows,
        window: r.window,
        loss: r.loss,
        warnings: r.warnings,
    }
}

fn from_pairs(r: offwaketime::PairReport, parts: StackParts) -> Drawn {
    let mut s = String::new();
    for p in &r.pairs {
        s.push_str(&offwaketime::folded(p, parts));
        s.push(' ');
        s.push_str(&p.value.to_string());
        s.push('\n');
    }
    Drawn {
        folded: s,
        stacks: r.pairs.len(),
        rows: r.rows,
        window: r.window,
        loss: r.loss,
        warnings: r.warnings,
    }
}

/// One side's folded stacks: over `window` if given, else over the
/// window of `common` after checking the tables.
fn draw(
    recordings: &[Recording],
    kind: Kind,
    common: &Options,
    parts: StackParts,
    window: Option<Window>,
) -> Result<Drawn> {
    let sel = offwaketime::Select::default();
    let view = View::Offwake(parts);
    Ok(match (kind, window) {
        (Kind::Offwake, None) => from_pairs(
            offwaketime::compute_checked(recordings, &sel, view, common)?,
            parts,
        ),
        (Kind::Offwake, Some(w)) => from_pairs(
            offwaketime::compute_in(recordings, &sel, view, common, w)?,
            parts,
        ),
        (_, None) => from_stacks(
            compute_checked(recordings, &source(kind), common, parts)?,
            parts,
        ),
        (_, Some(w)) => from_stacks(
            compute_in(recordings, &source(kind), common, parts, w)?,
            parts,
        ),
    })
}

fn hosts(recordings: &[Recording]) -> String {
    let mut h: Vec<&str> = recordings.iter().map(|r| r.info.host.as_str()).collect();
    h.sort();
    h.dedup();
    h.join(", ")
}

fn describe(recordings: &[Recording], r: &Drawn, kind: Kind) -> String {
    let what = match kind {
        Kind::Cpu => "samples",
        Kind::Offcpu => "off-CPU episodes",
        Kind::Offwake => "wakeups",
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
    let after = draw(recordings, opts.kind, &opts.common, opts.parts, None)?;
    let mut warnings = after.warnings.clone();
    let mut fg = inferno::flamegraph::Options::default();
    let (title, count_name) = match opts.kind {
        Kind::Cpu => ("CPU flame graph", "samples"),
        Kind::Offcpu => ("Off-CPU flame graph", "us"),
        Kind::Offwake => ("Off-wake flame graph", "us"),
    };
    fg.count_name = count_name.to_string();
    match opts.kind {
        Kind::Offcpu => fg.colors = Palette::Basic(BasicPalette::Blue),
        // Frames above the `--` (the waker's) in their own hue.
        Kind::Offwake => fg.colors = Palette::Multi(MultiPalette::Wakeup),
        Kind::Cpu => {}
    }
    let mut folded = after.folded.clone();
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
                        draw(recordings, opts.kind, &opts.common, opts.parts, Some(win))?,
                    )
                }
                Before::Recordings(r) => (
                    r.as_slice(),
                    draw(r, opts.kind, &opts.common, opts.parts, None)?,
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
            let mut diff = Vec::new();
            inferno::differential::from_readers(
                inferno::differential::Options::default(),
                b.folded.as_bytes(),
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
    if opts.output.as_os_str() == "-" {
        out.out.write_all(&svg)?;
    } else {
        std::fs::write(&opts.output, &svg)
            .map_err(|e| Error::Usage(format!("writing {}: {e}", opts.output.display())))?;
    }
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
        after.stacks
    )?;
    Ok(())
}

/// `flamegraph` on the command line.
#[derive(clap::Args)]
pub struct FlamegraphArgs {
    /// Where to write the SVG; `-` writes it to stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    /// cpu: width is CPU samples (profile table); offcpu: width is time blocked (offcpu table); offwake: time blocked, the blocked stack below `--` and the waker's stack above it (wakeup table).
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
