//! `report`: one self-contained HTML page for a whole recording: the
//! summary (hosts, kernel, window, tables, loss, cross-checks), then for
//! each family recorded its key views: histograms, heat maps, flame
//! graphs, the slowest requests, the busiest commands.
//!
//! Nothing on the page is computed here. Every view is the output of
//! another report of this crate, run in-process with the same PATHs and
//! common options, and each says the command that gives it on a terminal.
//! So the page cannot disagree with the text reports, and a reader who
//! wants more (`-D`, `--interval`, another window) knows what to type.
//! The two tables built here (the slowest block I/Os, execs per command)
//! come from biosnoop's and execsnoop's rows, unfiltered beyond the
//! common options.
//!
//! The file needs nothing else to open, offline: styles are inline, heat
//! maps are inline SVG (their cells' hover titles work), and each flame
//! graph is inferno's SVG in an `<iframe>` of its own (a `data:` URL), so
//! that its script (search, zoom) runs as it does in the standalone file
//! and the graphs' element ids cannot collide with each other or the page.
//!
//! A view whose report fails (a table with no rows in the window, say) is
//! replaced by its error, in the section; the page is still written. Its
//! warnings (lost events, an incomplete segment) are shown beside it.

mod args;
mod html;

pub use args::ReportArgs;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use ktape_format::read::Recording;

use crate::common::Options;
use crate::error::Result;
use crate::output::Out;

/// Rows in the tables of slowest I/Os and busiest commands, by default.
pub const DEFAULT_TOP: usize = 20;
/// Lines of a listing (tcplife, opensnoop …) shown before it is cut, by
/// default.
pub const DEFAULT_MAX_LINES: usize = 60;

/// Options of `report`.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The recordings, as given (globs already expanded).
    pub paths: Vec<PathBuf>,
    /// The common options as arguments, passed on to every view's report.
    pub common_args: Vec<OsString>,
    /// The same options, parsed, for the tables built here.
    pub common: Options,
    /// Rows of the top-N tables. Default: [`DEFAULT_TOP`].
    pub top: usize,
    /// Lines of a listing before it is cut. Default: [`DEFAULT_MAX_LINES`].
    pub max_lines: usize,
    /// The page's title. Default: "ktape report: HOSTS".
    pub title: Option<String>,
}

/// A view of a section.
#[derive(Debug, Clone, Copy)]
enum View {
    /// A report's text output, as printed on a terminal.
    Text(&'static [&'static str]),
    /// A histogram report's text, under its total count (the sum of its
    /// buckets) as a headline number with this label and element id.
    Hist(&'static [&'static str], &'static str, &'static str),
    /// A heat map (`heatmap … -o -`), inlined.
    Heatmap(&'static [&'static str]),
    /// A flame graph (`flamegraph … -o -`), in its own frame.
    Flame(&'static [&'static str]),
    /// The slowest block I/Os (biosnoop's rows, by latency).
    SlowestIo,
    /// Execs per command name (execsnoop -x's rows).
    TopExecs,
}

/// A section of the page: shown when any recording has `family`.
struct Section {
    family: &'static str,
    title: &'static str,
    views: &'static [View],
}

use View::*;

