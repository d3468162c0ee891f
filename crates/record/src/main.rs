//! `ktape-record`: records kernel events with eBPF into a Parquet recording.
//!
//! # The event path
//!
//! ```text
//! kernel hook ──► BPF program ──► per-CPU ring ──► drain thread ──► channel ──► writer thread ──► OUT/<table>/000000.parquet
//!                 (filter, pair,   (one per CPU,    (decode into     (bounded:    (Parquet + zstd,
//!                  normalize,       no wakeup per    column vectors,  back-       .tmp then rename)
//!                  reserve)         event)           sort, batch)     pressure)
//! ```
//!
//! * BPF programs ([`ktape_bpf`]) filter (`-p`) and pair in the kernel, so a
//!   block request is one record, and write into this CPU's ring without
//!   waking us; a failed reservation is counted per family, reason and CPU.
//! * The drain thread ([`drain`]) wakes every 10 ms (or early when a ring
//!   passes half full), empties every ring into each family's [`family::Decoder`],
//!   and hands finished Arrow batches to a bounded channel. It never touches
//!   disk, so a slow disk shows up as counted loss, not as a stalled kernel.
//! * The writer thread ([`writer`]) owns every segment file.
//! * The main thread attaches and detaches, reads the loss counters every
//!   second ([`loss`]), shows the live status line, and handles signals.
//!
//! # Shutdown
//!
//! On any terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT …; a second
//! one changes nothing), when `-d` expires, or when the disk reaches the
//! reserve: detach the programs that see operations start, let those in
//! flight end, detach the rest, drain the rings one last time, flush the
//! decoders, sweep what never ended into the `loss` rows, let the writer
//! finish every file (footer, fsync, rename), print the summary, then drop
//! the BPF objects. Nothing is pinned, so nothing outlives the process.
//! Nothing the recorder prints can stop it: with the terminal gone (a
//! dropped ssh session), messages are dropped, not fatal.

#[cfg(target_os = "linux")]
mod abi;
#[cfg(target_os = "linux")]
mod bpf;
#[cfg(target_os = "linux")]
mod cli;
#[cfg(target_os = "linux")]
mod clock;
#[cfg(target_os = "linux")]
mod columns;
#[cfg(target_os = "linux")]
mod counters;
#[cfg(target_os = "linux")]
mod drain;
#[cfg(target_os = "linux")]
mod family;
#[cfg(target_os = "linux")]
mod fixed;
#[cfg(target_os = "linux")]
mod loss;
#[cfg(target_os = "linux")]
mod perf;
#[cfg(target_os = "linux")]
mod procfs;
#[cfg(target_os = "linux")]
mod rings;
#[cfg(target_os = "linux")]
mod seconds;
#[cfg(target_os = "linux")]
mod space;
#[cfg(target_os = "linux")]
mod stacks;
#[cfg(target_os = "linux")]
mod status;
#[cfg(target_os = "linux")]
mod tracefs;
#[cfg(target_os = "linux")]
mod unwind;
#[cfg(target_os = "linux")]
mod writer;

