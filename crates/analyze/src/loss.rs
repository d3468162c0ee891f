//! Lost events: loss is never silent.
//!
//! The recorder writes a `loss` row for every (second, family, CPU, reason)
//! in which the kernel could not hand events over; a row's `ts` is the
//! start of its one-second interval. Reports read the rows of their family
//! that overlap their window and show them beside the result: a warning in
//! text output (on stderr, so stdout stays bcc's layout), fields in JSON,
//! and a flag on results that fall in an affected second.

use std::collections::BTreeMap;

use ktape_format::read::{Recording, TimeRange};
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::scan;
use crate::error::Result;
use crate::time::{format_rfc3339, NS_PER_SEC};

/// Lost events of one family, by recording and second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loss {
    /// The family (`bio`, …).
    pub family: String,
    /// Events lost, keyed by (recording index, start of the second in ns).
    pub seconds: BTreeMap<(usize, i64), u64>,
}

/// A run of consecutive seconds with loss, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossRange {
    /// Start of the first second (RFC 3339, UTC).
    pub from: String,
    /// End of the last second (RFC 3339, UTC, exclusive).
    pub to: String,
    /// Events lost in the run.
    pub lost: u64,
}

impl Loss {
    /// Reads the loss rows of `family` whose second overlaps `range`.
    pub fn read(recordings: &[Recording], family: &str, range: TimeRange) -> Result<Loss> {
        // A loss second starting up to 1 s before the window still overlaps it.
        let widened = TimeRange {
            from_ns: range.from_ns.map(|f| f.saturating_sub(NS_PER_SEC - 1)),
            to_ns: range.to_ns,
        };
        let seconds = scan(
            recordings,
            ktape_format::loss::TABLE.name,
            widened,
            &["ts", "family", "lost"],
            BTreeMap::new,
            |acc: &mut BTreeMap<(usize, i64), u64>, unit, batch| {
                let path = &unit.segment.path;
                let ts = columns::timestamps(batch, "ts", path)?;
                let fam = Strings::from_batch(batch, "family", path)?;
                let ok = fam.matching(|f| f == family);
                let lost = columns::i64s(batch, "lost", path)?;
                for i in 0..batch.num_rows() {
                    if ok[fam.codes[i] as usize] && widened.contains(ts[i]) && lost[i] > 0 {
                        let n = acc.entry((unit.recording, ts[i])).or_default();
                        *n = n.saturating_add(lost[i] as u64);
                    }
                }
                Ok(())
            },
            |mut a, b| {
                for (k, v) in b {
                    let n = a.entry(k).or_default();
                    *n = n.saturating_add(v);
                }
                a
            },
        )?;
        Ok(Loss {
            family: family.to_string(),
            seconds,
        })
    }

    /// Total events lost (saturating: a damaged `lost` column must not
    /// wrap the total around to a small number).
    pub fn total(&self) -> u64 {
        self.seconds.values().fold(0, |a, &v| a.saturating_add(v))
    }

    /// Whether an event of recording `rec` at `ts` fell in a second with
    /// loss.
    pub fn affects(&self, rec: usize, ts: i64) -> bool {
        // The second holding `ts` starts at most 1 s - 1 ns before it;
        // saturating, so that a `ts` near i64::MIN looks back to i64::MIN
        // instead of wrapping past the end of the range.
        let first = ts.saturating_sub(NS_PER_SEC - 1);
        !self.seconds.is_empty()
            && self
                .seconds
                .range((rec, first)..=(rec, ts))
                .next()
                .is_some()
    }

    /// Events lost in seconds overlapping `[from, to)`, over all
    /// recordings.
    pub fn lost_between(&self, from: i64, to: i64) -> u64 {
        self.seconds
            .iter()
            .filter(|((_, s), _)| *s < to && s.saturating_add(NS_PER_SEC) > from)
            .fold(0, |a, (_, &v)| a.saturating_add(v))
    }