/// The sections, in page order.
const SECTIONS: &[Section] = &[
    Section {
        family: "bio",
        title: "Block I/O",
        views: &[
            Hist(&["biolatency"], "I/Os", "bio-total"),
            Heatmap(&["heatmap", "--of", "bio"]),
            SlowestIo,
            Text(&["biotop"]),
        ],
    },
    Section {
        family: "sched",
        title: "Scheduler",
        views: &[
            Hist(&["runqlat"], "wakeups", "runqlat-total"),
            Heatmap(&["heatmap", "--of", "runqlat"]),
            Text(&["cpudist"]),
        ],
    },
    Section {
        family: "runqlen",
        title: "Run-queue length",
        views: &[Text(&["runqlen"]), Text(&["cpuunclaimed"])],
    },
    Section {
        family: "profile",
        title: "CPU profile",
        views: &[
            Flame(&["flamegraph"]),
            Heatmap(&["heatmap", "--of", "profile"]),
        ],
    },
    Section {
        family: "offcpu",
        title: "Off-CPU time",
        views: &[
            Flame(&["flamegraph", "--type", "offcpu"]),
            Heatmap(&["heatmap", "--of", "offcpu"]),
        ],
    },
    Section {
        family: "wakeup",
        title: "Wakeups",
        views: &[Flame(&["flamegraph", "--type", "offwake"])],
    },
    Section {
        family: "exec",
        title: "Processes",
        views: &[TopExecs, Text(&["pidpersec"]), Text(&["exitsnoop", "-x"])],
    },
    Section {
        family: "tcp",
        title: "TCP",
        views: &[
            Text(&["tcplife"]),
            Text(&["tcpconnlat"]),
            Heatmap(&["heatmap", "--of", "tcpconnlat"]),
            Text(&["tcpretrans"]),
        ],
    },
    Section {
        family: "fileio",
        title: "File I/O",
        views: &[
            Text(&["fsdist"]),
            Heatmap(&["heatmap", "--of", "fileio"]),
            Text(&["fsslower"]),
            Text(&["filetop"]),
        ],
    },
    Section {
        family: "open",
        title: "Opens",
        views: &[Text(&["opensnoop", "-x"])],
    },
    Section {
        family: "cache",
        title: "Page cache",
        views: &[Text(&["cachestat"])],
    },
    Section {
        family: "syscall",
        title: "System calls",
        views: &[Text(&["syscount"]), Text(&["syscallslower"])],
    },
    Section {
        family: "irq",
        title: "Interrupts",
        views: &[Text(&["hardirqs"]), Text(&["softirqs"])],
    },
    Section {
        family: "signal",
        title: "Signals",
        views: &[Text(&["killsnoop"])],
    },
    Section {
        family: "oom",
        title: "OOM kills",
        views: &[Text(&["oomkill"])],
    },
    Section {
        family: "mount",
        title: "Mounts",
        views: &[Text(&["mountsnoop"])],
    },
    Section {
        family: "stat",
        title: "Stats",
        views: &[Text(&["statsnoop"])],
    },
    Section {
        family: "sync",
        title: "Syncs",
        views: &[Text(&["syncsnoop"])],
    },
];

/// The command line of one in-process run, for [`Ran`].
#[derive(Parser)]
#[command(name = "ktape-analyze")]
struct Sub {
    #[command(subcommand)]
    command: crate::Command,
}

/// What one report printed.
pub(crate) struct Ran {
    /// The command that prints the same on a terminal.
    pub command: String,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr lines (warnings, notes).
    pub notes: Vec<String>,
    /// Its error, if it failed.
    pub error: Option<String>,
}

impl ReportOptions {
    /// `ktape-analyze ARGS [-o -] COMMON PATHS`, and how it is shown (as
    /// typed on a terminal, without the `-o -`).
    fn argv(&self, args: &[&str], to_stdout: bool) -> (Vec<OsString>, String) {
        let mut argv: Vec<OsString> = vec!["ktape-analyze".into()];
        argv.extend(args.iter().map(OsString::from));
        let shown_upto = argv.len();
        if to_stdout {
            argv.extend(["-o".into(), "-".into()]);
        }
        let rest = argv.len();
        argv.extend(self.common_args.iter().cloned());
        argv.extend(self.paths.iter().map(|p| p.clone().into_os_string()));
        let shown: Vec<String> = argv[..shown_upto]
            .iter()
            .chain(&argv[rest..])
            .map(|a| shell_word(&a.to_string_lossy()))
            .collect();
        (argv, shown.join(" "))
    }

    /// The command line of `args` on these recordings.
    pub(crate) fn run_command(&self, args: &[&str]) -> String {
        self.argv(args, false).1
    }

