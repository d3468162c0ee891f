//! Times and durations on the command line, and how times are printed.
//!
//! * Durations: `500us`, `5ms`, `1.5s`, `2m`, `1h`, compounds such as
//!   `1m30s`; units `ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`.
//!   A plain number takes a unit the caller chooses (milliseconds for
//!   `--min-latency`, seconds for `--interval` and offsets) and the help says
//!   which. Decimals are exact (no float rounding): `1.5ms` is 1,500,000 ns.
//! * Points in time (`--from/--to`): an RFC 3339 timestamp
//!   (`2025-01-31T12:00:00Z`, `2025-01-31T13:00:00+01:00`, fractions
//!   allowed) or an offset from the recording's start, `+10s`, `+1m30s`.
//!
//! All times inside the analyzer are ns since the Unix epoch (UTC), as in
//! the recording's `ts` columns.

use chrono::{DateTime, Local, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// Nanoseconds per second.
pub const NS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds per millisecond.
pub const NS_PER_MS: i64 = 1_000_000;
/// Nanoseconds per microsecond.
pub const NS_PER_US: i64 = 1_000;

/// The unit of a duration written as a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultUnit {
    /// Plain numbers are milliseconds (`--min-latency 10` is 10 ms, like
    /// bcc's `biosnoop`/`ext4slower` minimums).
    Millis,
    /// Plain numbers are seconds (`--interval 1`, `--from +10`).
    Seconds,
    /// Plain numbers are microseconds (runqslower's `--min-latency 10000`,
    /// like bcc's positional min_us).
    Micros,
}

fn unit_ns(unit: &str) -> Option<i64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => NS_PER_US,
        "ms" => NS_PER_MS,
        "s" | "sec" => NS_PER_SEC,
        "m" | "min" => 60 * NS_PER_SEC,
        "h" => 3600 * NS_PER_SEC,
        _ => return None,
    })
}

/// Parses a non-negative duration into nanoseconds.
pub fn parse_duration(input: &str, default_unit: DefaultUnit) -> Result<i64> {
    let bad = |reason: &str| Error::BadDuration {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: i128 = 0;
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        let num_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        let num = &rest[..num_len];
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if num.is_empty() {
            return Err(bad("expected a number, e.g. 500us, 5ms, 1.5s, 1m30s"));
        }
        let per = if unit.is_empty() {
            if !(first && rest.is_empty()) {
                return Err(bad("every part of a compound duration needs a unit"));
            }
            match default_unit {
                DefaultUnit::Millis => NS_PER_MS,
                DefaultUnit::Seconds => NS_PER_SEC,
                DefaultUnit::Micros => NS_PER_US,
            }
        } else {
            unit_ns(unit).ok_or_else(|| bad("unknown unit (use ns, us, ms, s, m, h)"))?
        };
        total += decimal_times(num, per).ok_or_else(|| bad("not a number"))?;
        first = false;
    }
    i64::try_from(total).map_err(|_| bad("too large"))
}

/// `num` (digits with at most one '.') times `per`, truncated to an
/// integer, computed exactly.
fn decimal_times(num: &str, per: i64) -> Option<i128> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let frac = &frac[..frac.len().min(18)];
    let int_v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let scale = 10i128.pow(frac.len() as u32);
    int_v
        .checked_mul(per as i128)?
        .checked_add(frac_v * per as i128 / scale)
}

/// A point in time given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// An absolute time, ns since the epoch.
    At(i64),
    /// An offset from the start of the recording(s), ns.
    Offset(i64),
}

impl TimeSpec {
    /// The absolute time, given when the recording(s) started.
    pub fn resolve(self, start_ns: i64) -> i64 {
        match self {
            TimeSpec::At(t) => t,
            TimeSpec::Offset(d) => start_ns.saturating_add(d),
        }
    }
}

/// Parses `--from/--to`: RFC 3339, or `+DURATION` from the start
/// (a plain `+10` is seconds).
pub fn parse_time_spec(input: &str) -> Result<TimeSpec> {
    let s = input.trim();
    if let Some(off) = s.strip_prefix('+') {
        return parse_duration(off, DefaultUnit::Seconds)
            .map(TimeSpec::Offset)
            .map_err(|e| match e {
                Error::BadDuration { reason, .. } => Error::BadTime {
                    input: input.to_string(),
                    reason,
                },
                e => e,
            });
    }
    let dt = DateTime::parse_from_rfc3339(s).map_err(|e| Error::BadTime {
        input: input.to_string(),
        reason: format!(
            "{e}; use RFC 3339 (2025-01-31T12:00:00Z) or an offset from the recording's start (+10s, +1m30s)"
        ),
    })?;
    dt.timestamp_nanos_opt()
        .map(TimeSpec::At)
        .ok_or_else(|| Error::BadTime {
            input: input.to_string(),
            reason: "out of range".into(),
        })
}