    /// Runs of consecutive lossy seconds (all recordings together), in
    /// time order.
    pub fn ranges(&self) -> Vec<LossRange> {
        let mut by_sec: BTreeMap<i64, u64> = BTreeMap::new();
        for ((_, s), v) in &self.seconds {
            let n = by_sec.entry(*s).or_default();
            *n = n.saturating_add(*v);
        }
        let mut out: Vec<LossRange> = Vec::new();
        let mut end = i64::MIN;
        for (s, v) in by_sec {
            match out.last_mut() {
                Some(r) if s <= end => {
                    r.lost = r.lost.saturating_add(v);
                    end = end.max(s.saturating_add(NS_PER_SEC));
                    r.to = format_rfc3339(end);
                }
                _ => {
                    end = s.saturating_add(NS_PER_SEC);
                    out.push(LossRange {
                        from: format_rfc3339(s),
                        to: format_rfc3339(end),
                        lost: v,
                    });
                }
            }
        }
        out
    }

    /// The warning line for text output, or `None` when nothing was lost.
    pub fn warning(&self) -> Option<String> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let ranges: Vec<String> = self
            .ranges()
            .iter()
            .map(|r| format!("{} .. {} ({} lost)", r.from, r.to, r.lost))
            .collect();
        Some(format!(
            "WARNING: {total} {} events were lost by the recorder (kernel could not hand them over) in: {}; \
             results from those seconds are incomplete",
            self.family,
            ranges.join(", ")
        ))
    }

    /// The JSON form: family, total and ranges.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "family": self.family,
            "total": self.total(),
            "ranges": self.ranges(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(rows: &[(usize, i64, u64)]) -> Loss {
        Loss {
            family: "bio".into(),
            seconds: rows
                .iter()
                .map(|&(r, s, v)| ((r, s * NS_PER_SEC), v))
                .collect(),
        }
    }

    #[test]
    fn nothing_lost_is_quiet() {
        let l = loss(&[]);
        assert_eq!(l.total(), 0);
        assert!(l.warning().is_none());
        assert!(!l.affects(0, 5));
    }

    #[test]
    fn seconds_and_ranges() {
        let l = loss(&[(0, 10, 5), (0, 11, 2), (1, 11, 1), (0, 20, 7)]);
        assert_eq!(l.total(), 15);
        assert!(l.affects(0, 10 * NS_PER_SEC));
        assert!(l.affects(0, 11 * NS_PER_SEC - 1));
        assert!(!l.affects(0, 12 * NS_PER_SEC));
        assert!(!l.affects(1, 10 * NS_PER_SEC + 5));
        assert!(l.affects(1, 11 * NS_PER_SEC + 5));
        assert_eq!(l.lost_between(10 * NS_PER_SEC + 500, 11 * NS_PER_SEC), 5);
        assert_eq!(l.lost_between(0, 100 * NS_PER_SEC), 15);
        let r = l.ranges();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].lost, r[1].lost), (8, 7));
        assert_eq!(r[0].from, "1970-01-01T00:00:10Z");
        assert_eq!(r[0].to, "1970-01-01T00:00:12Z");
        let w = l.warning().unwrap();
        assert!(w.contains("15 bio events"), "{w}");
    }

    #[test]
    fn times_at_the_ends_of_the_clock() {
        // A row stamped within a second of i64::MIN once made the range
        // below start after its end (a BTreeMap panic in biosnoop).
        let l = Loss {
            family: "bio".into(),
            seconds: [((0, i64::MIN), 1), ((0, i64::MAX - 5), u64::MAX)]
                .into_iter()
                .collect(),
        };
        assert!(l.affects(0, i64::MIN));
        assert!(l.affects(0, i64::MIN + 5));
        assert!(!l.affects(0, i64::MIN + NS_PER_SEC));
        assert!(l.affects(0, i64::MAX));
        assert!(!l.affects(1, i64::MAX));
        assert!(!l.affects(0, 0));
        assert_eq!(l.total(), u64::MAX);
        assert_eq!(l.lost_between(i64::MAX - 1, i64::MAX), u64::MAX);
        assert_eq!(l.lost_between(i64::MIN, i64::MIN + 1), 1);
        let r = l.ranges();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].to, format_rfc3339(i64::MAX));
    }
}