    /// Runs `ktape-analyze ARGS [-o -] COMMON PATHS` in this process.
    fn run(&self, args: &[&str], to_stdout: bool) -> Ran {
        let (argv, command) = self.argv(args, to_stdout);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let result = match Sub::try_parse_from(&argv) {
            // A view's arguments are ours, not the user's: a parse error
            // is a bug, shown where the view would be.
            Err(err) => Err(anyhow::anyhow!("{err}")),
            Ok(sub) => {
                let mut out = Out::new(&mut o, &mut e);
                sub.command.run(&mut out)
            }
        };
        let notes = String::from_utf8_lossy(&e)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        Ran {
            command,
            stdout: o,
            notes,
            error: result.err().map(|e| format!("{e:#}")),
        }
    }
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What [`build`] made: the page and how many views failed.
pub struct Built {
    /// The HTML.
    pub html: String,
    /// Sections on the page.
    pub sections: usize,
    /// Views on the page.
    pub views: usize,
    /// Views whose report failed (each shows its error on the page).
    pub failed: usize,
}

/// What a view's report gave, before it is put on the page.
enum Output {
    Ran(Ran),
    Slowest(Result<Vec<crate::biosnoop::Row>>),
    Execs(Result<Vec<crate::execsnoop::ExecRow>>),
}

/// Runs the report of one view.
fn compute(view: View, recordings: &[Recording], opts: &ReportOptions) -> Output {
    match view {
        Text(args) | Hist(args, _, _) => Output::Ran(opts.run(args, false)),
        Heatmap(args) | Flame(args) => Output::Ran(opts.run(args, true)),
        SlowestIo => Output::Slowest(html::slowest_io(recordings, opts)),
        TopExecs => Output::Execs(html::execs(recordings, opts)),
    }
}

/// Builds the page for `recordings` (opened from `opts.paths`). The
/// views' reports run in parallel (each also scans in parallel): on a
/// big recording a few of them (runqlat's pairing, cpudist) are partly
/// sequential, and side by side they keep every CPU busy.
pub fn build(recordings: &[Recording], opts: &ReportOptions) -> Result<Built> {
    use rayon::prelude::*;
    let has = |family: &str| {
        recordings
            .iter()
            .any(|r| r.info.families.iter().any(|f| f == family))
    };
    let sections: Vec<&Section> = SECTIONS.iter().filter(|s| has(s.family)).collect();
    let ((summary, summary_text), outputs) = rayon::join(
        || {
            rayon::join(
                || opts.run(&["summary", "--json"], false),
                || opts.run(&["summary"], false),
            )
        },
        || {
            sections
                .par_iter()
                .map(|s| {
                    s.views
                        .par_iter()
                        .map(|&v| compute(v, recordings, opts))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        },
    );
    let mut page = html::Page::new(recordings, opts);
    page.summary(&summary, &summary_text)?;
    for (section, outputs) in sections.iter().zip(outputs) {
        page.start_section(section.family, section.title);
        for (view, output) in section.views.iter().zip(outputs) {
            match (*view, output) {
                (Hist(_, label, id), Output::Ran(r)) => page.hist(&r, label, id),
                (Heatmap(_), Output::Ran(r)) => page.heatmap(&r),
                (Flame(_), Output::Ran(r)) => page.flame(&r),
                (_, Output::Ran(r)) => page.text(&r),
                (_, Output::Slowest(rows)) => page.slowest_io(rows, opts),
                (_, Output::Execs(rows)) => page.top_execs(rows, opts),
            }
        }
        page.end_section();
    }
    Ok(page.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("out.parquet"), "out.parquet");
        assert_eq!(shell_word("+10s"), "+10s");
        assert_eq!(shell_word("my dir"), "'my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("recs/host=*"), "'recs/host=*'");
    }

    #[test]
    fn every_view_parses_as_a_command() {
        let opts = ReportOptions {
            paths: vec!["x.parquet".into()],
            common_args: vec!["--from".into(), "+1s".into()],
            common: Options::default(),
            top: DEFAULT_TOP,
            max_lines: DEFAULT_MAX_LINES,
            title: None,
        };
        for s in SECTIONS {
            for v in s.views {
                let (args, out, json): (&[&str], bool, bool) = match *v {
                    Text(a) => (a, false, false),
                    Hist(a, _, _) => (a, false, false),
                    Heatmap(a) | Flame(a) => (a, true, false),
                    SlowestIo | TopExecs => continue,
                };
                let mut argv: Vec<OsString> = vec!["ktape-analyze".into()];
                argv.extend(args.iter().map(OsString::from));
                if json {
                    argv.push("--json".into());
                }
                if out {
                    argv.extend(["-o".into(), "-".into()]);
                }
                argv.extend(opts.common_args.iter().cloned());
                argv.push("x.parquet".into());
                if let Err(e) = Sub::try_parse_from(&argv) {
                    panic!("{}: {args:?} does not parse: {e}", s.family);
                }
            }
        }
    }
}
