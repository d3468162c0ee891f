//! `wakeuptime`: time blocked, by the kernel stack of the waker and the
//! names of the waker and the woken task (bcc wakeuptime).
//!
//! The `wakeup` rows folded by [`crate::offwaketime`] with only what bcc's
//! key holds (waker comm, waker kernel stack, target comm), weighted by
//! µs blocked (switch-out to wakeup, as bcc). Where it differs from bcc:
//! frames are names without addresses and offsets (rows are merged by
//! names); the waker stack is walked at `sched_waking`, in the waker's
//! context even when the wakeup is completed on another CPU; `-k` (kernel
//! threads only) and `-t` are offwaketime's, added here too.

use std::io::Write;

use ktape_format::read::Recording;

use crate::common::Options;
use crate::error::Result;
use crate::offwaketime::{clean, compute_checked, write_report, Pair, Select, View};
use crate::output::Out;

/// Options of `wakeuptime`.
#[derive(Debug, Clone, Default)]
pub struct WakeuptimeOptions {
    pub common: Options,
    pub select: Select,
    /// `-f`: folded lines.
    pub folded: bool,
}

/// bcc's folded wakeuptime line without its value: the waker's comm, its
/// kernel stack root to leaf, the target's comm.
pub fn folded(p: &Pair) -> String {
    let mut v: Vec<&str> = vec![&p.waker_comm];
    v.extend(p.waker_kernel.iter().rev().map(String::as_str));
    v.push(&p.comm);
    v.iter().map(|f| clean(f)).collect::<Vec<_>>().join(";")
}

/// Prints pairs in bcc's multi-line layout: `target:`, the waker's
/// kernel stack leaf first, `waker:`, the µs, a blank line.
pub fn write_multiline(pairs: &[Pair], out: &mut dyn Write) -> Result<()> {
    for p in pairs {
        writeln!(out, "    {:<16} {}", "target:", p.comm)?;
        for f in &p.waker_kernel {
            writeln!(out, "    {f}")?;
        }
        writeln!(out, "    {:<16} {}", "waker:", p.waker_comm)?;
        writeln!(out, "        {}\n", p.value)?;
    }
    Ok(())
}

/// Runs `wakeuptime`.
pub fn run(recordings: &[Recording], opts: &WakeuptimeOptions, out: &mut Out<'_>) -> Result<()> {
    let r = compute_checked(recordings, &opts.select, View::Wakeuptime, &opts.common)?;
    write_report(recordings, &r, &opts.common, out, |w| {
        if opts.folded {
            for p in &r.pairs {
                writeln!(w, "{} {}", folded(p), p.value)?;
            }
            Ok(())
        } else {
            write_multiline(&r.pairs, w)
        }
    })
}

/// `wakeuptime` on the command line.
#[derive(clap::Args)]
pub struct WakeuptimeArgs {
    /// Folded output (`waker;kernel frames;target total_us`), for flame graph tools.
    #[arg(short = 'f', long)]
    folded: bool,
    #[command(flatten)]
    select: crate::offwaketime::SelectArgs,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for WakeuptimeArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = WakeuptimeOptions {
            common: self.common.options(),
            select: self.select.select(None),
            folded: self.folded,
        };
        run(&recs, &opts, out).context("wakeuptime")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}
