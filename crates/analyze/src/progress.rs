//! Progress on stderr for long analyses: a bar of the (segment, row group)
//! units the scans have read out of those they have started, with the
//! table being read. The binary turns it on only when stderr is a
//! terminal, and the bar appears only once the analysis has taken a
//! second: a quick report, a pipe or a CI log never sees it.
//!
//! The scans only bump two counters (they run on rayon's threads, and a
//! counter is all a row group's worth of work can afford); one watcher
//! thread owns the bar and redraws it from the counters ten times a
//! second. The bar writes to its own duplicate of fd 2, not through
//! `std::io::stderr()`: the binary holds stderr's lock for the whole run
//! (its warnings go through it), and a bar behind that lock would wait
//! for it forever. The bar is cleared before the report's first byte of
//! output ([`finish`]), so it never interleaves with the report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an analysis runs before the bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// [`DELAY`], or `KTAPE_PROGRESS_DELAY_MS` from the environment (the
/// tests draw the bar at once with 0).
fn delay() -> Duration {
    std::env::var("KTAPE_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DELAY, Duration::from_millis)
}
/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(100);

struct State {
    total: AtomicU64,
    done: AtomicU64,
    table: Mutex<String>,
    stopped: Mutex<bool>,
    wake: Condvar,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Turns the bar on (the binary calls this when stderr is a terminal).
/// Does nothing where the bar cannot write to fd 2 of its own.
pub fn enable() {
    #[cfg(unix)]
    {
        let Some(tty) = tty::Tty::new() else {
            return;
        };
        let state = STATE.get_or_init(|| State {
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            // Until the first scan starts, the footers are being read.
            table: Mutex::new("recordings".into()),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            watcher: Mutex::new(None),
        });
        let handle = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || watch(state, tty))
            .ok();
        *state.watcher.lock().unwrap_or_else(|e| e.into_inner()) = handle;
    }
}

/// A scan of `table` starts with `units` row groups to read.
pub(crate) fn start(table: &str, units: usize) {
    if let Some(s) = STATE.get() {
        s.total.fetch_add(units as u64, Ordering::Relaxed);
        let mut t = s.table.lock().unwrap_or_else(|e| e.into_inner());
        t.clear();
        t.push_str(table);
    }
}

/// One row group was read.
pub(crate) fn unit_done() {
    if let Some(s) = STATE.get() {
        s.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Clears the bar for good and waits until it is gone, so that what is
/// written next starts on a clean line. Safe to call more than once, and
/// when the bar was never enabled.
pub fn finish() {
    let Some(s) = STATE.get() else {
        return;
    };
    *s.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
    s.wake.notify_all();
    let handle = s.watcher.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(h) = handle {
        let _ = h.join();
    }
}

/// Waits up to `d`; whether [`finish`] was called.
fn stopped_within(s: &State, d: Duration) -> bool {
    let g = s.stopped.lock().unwrap_or_else(|e| e.into_inner());
    let (g, _) = s
        .wake
        .wait_timeout_while(g, d, |stopped| !*stopped)
        .unwrap_or_else(|e| e.into_inner());
    *g
}

#[cfg(unix)]
fn watch(s: &'static State, tty: tty::Tty) {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let started = Instant::now();
    if stopped_within(s, delay()) {
        return;
    }
    // The bar's clock starts with the analysis, not with the bar.
    let bar = ProgressBar::with_draw_target(
        Some(0),
        ProgressDrawTarget::term_like_with_hz(Box::new(tty), 10),
    )
    .with_elapsed(started.elapsed());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading {msg:<14} [{bar:30}] {pos}/{len} row groups, {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    loop {
        bar.set_length(s.total.load(Ordering::Relaxed));
        bar.set_position(s.done.load(Ordering::Relaxed));
        bar.set_message(s.table.lock().unwrap_or_else(|e| e.into_inner()).clone());
        bar.tick();
        if stopped_within(s, TICK) {
            bar.finish_and_clear();
            return;
        }
    }
}

#[cfg(unix)]
mod tty {
    //! indicatif's terminal over a duplicate of fd 2.

    use std::fs::File;
    use std::io::{self, Write};
    use std::os::fd::AsFd;
    use std::sync::Mutex;

    #[derive(Debug)]
    pub(super) struct Tty(Mutex<File>);

    impl Tty {
        pub(super) fn new() -> Option<Tty> {
            let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
            Some(Tty(Mutex::new(File::from(fd))))
        }

        fn put(&self, s: &str) -> io::Result<()> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(s.as_bytes())
        }
    }

    impl indicatif::TermLike for Tty {
        fn width(&self) -> u16 {
            console::Term::stderr().size().1
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            if n == 0 {
                return Ok(());
            }
            self.put(&format!("\x1b[{n}A"))
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            if n == 0 {
                return Ok(());
            }
            self.put(&format!("\x1b[{n}B"))
        }
        fn move_cursor_right(&self, n: usize) -> io::Result<()> {
            if n == 0 {
                return Ok(());
            }
            self.put(&format!("\x1b[{n}C"))
        }
        fn move_cursor_left(&self, n: usize) -> io::Result<()> {
            if n == 0 {
                return Ok(());
            }
            self.put(&format!("\x1b[{n}D"))
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.put(s)?;
            self.put("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.put(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            self.put("\r\x1b[2K")
        }
        fn flush(&self) -> io::Result<()> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_free_when_disabled() {
        // Never enabled in unit tests: the hooks must be no-ops.
        start("bio", 3);
        unit_done();
        finish();
        assert!(STATE.get().is_none());
    }
}
