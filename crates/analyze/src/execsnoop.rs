//! `execsnoop`: one line per exec, like bcc's libbpf-tools `execsnoop`, in
//! time order; and `exitsnoop`: one line per process exit with its age,
//! like libbpf-tools `exitsnoop`. Both read the tables of `-e exec`.
//!
//! execsnoop's columns and printf widths are bcc's:
//! `[TIME ][TIME(s) ][UID   ]PCOMM PID PPID RET ARGS`, where PCOMM is the
//! command name after the exec, PID the process id, RET the return value
//! (0 or -errno) and ARGS the arguments each followed by a space (bcc's
//! `print_args`), ` ...` when more arguments existed than were kept or
//! asked for. By default only successful execs print (`-x` adds failed
//! ones, as bcc). `-t` counts seconds from the start of the window (bcc:
//! from the tool's start), `-T` prints the wall-clock time (UTC unless
//! `--localtime`).
//!
//! exitsnoop, which reads the same family's `exit` table, is
//! [`crate::exitsnoop`]; it is re-exported here.

use std::sync::Arc;

use ktape_format::exec::EXEC_TABLE;
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options, Window};
use crate::error::Result;
use crate::loss::Loss;
use crate::output::Out;
use crate::time::{format_hms, format_rfc3339, secs_between};

pub use crate::exitsnoop::{
    compute_exits, exit_text, run_exits, signal_name, write_exits_text, ExitRow, Exitsnoop,
    ExitsnoopArgs, ExitsnoopOptions,
};

/// Arguments printed unless told otherwise: as many as the recorder keeps.
pub const DEFAULT_MAX_ARGS: usize = ktape_format::exec::DEFAULT_MAX_ARGS as usize;

/// Options of `execsnoop`. The default prints every successful exec with
/// up to 20 arguments.
#[derive(Debug, Clone)]
pub struct ExecsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-x`: include failed execs. Default: off.
    pub failed: bool,
    /// `-T`: print the time of day. Default: off.
    pub time: bool,
    /// `--localtime`: `-T` in the local time zone. Default: UTC.
    pub localtime: bool,
    /// `-t`: print seconds since the window's start. Default: off.
    pub timestamp: bool,
    /// `-U`: print the UID column. Default: off.
    pub uid: bool,
    /// `-n`: only commands whose name contains this. Default: all.
    pub name: Option<String>,
    /// `-l`: only execs with an argument containing this. Default: all.
    pub line: Option<String>,
    /// `--max-args`: print at most this many arguments. Default: 20.
    pub max_args: usize,
    /// `-q`: quote each argument. Default: off.
    pub quote: bool,
}

impl Default for ExecsnoopOptions {
    fn default() -> Self {
        ExecsnoopOptions {
            common: Options::default(),
            failed: false,
            time: false,
            localtime: false,
            timestamp: false,
            uid: false,
            name: None,
            line: None,
            max_args: DEFAULT_MAX_ARGS,
            quote: false,
        }
    }
}

/// One exec, with what execsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRow {
    /// Return from exec, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Command name after the exec.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Real user id.
    pub uid: i64,
    /// 0 or -errno.
    pub ret: i32,
    /// Path passed to exec.
    pub filename: String,
    /// Arguments as recorded.
    pub args: Vec<String>,
    /// Whether the recorder cut the arguments.
    pub truncated: bool,
}

/// The computed execsnoop report.
pub type Execsnoop = Listing<ExecRow>;

/// Collects and sorts the execs.
pub fn compute(recordings: &[Recording], opts: &ExecsnoopOptions) -> Result<Execsnoop> {
    let window = Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts",
        "tgid",
        "ppid",
        "uid",
        "comm",
        "filename",
        "args",
        "truncated",
        "ret",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<ExecRow> = scan_rows(
        recordings,
        EXEC_TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<ExecRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let ret = columns::i32s(batch, "ret", path)?;
            let comm = Strings::from_batch(batch, "comm", path)?;
            let name_ok = opts
                .name
                .as_ref()
                .map(|n| comm.matching(|c| c.contains(n.as_str())));
            let args = columns::string_lists(batch, "args", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| {
                    range.contains(ts[i])
                        && (opts.failed || ret[i] >= 0)
                        && name_ok.as_ref().is_none_or(|ok| ok[comm.codes[i] as usize])
                        && filter.keep(i)
                })
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let tgid = columns::i32s(batch, "tgid", path)?;
            let ppid = columns::i32s(batch, "ppid", path)?;
            let uid = columns::i64s(batch, "uid", path)?;
            let truncated = columns::bools(batch, "truncated", path)?;
            let filename = Strings::from_batch(batch, "filename", path)?;
            for i in keep {
                let a = columns::list_row(args, i);
                if let Some(l) = &opts.line {
                    if !a.iter().any(|s| s.contains(l.as_str())) {
                        continue;
                    }
                }
                acc.push(ExecRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    ppid: ppid[i],
                    uid: uid[i],
                    ret: ret[i],
                    filename: filename.get(i).to_string(),
                    args: a,
                    truncated: truncated.value(i),
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = Loss::read(recordings, EXEC_TABLE.family, range)?;
    Ok(Execsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// Runs execsnoop and prints it.
pub fn run(recordings: &[Recording], opts: &ExecsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        EXEC_TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        |r, out| write_json(r, opts, out),
        |r, out| write_text(r, opts, out),
    )
}

/// bcc's `print_args`: each argument followed by a space; with `-q` each
/// in double quotes with `"`, tab and newline escaped.
pub fn format_args(args: &[String], quote: bool) -> String {
    let mut s = String::new();
    if quote {
        s.push('"');
    }
    for (k, a) in args.iter().enumerate() {
        if quote {
            for c in a.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\t' => s.push_str("\\t"),
                    '\n' => s.push_str("\\n"),
                    c => s.push(c),
                }
            }
            s.push_str("\" ");
            if k + 1 < args.len() {
                s.push('"');
            }
        } else {
            s.push_str(a);
            s.push(' ');
        }
    }
    s
}