/// RFC 3339 in UTC with as many fraction digits as needed
/// (`2023-11-14T22:13:20Z`, `2023-11-14T22:13:20.500Z`).
pub fn format_rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `HH:MM:SS` as bcc's `-T` prints it, in UTC or in the local time zone of
/// the machine running the analyzer.
pub fn format_hms(ns: i64, local: bool) -> String {
    let utc = DateTime::<Utc>::from_timestamp_nanos(ns);
    if local {
        utc.with_timezone(&Local).format("%H:%M:%S").to_string()
    } else {
        utc.format("%H:%M:%S").to_string()
    }
}

/// Seconds from `from` to `ts`, for TIME(s) columns. Computed in i128:
/// two timestamps of a damaged file can be more than i64::MAX apart, and
/// a wrapped difference would print a plausible, wrong time.
pub fn secs_between(from: i64, ts: i64) -> f64 {
    (ts as i128 - from as i128) as f64 / NS_PER_SEC as f64
}

/// A duration in seconds with millisecond precision, e.g. `20.000s`.
pub fn format_secs(ns: i64) -> String {
    format!("{:.3}s", ns as f64 / NS_PER_SEC as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DefaultUnit::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500us", Millis).unwrap(), 500_000);
        assert_eq!(parse_duration("500µs", Millis).unwrap(), 500_000);
        assert_eq!(parse_duration("5ms", Millis).unwrap(), 5_000_000);
        assert_eq!(parse_duration("1.5s", Millis).unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("10", Millis).unwrap(), 10_000_000);
        assert_eq!(parse_duration("10", Seconds).unwrap(), 10_000_000_000);
        assert_eq!(parse_duration("0.25", Millis).unwrap(), 250_000);
        assert_eq!(parse_duration("1m30s", Millis).unwrap(), 90 * NS_PER_SEC);
        assert_eq!(
            parse_duration("1h2m3s4ms", Millis).unwrap(),
            3723 * NS_PER_SEC + 4 * NS_PER_MS
        );
        assert_eq!(parse_duration("0", Millis).unwrap(), 0);
        assert_eq!(parse_duration("7ns", Millis).unwrap(), 7);
        assert_eq!(parse_duration(".5s", Millis).unwrap(), 500_000_000);
        // exact, no float error
        assert_eq!(parse_duration("0.1s", Millis).unwrap(), 100_000_000);
        assert_eq!(
            parse_duration("1.000000001s", Millis).unwrap(),
            1_000_000_001
        );
    }

    #[test]
    fn bad_durations() {
        for s in [
            "",
            "ms",
            "5x",
            "1.2.3s",
            "1m30",
            "-5ms",
            "99999999999h",
            ".",
        ] {
            assert!(parse_duration(s, Millis).is_err(), "{s:?} should fail");
        }
    }

    #[test]
    fn time_specs() {
        assert_eq!(
            parse_time_spec("+10s").unwrap(),
            TimeSpec::Offset(10 * NS_PER_SEC)
        );
        assert_eq!(
            parse_time_spec("+1m30s").unwrap(),
            TimeSpec::Offset(90 * NS_PER_SEC)
        );
        assert_eq!(
            parse_time_spec("+10").unwrap(),
            TimeSpec::Offset(10 * NS_PER_SEC)
        );
        assert_eq!(
            parse_time_spec("2023-11-14T22:13:20Z").unwrap(),
            TimeSpec::At(1_700_000_000 * NS_PER_SEC)
        );
        assert_eq!(
            parse_time_spec("2023-11-14T23:13:20.5+01:00").unwrap(),
            TimeSpec::At(1_700_000_000 * NS_PER_SEC + 500_000_000)
        );
        assert!(parse_time_spec("yesterday").is_err());
        assert!(parse_time_spec("+soon").is_err());
        assert_eq!(TimeSpec::Offset(5).resolve(10), 15);
        assert_eq!(TimeSpec::At(5).resolve(10), 5);
    }

    #[test]
    fn formatting() {
        let t = 1_700_000_000 * NS_PER_SEC;
        assert_eq!(format_rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(t + 500_000_000), "2023-11-14T22:13:20.500Z");
        assert_eq!(format_hms(t, false), "22:13:20");
        assert_eq!(format_secs(20 * NS_PER_SEC), "20.000s");
        // Every i64 is a printable time: the ends of the clock too.
        assert_eq!(format_rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(format_hms(i64::MIN, false), "00:12:43");
        assert_eq!(format_hms(i64::MAX, true).len(), 8);
    }

    #[test]
    fn seconds_between_the_ends_of_the_clock() {
        assert_eq!(secs_between(0, 1_500_000_000), 1.5);
        assert_eq!(secs_between(NS_PER_SEC, 0), -1.0);
        // i64::MAX - i64::MIN wraps to -1 in i64.
        assert!(secs_between(i64::MIN, i64::MAX) > 1.8e10);
        assert!(secs_between(i64::MAX, i64::MIN) < -1.8e10);
    }
}