// The registry: every family is a `bpf/X.bpf.c` and its `src/X.rs`,
// listed by `build.rs` (so a new family needs no line here), then the
// option groups several families share, each under its own `--help`
// heading.
include!(concat!(env!("OUT_DIR"), "/families.rs"));
with_families!(registry {
    shared: [
        sampling: crate::perf::SampleOptions => "profile and runqlen options",
    ]
});
#[cfg(target_os = "linux")]
use family::registry;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("error: ktape-record records with eBPF and runs on Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
fn main() {
    use clap::Parser;

    let args = cli::Args::parse();
    match run(args) {
        Ok(()) => {}
        Err(e) => {
            status::clear_live_if_tty();
            status::say(&format!("error: {e:#}"));
            std::process::exit(1);
        }
    }
}

#[cfg(target_os = "linux")]
use linux::run;

#[cfg(target_os = "linux")]
mod linux {
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use anyhow::{bail, Context};
    use ktape_format::meta::RecordingInfo;

    use crate::family::{DecodeCtx, KernelIds, LoadCtx, Loaded};
    use crate::writer::{Msg, Setup, Writer};
    use crate::{bpf, cli, clock, counters, drain, loss, procfs, rings, space, status, tracefs};

    /// Set by any terminating signal.
    static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    /// Signals whose default action ends the process: each one asks for a
    /// clean stop instead (SIGHUP is the ssh session going away, SIGQUIT
    /// Ctrl-\\, SIGXCPU a CPU-time limit, SIGPWR a UPS about to cut power).
    /// A second one during the shutdown only asks again.
    const STOP_SIGNALS: &[libc::c_int] = &[
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGXCPU,
        libc::SIGVTALRM,
        libc::SIGPWR,
    ];

    fn install_signal_handlers() {
        for &sig in STOP_SIGNALS {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
        // A file-size limit then shows as EFBIG on the write, handled like
        // a full disk, instead of killing us with half-written files.
        // SAFETY: setting a signal's disposition to ignore.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
    }

    /// Rows per batch handed to the writer: big enough for good
    /// compression per page, small enough to bound the drain thread's
    /// memory.
    const BATCH_ROWS: usize = 64 * 1024;

    pub fn run(args: cli::Args) -> anyhow::Result<()> {
        let command_line = std::env::args().collect::<Vec<_>>().join(" ");
        let cfg = args.validate()?;
        bpf::check_privileges()?;
        if cfg.out.symlink_metadata().is_ok() && !cfg.force {
            bail!(
                "{}: already exists (use --force to replace it)",
                cfg.out.display()
            );
        }
        if cfg.force && cfg.out.symlink_metadata().is_ok() {
            // Refuse before loading anything, and before the checks below
            // could make a user wait for a refusal.
            if let Err(why) = ktape_format::write::is_recording(&cfg.out) {
                return Err(ktape_format::Error::NotReplaceable {
                    path: cfg.out.clone(),
                    why,
                }
                .into());
            }
        }
        install_signal_handlers();
        bpf::raise_memlock();
        bpf::capture_libbpf_log();
        // Every permission a family needs is checked before anything is
        // created, so a refusal leaves nothing behind.
        if let Some(f) = cfg.families.iter().find(|f| f.needs_tracefs()) {
            let root = tracefs::ensure_tracefs()?;
            tracefs::check_access(&root, f.name())?;
        }
        let space = space::Space::new(&cfg.out, cfg.min_free)
            .with_context(|| format!("checking the free space for {}", cfg.out.display()))?;
        let free = space.free().unwrap_or(u64::MAX);
        if free < space.reserve {
            bail!(
                "not starting: {}; free some space, record elsewhere, or lower --min-free",
                space.low_message(free, 0)
            );
        }

        let ncpus = libbpf_rs::num_possible_cpus().context("counting possible CPUs")?;
        let offset = clock::measure();
        let start_mono = clock::mono_now_ns();
        let start_ns = start_mono + offset.offset_ns;
        let info = RecordingInfo {
            host: procfs::hostname(),
            kernel: procfs::kernel_release(),
            boot_id: procfs::boot_id(),
            clock_offset_ns: offset.offset_ns,
            command_line,
            recorder_version: env!("CARGO_PKG_VERSION").to_string(),
            families: cfg.families.iter().map(|f| f.name().to_string()).collect(),
            ncpus: ncpus as u32,
            online_cpus: crate::perf::online_cpus(),
            start_ns,
        };

        // Load everything before creating the output, so a refused program
        // leaves no half-made recording behind.
        let mut rings = rings::Rings::create(ncpus, cfg.ring_size)?;
        let mut loaded: Vec<Box<dyn Loaded>> = Vec::new();
        {
            let ctx = LoadCtx {
                rings: &rings,
                targ_tgid: cfg.pid.unwrap_or(0),
                options: &cfg.options,
            };
            for f in &cfg.families {
                loaded.push(f.load(&ctx)?);
            }
        }

        let mut tables = Vec::new();
        for f in &cfg.families {
            tables.extend_from_slice(f.tables());
        }
        tables.push(&ktape_format::loss::TABLE);
        tables.push(&ktape_format::process::TABLE);
        if cfg.families.iter().any(|f| f.uses_stacks()) {
            tables.push(&ktape_format::stacks::TABLE);
        }
        let names: Vec<&str> = cfg.families.iter().map(|f| f.name()).collect();
        let counters = counters::Counters::for_families(&names, offset.offset_ns);
        if !counters.is_empty() {
            tables.push(&ktape_format::counters::TABLE);
        }

        ktape_format::write::create_recording_dir(&cfg.out, cfg.force)?;
        // Held until the end: readers tell a recording in progress from
        // one whose recorder died by it.
        let lock = ktape_format::write::lock_recording(&cfg.out)?;
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(8);
        let writer = Writer::start(
            Setup {
                root: cfg.out.clone(),
                tables,
                info: info.clone(),
                rotation: cfg.rotation,
                space: Some(space),
                counters: counters.clone(),
            },
            rx,
        )?;

        // Attach everything before the drain thread starts (the rings hold
        // what arrives meanwhile): an attach refused for lack of permission
        // then removes the recording it made and says only that.
        for i in 0..loaded.len() {
            if let Err(e) = loaded[i].attach() {
                for l in loaded.iter_mut() {
                    l.detach();
                }
                drop(tx);
                let _ = writer.finish();
                let _ = std::fs::remove_dir_all(&cfg.out);
                return Err(e.into());
            }
        }

        // The kernel's counters, once every program is attached: what
        // happens from here on is both counted and recorded (see the
        // counters table).
        if !counters.is_empty() {
            let _ = tx.send(Msg::Counters {
                snapshot: counters.read(),
                last: false,
            });
        }

        let dctx = DecodeCtx {
            clock_offset_ns: offset.offset_ns,
            disks: procfs::disk_names(),
            batch_rows: BATCH_ROWS,
        };
        let decoders = cfg
            .families
            .iter()
            .map(|f| (f.kinds(), f.decoder(&dctx)))
            .collect();
        let stats = Arc::new(drain::DrainStats::default());
        let drain = drain::Drain::spawn(rings.take_rings(), decoders, tx.clone(), stats.clone())
            .context("starting the drain thread")?;

        let started = Instant::now();
        if !cfg.quiet {
            let what: Vec<String> = cfg
                .families
                .iter()
                .zip(&loaded)
                .map(|(f, l)| format!("{} ({})", f.name(), l.hooks()))
                .collect();
            let segments = match (cfg.rotation.every, cfg.rotation.size) {
                (Some(d), _) => format!("segments closed every {}", status::human_duration(d)),
                (None, Some(b)) => format!("segments closed every {}", status::human_bytes(b)),
                (None, None) => "one segment".into(),
            };
            status::say(&format!(
                "ktape-record: recording {} on {ncpus} CPUs ({} ring per CPU) into {}; {segments}, checkpointed every second; Ctrl-C to stop",
                what.join(", "),
                status::human_bytes(rings.ring_size as u64),
                cfg.out.display()
            ));
        }

        // The snapshot is taken after attaching, so every process that
        // submits I/O from now on either is in it or was born later.
        let snap = procfs::snapshot(clock::mono_now_ns() + offset.offset_ns);
        let _ = tx.send(Msg::Batch(&ktape_format::process::TABLE, snap));

        let live = !cfg.quiet && std::io::stderr().is_terminal();
        let mut losses = loss::LossTracker::new(
            &cfg.families
                .iter()
                .map(|f| (f.name(), f.id()))
                .collect::<Vec<_>>(),
        );
        let mut interval_start = start_ns;
        let mut next_tick = started + Duration::from_secs(1);
        let mut last_events = 0u64;
        let mut failure: Option<anyhow::Error> = None;
        let sweep = |loaded: &mut Vec<Box<dyn Loaded>>, losses: &mut loss::LossTracker, last| {
            let now = clock::mono_now_ns();
            for (f, l) in cfg.families.iter().zip(loaded.iter_mut()) {
                for u in l.sweep(now, last) {
                    losses.add(f.id(), u.reason, u.mono_ns + offset.offset_ns, u.count);
                }
            }
        };

        while failure.is_none() && !STOP.load(Ordering::SeqCst) {
            if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            if drain.is_finished() || writer.is_finished() {
                break; // their errors surface when joined below
            }
            if writer.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= next_tick {
                next_tick += Duration::from_secs(1);
                let now = clock::mono_now_ns() + offset.offset_ns;
                if let Err(e) = losses.sample(interval_start, |id| rings.read_loss(id)) {
                    failure = Some(anyhow::Error::new(e).context("reading the loss counters"));
                }
                interval_start = now;
                sweep(&mut loaded, &mut losses, false);
                // Every second, so that a kill loses no more loss rows than
                // data rows.
                if losses.rows() > 0 {
                    let _ = tx.send(Msg::Batch(&ktape_format::loss::TABLE, losses.take_batch()));
                }
                if live {
                    let events = stats.events.load(Ordering::Relaxed);
                    status::show_live(&status::status_line(
                        started.elapsed(),
                        events - last_events,
                        events,
                        losses.total(),
                    ));
                    last_events = events;
                }
            }
        }
        if live {
            status::clear_live();
        }

        // The last counters, while everything is still attached.
        if !counters.is_empty() {
            let _ = tx.send(Msg::Counters {
                snapshot: counters.read(),
                last: true,
            });
        }
        // Stop what starts operations first, let those in flight end, then
        // the rest, so the last drain really is the last.
        let grace = loaded
            .iter_mut()
            .map(|l| l.quiesce())
            .max()
            .unwrap_or_default();
        if !grace.is_zero() {
            std::thread::sleep(grace);
        }
        for l in loaded.iter_mut() {
            l.detach();
        }
        let drained = drain.finish();
        if let Err(e) = losses.sample(interval_start, |id| rings.read_loss(id)) {
            failure.get_or_insert(anyhow::Error::new(e).context("reading the loss counters"));
        }
        sweep(&mut loaded, &mut losses, true);
        let _ = tx.send(Msg::Batch(&ktape_format::loss::TABLE, losses.take_batch()));
        drop(tx);
        let stop_reason = writer
            .shared
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let written = writer.finish();
        drop(lock);
        let in_progress = cfg.out.join(ktape_format::layout::IN_PROGRESS_DIR);
        let _ = std::fs::remove_file(in_progress.join(ktape_format::layout::LOCK_FILE));
        let _ = std::fs::remove_dir(&in_progress);
        let elapsed = started.elapsed();
        let mut ids = KernelIds {
            progs: Vec::new(),
            maps: rings.map_ids().to_vec(),
        };
        if let Some(s) = crate::stacks::existing() {
            if !cfg.quiet {
                status::say(&format!(
                    "ktape-record: {} distinct stacks, each symbolized once",
                    s.distinct()
                ));
            }
        }
        for l in &loaded {
            let k = l.kernel_ids();
            ids.progs.extend(k.progs);
            ids.maps.extend(k.maps);
        }
        drop(loaded);
        drop(rings);
        bpf::wait_released(&ids, Duration::from_secs(3));

        let segments = written.context("writing the recording")?;
        let lost: Vec<(&'static str, u64)> = losses.by_family().collect();
        status::say_raw(&status::summary(
            &cfg.out,
            elapsed,
            &segments,
            &lost,
            stats.malformed.load(Ordering::Relaxed),
        ));
        drained.context("draining the ring buffers")?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(reason) = stop_reason {
            bail!("{reason}; every file is finished");
        }
        Ok(())
    }
}
