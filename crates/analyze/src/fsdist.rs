//! `fsdist` (and `ext4dist`, `xfsdist`, `btrfsdist`): file operation
//! latency as a log2 histogram per operation, like bcc's libbpf-tools
//! `fsdist` and its aliases, from the `file_op` table (`-e fileio`) and,
//! for opens, the `open` table (`-e open`).
//!
//! Operations, in bcc's order: `read` (read, pread64, readv), `write`
//! (write, pwrite64, writev), `open` (open, openat, openat2) and `fsync`
//! (fsync, fdatasync). The value is the syscall's entry → return time in
//! µs (`-m`: ms), integer division as bcc's BPF side does. bcc times the
//! filesystem's own methods (`ext4_file_read_iter` …); ktape times the
//! syscalls (no kprobes), so the times include the VFS layer above.
//!
//! `-t FS` keeps one filesystem type (`ext4`, `xfs`, `btrfs`, `tmpfs` …);
//! the aliases set it (`ext4dist` is `fsdist -t ext4`). The `open` table
//! records the path, not the filesystem, so opens are shown only without
//! a filesystem filter, and then count every open call (failed ones and
//! non-regular files too).
//!
//! A recording made with `--min-latency` (the fileio family's kernel-side
//! threshold) has no `file_op` row below it: the report reads the
//! threshold from the recorder's command line in the recording's metadata
//! and says on its second line that the histograms are incomplete.

use std::collections::BTreeMap;

use ktape_format::read::Recording;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{
    interval_bounds, interval_count, interval_index, scan, table_notes, Options, Window,
};
use crate::error::Result;
use crate::hist::{self, Bucket, Log2Hist, Slots};
use crate::loss::Loss;
use crate::output::Out;
use crate::tables::{self, Needs};
use crate::time::{format_rfc3339, format_secs, NS_PER_MS, NS_PER_US};

/// The operations bcc's fsdist shows, in its order.
pub const OPS: [&str; 4] = ["read", "write", "open", "fsync"];

/// bcc's operation of a `file_op` op (index into [`OPS`]).
fn op_index(op: &str) -> Option<usize> {
    match op {
        "read" | "pread64" | "readv" => Some(0),
        "write" | "pwrite64" | "writev" => Some(1),
        "fsync" | "fdatasync" => Some(3),
        _ => None,
    }
}

