//! The time window a report covers, and its `--interval` steps: where a
//! window's ends come from (the options or the recordings), how many
//! intervals cover it, and which interval a timestamp falls in. The
//! reports with `--interval`/`--count` check and cut them here, so that
//! they say the same thing about the same mistakes.

use ktape_format::read::{Recording, TimeRange};

use crate::error::{Error, Result};

use crate::common::Options;

/// When the recordings start and end, ns since the epoch: the earliest
/// recording start (or segment start) and the latest segment end.
pub fn span(recordings: &[Recording]) -> (Option<i64>, Option<i64>) {
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    for r in recordings {
        let (a, b) = r.time_range();
        let a = match (r.info.start_ns, a) {
            (s, Some(a)) if s > 0 => Some(s.min(a)),
            (s, None) if s > 0 => Some(s),
            (_, a) => a,
        };
        lo = match (lo, a) {
            (Some(l), Some(a)) => Some(l.min(a)),
            (l, a) => l.or(a),
        };
        hi = match (hi, b) {
            (Some(h), Some(b)) => Some(h.max(b)),
            (h, b) => h.or(b),
        };
    }
    (lo, hi)
}

/// The time window a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// What rows must fall in (`[from, to)`, unbounded where no option
    /// was given).
    pub range: TimeRange,
    /// First instant shown: `--from`, else the recordings' start (ns).
    pub start_ns: i64,
    /// Last instant shown: `--to`, else the recordings' end (ns).
    pub end_ns: i64,
}

impl Window {
    /// Resolves `--from/--to` against the recordings (offsets count from
    /// the earliest start).
    pub fn resolve(opts: &Options, recordings: &[Recording]) -> Result<Window> {
        let (lo, hi) = span(recordings);
        let base = lo.unwrap_or(0);
        let from = opts.from.map(|t| t.resolve(base));
        let to = opts.to.map(|t| t.resolve(base));
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(Error::Usage(format!(
                    "--from ({}) is not before --to ({})",
                    crate::time::format_rfc3339(f),
                    crate::time::format_rfc3339(t)
                )));
            }
        }
        let start_ns = from.unwrap_or(base);
        let end_ns = to.unwrap_or(hi.unwrap_or(start_ns)).max(start_ns);
        Ok(Window {
            range: TimeRange {
                from_ns: from,
                to_ns: to,
            },
            start_ns,
            end_ns,
        })
    }
}

/// Most intervals an `--interval` report prints. A day in seconds is
/// 86,400; a window many times longer than that is almost always a
/// damaged segment time range, whose millions of empty intervals would
/// only exhaust memory.
pub const MAX_INTERVALS: i64 = 1_000_000;

/// How many intervals of `step` ns cover the window (at least one, then
/// at most `count`). More than [`MAX_INTERVALS`] is a usage error that
/// says where the window's ends come from, so that a damaged segment
/// time range is found.
pub fn interval_count(
    recordings: &[Recording],
    window: &Window,
    step: i64,
    count: Option<u64>,
) -> Result<i64> {
    let step = step.max(1) as i128;
    let span = (window.end_ns as i128 - window.start_ns as i128).max(0);
    let mut n = ((span + step - 1) / step).max(1);
    if let Some(c) = count {
        n = n.min(c as i128);
    }
    if n > MAX_INTERVALS as i128 {
        return Err(Error::Usage(format!(
            "--interval {} over {} .. {} makes {n} intervals, more than the {MAX_INTERVALS} a report prints: \
             give --count, --from/--to or a longer --interval{}",
            crate::time::format_secs(step as i64),
            crate::time::format_rfc3339(window.start_ns),
            crate::time::format_rfc3339(window.end_ns),
            span_sources(recordings, window)
        )));
    }
    Ok(n as i64)
}

/// Which segments set the ends of a window taken from the recordings,
/// for error messages: `; the window starts at the start of FILE …`.
fn span_sources(recordings: &[Recording], window: &Window) -> String {
    let mut parts = Vec::new();
    let segs = || recordings.iter().flat_map(|r| r.tables.values().flatten());
    if window.range.from_ns.is_none() {
        if let Some(s) = segs().find(|s| s.time_range().0 == Some(window.start_ns)) {
            parts.push(format!(
                "the window starts at the start of {}",
                s.path.display()
            ));
        } else if let Some(r) = recordings
            .iter()
            .find(|r| r.info.start_ns == window.start_ns)
        {
            parts.push(format!(
                "the window starts at the recording start of {}",
                r.root.display()
            ));
        }
    }
    if window.range.to_ns.is_none() {
        if let Some(s) = segs().find(|s| s.time_range().1 == Some(window.end_ns)) {
            parts.push(format!("it ends at the end of {}", s.path.display()));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The interval of `ts` among intervals of `step` ns from `base`
/// (negative before `base`). In i128, so that a timestamp far from the
/// window's start cannot wrap into a plausible interval; clamped to the
/// i64 range.
#[inline]
pub fn interval_index(ts: i64, base: i64, step: i64) -> i64 {
    let k = (ts as i128 - base as i128).div_euclid(step.max(1) as i128);
    k.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `[start, end)` of interval `k` of `step` ns from `base`, clamped to
/// the i64 range.
pub fn interval_bounds(base: i64, step: i64, k: i64) -> (i64, i64) {
    let at = |k: i128| {
        (base as i128 + k * step as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    };
    (at(k as i128), at(k as i128 + 1))
}

/// Checks `--interval` and `--count` the same way for every report that
/// takes both.
pub fn check_intervals(interval_ns: Option<i64>, count: Option<u64>) -> Result<()> {
    if matches!(interval_ns, Some(i) if i <= 0) {
        return Err(Error::Usage("--interval must be positive".into()));
    }
    if count.is_some() && interval_ns.is_none() {
        return Err(Error::Usage("--count needs --interval".into()));
    }
    Ok(())
}

impl Window {
    /// With `--count`, ends the window after `count` intervals from its
    /// start, so that nothing past the last printed interval is read.
    pub fn limit_to_count(&mut self, interval_ns: Option<i64>, count: Option<u64>) {
        if let (Some(iv), Some(n)) = (interval_ns, count) {
            let limit = self.start_ns.saturating_add(iv.saturating_mul(n as i64));
            self.range.to_ns = Some(self.range.to_ns.map_or(limit, |t| t.min(limit)));
            self.end_ns = self.end_ns.min(limit);
        }
    }
}