/// What one row prints for its arguments, and whether ` ...` follows.
fn shown_args(row: &ExecRow, max_args: usize) -> (&[String], bool) {
    let n = row.args.len().min(max_args);
    (&row.args[..n], row.truncated || row.args.len() > max_args)
}

/// Prints the rows as libbpf-tools `execsnoop` does.
pub fn write_text(r: &Execsnoop, opts: &ExecsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.time {
        write!(out.out, "{:<9}", "TIME")?;
    }
    if opts.timestamp {
        write!(out.out, "{:<8} ", "TIME(s)")?;
    }
    if opts.uid {
        write!(out.out, "{:<6} ", "UID")?;
    }
    writeln!(
        out.out,
        "{:<16} {:<6} {:<6} {:>3} ARGS",
        "PCOMM", "PID", "PPID", "RET"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        // bcc's own quirks kept: no space after TIME(s) and UID values.
        if opts.time {
            write!(out.out, "{:<8} ", format_hms(row.ts, opts.localtime))?;
        }
        if opts.timestamp {
            let t = secs_between(r.window.start_ns, row.ts);
            write!(out.out, "{t:<8.3}")?;
        }
        if opts.uid {
            write!(out.out, "{:<6}", row.uid)?;
        }
        let (args, more) = shown_args(row, opts.max_args);
        write!(
            out.out,
            "{:<16} {:<6} {:<6} {:>3} {}",
            row.comm,
            row.pid,
            row.ppid,
            row.ret,
            format_args(args, opts.quote)
        )?;
        if more {
            write!(out.out, " ...")?;
        }
        writeln!(out.out)?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

pub(crate) fn loss_warning(loss: &Loss, flagged: u64, out: &mut Out<'_>) -> Result<()> {
    if let Some(w) = loss.warning() {
        out.warn(&w)?;
        if flagged > 0 {
            out.warn(&format!(
                "WARNING: {flagged} of the rows above fall in those seconds; rows near them may be missing"
            ))?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ExecJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    ppid: i32,
    uid: i64,
    ret: i32,
    filename: &'a str,
    args: &'a [String],
    truncated: bool,
    in_loss_second: bool,
}

/// Streams one JSON object per row inside a report object.
pub(crate) fn stream_json<T, F>(
    out: &mut Out<'_>,
    head: serde_json::Value,
    rows: &[T],
    loss: &Loss,
    mut one: F,
) -> Result<()>
where
    F: FnMut(&T) -> serde_json::Result<String>,
{
    let head = serde_json::to_string(&head)?;
    write!(out.out, "{},\n\"rows\": [", &head[..head.len() - 1])?;
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            write!(out.out, ",")?;
        }
        writeln!(out.out)?;
        write!(out.out, "{}", one(row)?)?;
    }
    writeln!(
        out.out,
        "\n],\n\"loss\": {}}}",
        serde_json::to_string(&loss.to_json())?
    )?;
    Ok(())
}

/// Prints execsnoop as JSON.
pub fn write_json(r: &Execsnoop, opts: &ExecsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "execsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
        "failed": opts.failed,
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&ExecJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            ppid: row.ppid,
            uid: row.uid,
            ret: row.ret,
            filename: &row.filename,
            args: &row.args,
            truncated: row.truncated,
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `execsnoop` on the command line.
#[derive(clap::Args)]
pub struct ExecsnoopArgs {
    /// Include failed execs.
    #[arg(short = 'x', long)]
    fails: bool,
    /// Print the time of day (HH:MM:SS, UTC unless --localtime).
    #[arg(short = 'T', long)]
    time: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    /// Print seconds since the start of the window (TIME(s) column).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Print the UID column.
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// Only commands whose name contains NAME.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: Option<String>,
    /// Only execs with an argument containing LINE.
    #[arg(short = 'l', long, value_name = "LINE")]
    line: Option<String>,
    /// Print at most this many arguments (` ...` marks more).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ARGS)]
    max_args: usize,
    /// Put double quotes around each argument.
    #[arg(short = 'q', long)]
    quote: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for ExecsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = ExecsnoopOptions {
            common: self.common.options(),
            failed: self.fails,
            time: self.time,
            localtime: self.localtime,
            timestamp: self.timestamp,
            uid: self.print_uid,
            name: self.name,
            line: self.line,
            max_args: self.max_args,
            quote: self.quote,
        };
        run(&recs, &opts, out).context("execsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn args_print_like_bcc() {
        assert_eq!(
            format_args(&strs(&["/bin/true", "a"]), false),
            "/bin/true a "
        );
        assert_eq!(
            format_args(&strs(&["echo", "say \"hi\"\tnow"]), true),
            "\"echo\" \"say \\\"hi\\\"\\tnow\" "
        );
        assert_eq!(format_args(&[], false), "");
    }

    #[test]
    fn exit_codes_print_like_exitsnoop() {
        assert_eq!(exit_text(0, 0, false), "0");
        assert_eq!(exit_text(3, 0, false), "code 3");
        assert_eq!(exit_text(0, 9, false), "signal 9 (Killed)");
        assert_eq!(
            exit_text(0, 11, true),
            "signal 11 (Segmentation fault), core dumped"
        );
        assert_eq!(signal_name(34), "Real-time signal 0");
    }

    #[test]
    fn max_args_cuts_and_marks() {
        let row = ExecRow {
            ts: 0,
            recording: 0,
            comm: Arc::from("x"),
            pid: 1,
            ppid: 0,
            uid: 0,
            ret: 0,
            filename: String::new(),
            args: strs(&["a", "b", "c"]),
            truncated: false,
        };
        assert_eq!(shown_args(&row, 2), (&row.args[..2], true));
        assert_eq!(shown_args(&row, 3), (&row.args[..], false));
    }
}