/// Options of `fsdist`. Default: µs histograms of every filesystem.
#[derive(Debug, Clone, Default)]
pub struct FsdistOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-m`: milliseconds. Default: µs.
    pub millis: bool,
    /// `-t`: only this filesystem type. Default: all (and opens).
    pub fs: Option<String>,
    /// `-T`: print the time before each histogram set.
    pub timestamp: bool,
    /// `-T` in local time. Default: UTC.
    pub localtime: bool,
    /// `--interval`, ns. Default: one histogram set.
    pub interval_ns: Option<i64>,
    /// `--count`: at most this many intervals.
    pub count: Option<u64>,
    /// How values map to slots. Default: log2 (what the text and JSON
    /// print); heatmap's linear rows set `Linear`.
    pub slots: Slots,
}

/// One interval's histograms, by [`OPS`] index.
#[derive(Debug, Clone)]
pub struct Interval {
    /// `[start, end)` ns.
    pub range: (i64, i64),
    /// One per operation (empty ones are not printed).
    pub hists: [Log2Hist; 4],
    /// `fileio` (and `open`) events lost in seconds overlapping it.
    pub lost: u64,
}

/// The computed report.
#[derive(Debug, Clone)]
pub struct Fsdist {
    /// The window covered.
    pub window: Window,
    /// Intervals in time order (one without `--interval`).
    pub intervals: Vec<Interval>,
    /// The largest `--min-latency` the recordings were made with, ns
    /// (0: every operation recorded).
    pub min_latency_ns: i64,
    /// Lost `fileio` events.
    pub loss: Loss,
    /// Lost `open` events (when opens are shown).
    pub open_loss: Option<Loss>,
    /// What the input made different, for stderr and the JSON.
    pub warnings: Vec<String>,
}

/// The fileio family's `--min-latency` from a recorder command line, ns:
/// `--min-latency V` or `--min-latency=V`, V in µs unless it has a unit
/// (as the recorder parses it). None when not given (the default, 0);
/// an error string when the value does not parse.
pub fn recorded_min_latency(command_line: &str) -> Option<std::result::Result<i64, String>> {
    let mut words = command_line.split_whitespace();
    let mut found = None;
    while let Some(w) = words.next() {
        let v = if w == "--min-latency" {
            words.next()
        } else if let Some(v) = w.strip_prefix("--min-latency=") {
            Some(v)
        } else {
            continue;
        };
        // The last one given wins, as with clap.
        found = Some(match v {
            Some(v) => crate::time::parse_duration(v, crate::time::DefaultUnit::Micros)
                .map_err(|e| e.to_string()),
            None => Err("no value".to_string()),
        });
    }
    found
}

/// Computes the histograms.
pub fn compute(recordings: &[Recording], opts: &FsdistOptions) -> Result<Fsdist> {
    crate::common::check_intervals(opts.interval_ns, opts.count)?;
    let mut window = Window::resolve(&opts.common, recordings)?;
    window.limit_to_count(opts.interval_ns, opts.count);
    let base = window.start_ns;
    let range = window.range;
    let scale = if opts.millis { NS_PER_MS } else { NS_PER_US };
    let iv_of = |ts: i64| {
        opts.interval_ns
            .map_or(0, |n| interval_index(ts, base, n))
    };
    type Acc = (BTreeMap<i64, [Log2Hist; 4]>, u64);
    let merge = |(mut a, na): Acc, (b, nb): Acc| {
        for (k, h) in b {
            let e = a.entry(k).or_default();
            for j in 0..4 {
                e[j].merge(&h[j]);
            }
        }
        (a, na + nb)
    };

    let mut cols = vec!["ts", "op", "fs", "latency_ns"];
    opts.common.filter.add_columns(&mut cols);
    let (mut acc, mut negative): Acc = scan(
        recordings,
        ktape_format::fileio::TABLE.name,
        range,
        &cols,
        Acc::default,
        |(acc, negative): &mut Acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let lat = columns::i64s(batch, "latency_ns", path)?;
            let op = Strings::from_batch(batch, "op", path)?;
            let op_ix: Vec<Option<usize>> = op.values.iter().map(|o| op_index(o)).collect();
            let fs = Strings::from_batch(batch, "fs", path)?;
            let fs_ok = fs.matching(|f| opts.fs.as_deref().is_none_or(|want| f == want));
            let filter = opts.common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) || !fs_ok[fs.codes[i] as usize] {
                    continue;
                }
                let Some(o) = op_ix[op.codes[i] as usize] else {
                    continue;
                };
                if lat[i] < 0 {
                    *negative += 1;
                    continue;
                }
                acc.entry(iv_of(ts[i])).or_default()[o].add_in(opts.slots, (lat[i] / scale) as u64);
            }
            Ok(())
        },
        merge,
    )?;

    let with_opens = opts.fs.is_none();
    let mut open_loss = None;
    if with_opens {
        let table = ktape_format::open::TABLE.name;
        let mut cols = vec!["ts", "latency_ns"];
        opts.common.filter.add_columns(&mut cols);
        let (o, n): Acc = scan(
            recordings,
            table,
            range,
            &cols,
            Acc::default,
            |(acc, negative): &mut Acc, unit, batch| {
                let path = &unit.segment.path;
                let ts = columns::timestamps(batch, "ts", path)?;
                let lat = columns::i64s(batch, "latency_ns", path)?;
                let filter = opts.common.filter.prepare(batch, path)?;
                for i in 0..batch.num_rows() {
                    if !range.contains(ts[i]) || !filter.keep(i) {
                        continue;
                    }
                    if lat[i] < 0 {
                        *negative += 1;
                        continue;
                    }
                    acc.entry(iv_of(ts[i])).or_default()[2].add_in(opts.slots, (lat[i] / scale) as u64);
                }
                Ok(())
            },
            merge,
        )?;
        (acc, negative) = merge((acc, negative), (o, n));
        if recordings.iter().any(|r| r.has_table(table)) {
            open_loss = Some(Loss::read(recordings, ktape_format::open::TABLE.family, range)?);
        }
    }

    let mut warnings = Vec::new();
    if negative > 0 {
        warnings.push(format!(
            "WARNING: {negative} rows with a negative latency_ns were left out of the histograms (damaged rows)"
        ));
    }
    let mut min_latency_ns = 0;
    for rec in recordings {
        match recorded_min_latency(&rec.info.command_line) {
            Some(Ok(ns)) => min_latency_ns = min_latency_ns.max(ns),
            Some(Err(e)) => warnings.push(format!(
                "WARNING: {}: the recorder's --min-latency could not be read ({e}): file operations shorter than it may be missing",
                rec.root.display()
            )),
            None => {}
        }
    }
    let loss = Loss::read(recordings, ktape_format::fileio::TABLE.family, range)?;
    let n = match opts.interval_ns {
        Some(iv) => interval_count(recordings, &window, iv, None)?,
        None => 1,
    };
    let intervals = (0..n)
        .map(|k| {
            let range = match opts.interval_ns {
                Some(iv) => interval_bounds(base, iv, k),
                None => (window.start_ns, window.end_ns),
            };
            let lost = loss.lost_between(range.0, range.1)
                + open_loss
                    .as_ref()
                    .map_or(0, |l| l.lost_between(range.0, range.1));
            Interval {
                range,
                hists: acc.remove(&k).unwrap_or_default(),
                lost,
            }
        })
        .collect();
    Ok(Fsdist {
        window,
        intervals,
        min_latency_ns,
        loss,
        open_loss,
        warnings,
    })
}

/// The line saying the histograms miss the fast operations, if they do.
pub fn min_latency_line(ns: i64) -> Option<String> {
    (ns > 0).then(|| {
        format!(
            "INCOMPLETE: recorded with --min-latency {}: read, write and fsync calls shorter than that were not recorded and are missing below.",
            format_secs(ns)
        )
    })
}

/// Runs the report and prints it.
pub fn run(recordings: &[Recording], opts: &FsdistOptions, out: &mut Out<'_>) -> Result<()> {
    let table = ktape_format::fileio::TABLE.name;
    let mut warnings = tables::check(recordings, &Needs::one(table))?;
    let mut r = compute(recordings, opts)?;
    warnings.append(&mut r.warnings);
    if let Some(fs) = &opts.fs {
        warnings.push(format!(
            "note: opens are not shown with a filesystem ({fs}): the open table does not record the filesystem"
        ));
    } else if !recordings
        .iter()
        .any(|r| r.has_table(ktape_format::open::TABLE.name))
    {
        warnings.push("note: no `open` table (record with -e open): opens are not shown".into());
    }
    r.warnings = warnings;
    if opts.common.json {
        out.json(&to_json(&r, opts))?;
    } else {
        write_text(&r, opts, out)?;
    }
    let mut tables = vec![table];
    if r.open_loss.is_some() {
        tables.push(ktape_format::open::TABLE.name);
    }
    table_notes(out, recordings, &r.warnings, &tables)?;
    if r
        .intervals
        .iter()
        .all(|iv| iv.hists.iter().all(|h| h.is_empty()))
    {
        out.warn("note: no file operation matches the window and filters")?;
    }
    Ok(())
}

/// Prints the report as libbpf-tools `fsdist` does.
pub fn write_text(r: &Fsdist, opts: &FsdistOptions, out: &mut Out<'_>) -> Result<()> {
    writeln!(
        out.out,
        "{} operation latency recorded {} .. {} (UTC).",
        opts.fs.as_deref().unwrap_or("File"),
        format_rfc3339(r.window.start_ns),
        format_rfc3339(r.window.end_ns)
    )?;
    if let Some(line) = min_latency_line(r.min_latency_ns) {
        writeln!(out.out, "{line}")?;
    }
    let label_times = opts.timestamp || opts.interval_ns.is_some();
    for iv in &r.intervals {
        writeln!(out.out)?;
        if label_times {
            hist::write_interval_time(out.out, iv.range, r.window.end_ns, opts.localtime)?;
        }
        for (name, h) in OPS.iter().zip(&iv.hists) {
            if h.is_empty() {
                continue;
            }
            writeln!(out.out, "operation = '{name}'")?;
            h.write_text(out.out, hist::unit_label(opts.millis))?;
            writeln!(out.out)?;
        }
        if iv.lost > 0 && opts.interval_ns.is_some() {
            out.warn(&hist::interval_loss_warning("fileio/open", iv.range, iv.lost))?;
        }
    }
    for l in std::iter::once(&r.loss).chain(&r.open_loss) {
        if let Some(w) = l.warning() {
            out.warn(&w)?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonHist {
    operation: &'static str,
    total: u64,
    buckets: Vec<Bucket>,
}

#[derive(Serialize)]
struct JsonInterval {
    start: String,
    end: String,
    lost_events: u64,
    incomplete: bool,
    histograms: Vec<JsonHist>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    report: &'static str,
    unit: &'static str,
    fs: Option<&'a str>,
    from: String,
    to: String,
    /// The recording's kernel-side threshold: operations shorter are
    /// missing (0: none missing).
    min_latency_ns: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ns: Option<i64>,
    intervals: Vec<JsonInterval>,
    loss: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_loss: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// The JSON form: `intervals[]` (one without `--interval`) with
/// `histograms[]` of `{operation, total, buckets}` (non-empty operations
/// only), and `min_latency_ns`, the recording's threshold.
pub fn to_json<'a>(r: &'a Fsdist, opts: &'a FsdistOptions) -> impl Serialize + 'a {
    JsonReport {
        report: "fsdist",
        unit: hist::unit_label(opts.millis),
        fs: opts.fs.as_deref(),
        from: format_rfc3339(r.window.start_ns),
        to: format_rfc3339(r.window.end_ns),
        min_latency_ns: r.min_latency_ns,
        interval_ns: opts.interval_ns,
        intervals: r
            .intervals
            .iter()
            .map(|iv| JsonInterval {
                start: format_rfc3339(iv.range.0),
                end: format_rfc3339(iv.range.1.min(r.window.end_ns)),
                lost_events: iv.lost,
                incomplete: iv.lost > 0 || r.min_latency_ns > 0,
                histograms: OPS
                    .iter()
                    .zip(&iv.hists)
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(name, h)| JsonHist {
                        operation: name,
                        total: h.total(),
                        buckets: h.buckets(),
                    })
                    .collect(),
            })
            .collect(),
        loss: r.loss.to_json(),
        open_loss: r.open_loss.as_ref().map(|l| l.to_json()),
        warnings: &r.warnings,
    }
}

/// The flags `fsdist` shares with its aliases.
#[derive(clap::Args)]
pub struct FsdistFlags {
    /// Millisecond histograms.
    #[arg(short = 'm', long = "milliseconds")]
    millis: bool,
    /// Print the time (HH:MM:SS, UTC unless --localtime) before each histogram set.
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// Print -T times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    window: crate::cli::IntervalArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl FsdistFlags {
    fn run(self, fs: Option<String>, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = FsdistOptions {
            common: self.common.options(),
            millis: self.millis,
            fs,
            timestamp: self.timestamp,
            localtime: self.localtime,
            interval_ns: self.window.interval,
            count: self.window.count,
            slots: Slots::Log2,
        };
        run(&recs, &opts, out).context("fsdist")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// `fsdist` on the command line.
#[derive(clap::Args)]
pub struct FsdistArgs {
    /// Only this filesystem type (ext4, xfs, btrfs, tmpfs …); opens are then not shown.
    #[arg(short = 't', long = "type", value_name = "FS")]
    fs: Option<String>,
    #[command(flatten)]
    flags: FsdistFlags,
}

impl crate::cli::Run for FsdistArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        self.flags.run(self.fs, out)
    }
}

/// The aliases: `fsdist -t FS` under bcc's names.
macro_rules! alias {
    ($($name:ident = $fs:literal,)*) => {$(
        #[doc = concat!("`fsdist -t ", $fs, "` on the command line.")]
        #[derive(clap::Args)]
        pub struct $name {
            #[command(flatten)]
            flags: FsdistFlags,
        }

        impl crate::cli::Run for $name {
            fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
                self.flags.run(Some($fs.to_string()), out)
            }
        }
    )*};
}

alias! {
    Ext4distArgs = "ext4",
    XfsdistArgs = "xfs",
    BtrfsdistArgs = "btrfs",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_latency_from_the_command_line() {
        let f = recorded_min_latency;
        assert_eq!(f("ktape-record -e fileio -d 10 x.parquet"), None);
        assert_eq!(f("ktape-record -e fileio --min-latency 0 x"), Some(Ok(0)));
        assert_eq!(
            f("ktape-record -e fileio --min-latency 10ms x"),
            Some(Ok(10_000_000))
        );
        assert_eq!(f("ktape-record --min-latency=250 x"), Some(Ok(250_000)));
        assert!(matches!(f("ktape-record --min-latency"), Some(Err(_))));
        assert!(matches!(f("ktape-record --min-latency slow x"), Some(Err(_))));
    }
}
