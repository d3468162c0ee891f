//! The values of the command line that have units: durations (`90s`,
//! `10m`), sizes (`4M`, `256MiB`), minimum times (`500us`) and
//! `--rotate`'s pair of them. Kept apart from the flags so that a family's
//! option can parse its value the way every other option does.

use std::time::Duration;

use super::CliError;
use crate::family;

/// What `--rotate` asks for: a time, a size, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateSpec {
    pub every: Option<Duration>,
    pub size: Option<u64>,
}

/// Why a `--rotate` value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateError {
    /// Not a duration or size with a unit (a bare number is refused:
    /// seconds and bytes are both plausible, and guessing wrong fills a
    /// disk).
    Unreadable,
    /// Zero or negative.
    Zero,
}

/// Parses `--rotate`: a duration with a unit (`500ms`, `90s`, `10m`,
/// `1h`), a size with a unit (`256MiB`, `64M`, `1G`), or one of each
/// separated by a comma.
pub fn parse_rotate(s: &str) -> Result<RotateSpec, RotateError> {
    let mut spec = RotateSpec {
        every: None,
        size: None,
    };
    for part in s.split(',') {
        let t = part.trim();
        if let Some(secs) = parse_secs_with_unit(t) {
            if spec.every.is_some() {
                return Err(RotateError::Unreadable);
            }
            if secs <= 0.0 {
                return Err(RotateError::Zero);
            }
            if secs >= 1e9 {
                return Err(RotateError::Unreadable);
            }
            spec.every = Some(Duration::from_secs_f64(secs));
            continue;
        }
        if t.is_empty() || t.chars().last().is_some_and(|c| c.is_ascii_digit()) {
            return Err(RotateError::Unreadable);
        }
        let size = parse_size(t).ok_or(RotateError::Unreadable)?;
        if spec.size.is_some() {
            return Err(RotateError::Unreadable);
        }
        if size == 0 {
            return Err(RotateError::Zero);
        }
        spec.size = Some(size);
    }
    Ok(spec)
}

/// A number of seconds from a number with a time unit (`ms`, `s`, `m`,
/// `h`); `None` without one.
fn parse_secs_with_unit(t: &str) -> Option<f64> {
    let units: [(&str, f64); 4] = [("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    for (unit, secs) in units {
        if let Some(num) = t.strip_suffix(unit) {
            // `5m` must not be read as `5` + `m` of `ms`: try ms first.
            if let Ok(v) = num.trim().parse::<f64>() {
                return v.is_finite().then_some(v * secs);
            }
        }
    }
    None
}

/// Parses `-d`: seconds, or a number with a unit.
pub fn parse_duration(s: &str) -> Result<Duration, CliError> {
    let t = s.trim();
    let secs = parse_secs_with_unit(t)
        .or_else(|| t.parse::<f64>().ok())
        .ok_or_else(|| CliError::BadDuration(s.to_string()))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(CliError::BadDuration(s.to_string()));
    }
    if secs >= 1e9 {
        return Err(CliError::HugeDuration(s.to_string()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `--min-block`: microseconds, or a number with a unit (`ns`,
/// `us`, `ms`, `s`), to ns.
pub fn parse_min_block(s: &str) -> Option<u64> {
    let t = s.trim();
    let units: [(&str, f64); 4] = [("ns", 1.0), ("us", 1e3), ("ms", 1e6), ("s", 1e9)];
    let (num, mult) = units
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((t, 1e3));
    let v = num.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0 && v * mult < 1e18).then_some((v * mult) as u64)
}

/// Parses a family's minimum-time option (`--min-block`,
/// `--min-latency`) to ns, with the message every such option gives.
pub fn parse_min_time(flag: &str, s: &str) -> Result<u64, family::OptionError> {
    parse_min_block(s).ok_or_else(|| {
        family::OptionError(format!(
            "{flag} {s}: give a time such as 500us, 1ms or 2s (a bare number is microseconds)"
        ))
    })
}

/// Parses a size such as `4M`, `512K`, `4MiB` or `65536`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&t[..i], 1 << 20),
        (i, 'g' | 'G') => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}
