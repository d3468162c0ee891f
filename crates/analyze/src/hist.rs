//! Histograms as the bcc tools print them.
//!
//! [`Log2Hist`] is a power-of-two histogram: slot `i` holds values `v` with
//! `floor(log2(v)) == i`, and 0 falls in slot 0 (bcc's `log2l`, and what
//! `floor(log2(x))` gives in DuckDB for `x >= 1`). It has a fixed 64 slots,
//! so it costs 512 bytes whatever the number of values: reports keep one
//! per group and thread and merge them.
//!
//! [`Log2Hist::write_text`] prints exactly what libbpf-tools'
//! `print_log2_hist` prints (rows from slot 0 up to the last non-empty
//! slot, 40-star bars, a wider layout when that slot is above 32), so eyes
//! and scripts used to bcc carry over. [`LinearHist`] does the same for
//! `print_linear_hist` (runqlen).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

/// Number of slots of a [`Log2Hist`]: enough for any `u64`.
pub const LOG2_SLOTS: usize = 64;

/// The slot of a value: `floor(log2(v))`, 0 for 0.
#[inline]
pub fn log2_slot(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        63 - v.leading_zeros() as usize
    }
}

/// The value range bcc prints for slot `i` (`low -> high`): slot 0 is
/// `0 -> 1`, slot 1 `2 -> 3`, slot `i` is `2^i -> 2^(i+1)-1`.
pub fn log2_bounds(i: usize) -> (u64, u64) {
    let low = ((1u128 << (i + 1)) >> 1) as u64;
    let high = ((1u128 << (i + 1)) - 1) as u64;
    if low == high {
        (low - 1, high)
    } else {
        (low, high)
    }
}

/// How values map to the slots of a [`Log2Hist`]: bcc's log2 slots (the
/// reports), or linear rows of `step` each for the heat maps that ask for
/// them (`heatmap --linear`), the last slot taking everything past it.
/// The reports' text and JSON writers label slots as log2: only the heat
/// map, which labels its own rows, sets `Linear`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Slots {
    /// `floor(log2(v))`.
    #[default]
    Log2,
    /// `v / step`, up to the last slot.
    Linear(u64),
}

impl Slots {
    /// The slot of `v`.
    #[inline]
    pub fn slot(self, v: u64) -> usize {
        match self {
            Slots::Log2 => log2_slot(v),
            Slots::Linear(step) => ((v / step.max(1)) as usize).min(LOG2_SLOTS - 1),
        }
    }
}

/// One printed row of a histogram, for JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Slot index (`floor(log2(v))` for log2 histograms).
    pub slot: usize,
    /// Lowest value of the slot as bcc labels it (inclusive).
    pub low: u64,
    /// Highest value of the slot (inclusive).
    pub high: u64,
    /// Values in the slot.
    pub count: u64,
}

/// A power-of-two histogram of non-negative integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log2Hist {
    slots: [u64; LOG2_SLOTS],
}

impl Default for Log2Hist {
    fn default() -> Self {
        Log2Hist {
            slots: [0; LOG2_SLOTS],
        }
    }
}

impl Log2Hist {
    /// Counts one value.
    #[inline]
    pub fn add(&mut self, v: u64) {
        self.slots[log2_slot(v)] += 1;
    }

    /// Counts one value in the slot `slots` gives it.
    #[inline]
    pub fn add_in(&mut self, slots: Slots, v: u64) {
        self.slots[slots.slot(v)] += 1;
    }

    /// Counts `n` values in slot `slot` (the last slot takes anything
    /// past it), for histograms the kernel already bucketed.
    #[inline]
    pub fn add_n(&mut self, slot: usize, n: u64) {
        self.slots[slot.min(LOG2_SLOTS - 1)] += n;
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Log2Hist) {
        for (a, b) in self.slots.iter_mut().zip(other.slots.iter()) {
            *a += b;
        }
    }

    /// Count in slot `i`.
    pub fn slot(&self, i: usize) -> u64 {
        self.slots[i]
    }

    /// Number of values counted.
    pub fn total(&self) -> u64 {
        self.slots.iter().sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|&c| c == 0)
    }

    /// The highest non-empty slot.
    pub fn idx_max(&self) -> Option<usize> {
        self.slots.iter().rposition(|&c| c > 0)
    }

    /// The rows bcc would print: slots 0 to the last non-empty one.
    pub fn buckets(&self) -> Vec<Bucket> {
        let Some(max) = self.idx_max() else {
            return Vec::new();
        };
        (0..=max)
            .map(|i| {
                let (low, high) = log2_bounds(i);
                Bucket {
                    slot: i,
                    low,
                    high,
                    count: self.slots[i],
                }
            })
            .collect()
    }

    /// Prints the histogram like libbpf-tools' `print_log2_hist`;
    /// `val_type` is the column label (`usecs`, `msecs`). An empty
    /// histogram prints nothing, as in bcc.
    pub fn write_text(&self, w: &mut dyn Write, val_type: &str) -> io::Result<()> {
        let Some(idx_max) = self.idx_max() else {
            return Ok(());
        };
        let val_max = self.slots.iter().copied().max().unwrap_or(0);
        // Above slot 32 the labels no longer fit in 10 columns: bcc widens
        // them to 20 and halves the bar.
        let narrow = idx_max <= 32;
        let (pad, label_w, num_w, stars) = if narrow {
            (5, 19, 10, 40)
        } else {
            (15, 29, 20, 20)
        };
        writeln!(
            w,
            "{:pad$}{:<label_w$} : count    distribution",
            "", val_type
        )?;
        for i in 0..=idx_max {
            let (low, high) = log2_bounds(i);
            let val = self.slots[i];
            write!(w, "{low:>num_w$} -> {high:<num_w$} : {val:<8} |")?;
            write_stars(w, val, val_max, stars)?;
            writeln!(w, "|")?;
        }
        Ok(())
    }
}

/// bcc's `print_stars`: `width * val / val_max` stars padded to `width`,
/// and a `+` when `val` exceeds `val_max`.
fn write_stars(w: &mut dyn Write, val: u64, val_max: u64, width: usize) -> io::Result<()> {
    let n = if val_max == 0 {
        0
    } else {
        (val.min(val_max) as u128 * width as u128 / val_max as u128) as usize
    };
    write!(w, "{}{}", "*".repeat(n), " ".repeat(width - n))?;
    if val > val_max {
        write!(w, "+")?;
    }
    Ok(())
}

/// A histogram with one slot per `step` starting at `base` (bcc's linear
/// histogram, used by runqlen).
///
/// Only non-empty slots are stored (and only those are printed, as in
/// bcc), so memory follows the number of distinct slots, not the largest
/// value: one damaged sample of 2^31 tasks must not allocate 16 GiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearHist {
    /// Value of slot 0.
    pub base: u64,
    /// Width of a slot.
    pub step: u64,
    counts: BTreeMap<u64, u64>,
}

impl LinearHist {
    /// An empty histogram; `step` must be at least 1.
    pub fn new(base: u64, step: u64) -> Self {
        LinearHist {
            base,
            step: step.max(1),
            counts: BTreeMap::new(),
        }
    }

    /// Counts one value (values below `base` go to slot 0).
    pub fn add(&mut self, v: u64) {
        let i = v.saturating_sub(self.base) / self.step;
        *self.counts.entry(i).or_default() += 1;
    }

    /// Adds another histogram with the same base and step.
    pub fn merge(&mut self, other: &LinearHist) {
        for (&i, &c) in &other.counts {
            let n = self.counts.entry(i).or_default();
            *n = n.saturating_add(c);
        }
    }

    /// Number of values counted.
    pub fn total(&self) -> u64 {
        self.counts.values().fold(0, |a, &c| a.saturating_add(c))
    }

    /// The lowest value of slot `i`.
    fn low(&self, i: u64) -> u64 {
        self.base.saturating_add(i.saturating_mul(self.step))
    }

    /// Non-empty slots as buckets (`low == high` is the slot's value when
    /// `step` is 1).
    pub fn buckets(&self) -> Vec<Bucket> {
        self.counts
            .iter()
            .filter(|(_, &c)| c > 0)
            .map(|(&i, &c)| {
                let low = self.low(i);
                Bucket {
                    slot: i as usize,
                    low,
                    high: low.saturating_add(self.step - 1),
                    count: c,
                }
            })
            .collect()
    }

    /// Prints like libbpf-tools' `print_linear_hist`: only non-empty slots,
    /// labelled by their lowest value.
    pub fn write_text(&self, w: &mut dyn Write, val_type: &str) -> io::Result<()> {
        if self.counts.values().all(|&c| c == 0) {
            return Ok(());
        }
        let val_max = self.counts.values().copied().max().unwrap_or(0);
        writeln!(w, "     {val_type:<13} : count     distribution")?;
        for (&i, &val) in &self.counts {
            if val == 0 {
                continue;
            }
            let label = self.low(i);
            write!(w, "        {label:<10} : {val:<8} |")?;
            write_stars(w, val, val_max, 40)?;
            writeln!(w, "|")?;
        }
        Ok(())
    }
}

/// The unit label bcc's log2 histograms print: `msecs` with `-m`, else
/// `usecs`.
pub fn unit_label(millis: bool) -> &'static str {
    if millis {
        "msecs"
    } else {
        "usecs"
    }
}

/// The time line bcc prints before a histogram set (`-T`, intervals): the
/// end of the interval, clamped to the recorded window, as `HH:MM:SS`.
pub fn write_interval_time(
    out: &mut dyn Write,
    interval: (i64, i64),
    window_end_ns: i64,
    localtime: bool,
) -> io::Result<()> {
    let t = interval.1.min(window_end_ns).max(interval.0);
    writeln!(out, "{:<8}", crate::time::format_hms(t, localtime))
}

/// The warning for an interval whose histograms include seconds with lost
/// events of `family`.
pub fn interval_loss_warning(family: &str, interval: (i64, i64), lost: u64) -> String {
    format!(
        "WARNING: the interval {} .. {} includes seconds with {} lost {family} events",
        crate::time::format_rfc3339(interval.0),
        crate::time::format_rfc3339(interval.1),
        lost
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn linear_slots_cap_at_the_last() {
        let l = Slots::Linear(100);
        assert_eq!(
            (l.slot(0), l.slot(99), l.slot(100), l.slot(6399)),
            (0, 0, 1, 63)
        );
        assert_eq!(l.slot(u64::MAX), LOG2_SLOTS - 1);
        assert_eq!(Slots::Log2.slot(1024), 10);
        let mut h = Log2Hist::default();
        h.add_in(l, 250);
        assert_eq!(h.slot(2), 1);
    }

    use super::*;

    fn text(h: &Log2Hist, t: &str) -> String {
        let mut v = Vec::new();
        h.write_text(&mut v, t).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn slots() {
        assert_eq!(log2_slot(0), 0);
        assert_eq!(log2_slot(1), 0);
        assert_eq!(log2_slot(2), 1);
        assert_eq!(log2_slot(3), 1);
        assert_eq!(log2_slot(4), 2);
        for k in 1..64 {
            assert_eq!(log2_slot(1u64 << k), k, "2^{k}");
            assert_eq!(log2_slot((1u64 << k) - 1), k - 1, "2^{k}-1");
        }
        assert_eq!(log2_slot(u64::MAX), 63);
    }

    #[test]
    fn bounds_match_bcc_labels() {
        assert_eq!(log2_bounds(0), (0, 1));
        assert_eq!(log2_bounds(1), (2, 3));
        assert_eq!(log2_bounds(2), (4, 7));
        assert_eq!(log2_bounds(10), (1024, 2047));
        assert_eq!(log2_bounds(63), (1 << 63, u64::MAX));
        // every value lies within the bounds of its slot
        for v in [0u64, 1, 2, 3, 5, 1000, 1 << 40, u64::MAX] {
            let (lo, hi) = log2_bounds(log2_slot(v));
            assert!(lo <= v && v <= hi, "{v}");
        }
    }

    #[test]
    fn empty_prints_nothing() {
        assert_eq!(text(&Log2Hist::default(), "usecs"), "");
        assert!(Log2Hist::default().buckets().is_empty());
    }

    #[test]
    fn prints_like_print_log2_hist() {
        let mut h = Log2Hist::default();
        for _ in 0..12 {
            h.add(1);
        }
        for _ in 0..245 {
            h.add(3);
        }
        h.add(5);
        let expected = "     usecs               : count    distribution\n\
\x20        0 -> 1          : 12       |*                                       |\n\
\x20        2 -> 3          : 245      |****************************************|\n\
\x20        4 -> 7          : 1        |                                        |\n";
        assert_eq!(text(&h, "usecs"), expected);
    }

    #[test]
    fn leading_empty_slots_are_printed_from_zero() {
        let mut h = Log2Hist::default();
        h.add(1 << 4);
        let t = text(&h, "msecs");
        assert_eq!(t.lines().count(), 1 + 5);
        assert!(t.starts_with("     msecs               : count    distribution\n         0 -> 1          : 0        |"));
        assert!(t.ends_with(
            "        16 -> 31         : 1        |****************************************|\n"
        ));
    }

    #[test]
    fn wide_layout_above_slot_32() {
        let mut h = Log2Hist::default();
        h.add(u64::MAX);
        h.add(1 << 33);
        h.add(1 << 33);
        let t = text(&h, "usecs");
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines.len(), 65);
        assert_eq!(
            lines[0],
            format!("{:15}{:<29} : count    distribution", "", "usecs")
        );
        assert_eq!(
            lines[34],
            "          8589934592 -> 17179869183          : 2        |********************|"
        );
        assert_eq!(
            lines[64],
            " 9223372036854775808 -> 18446744073709551615 : 1        |**********          |"
        );
        assert_eq!(h.total(), 3);
        assert_eq!(h.buckets().len(), 64);
    }

    #[test]
    fn merge_adds() {
        let mut a = Log2Hist::default();
        let mut b = Log2Hist::default();
        a.add(0);
        b.add(0);
        b.add(1000);
        a.merge(&b);
        assert_eq!(a.slot(0), 2);
        assert_eq!(a.slot(9), 1);
        assert_eq!(a.total(), 3);
        assert_eq!(
            a.buckets()[9],
            Bucket {
                slot: 9,
                low: 512,
                high: 1023,
                count: 1
            }
        );
    }

    #[test]
    fn linear_prints_like_print_linear_hist() {
        let mut h = LinearHist::new(0, 1);
        for v in [0, 0, 0, 0, 1, 3] {
            h.add(v);
        }
        let mut out = Vec::new();
        h.write_text(&mut out, "runqlen").unwrap();
        let expected = "     runqlen       : count     distribution\n\
\x20       0          : 4        |****************************************|\n\
\x20       1          : 1        |**********                              |\n\
\x20       3          : 1        |**********                              |\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(h.total(), 6);
        assert_eq!(h.buckets().len(), 3);
    }

    #[test]
    fn linear_holds_only_the_slots_it_saw() {
        // A run queue of 2^31 - 1 tasks once sized a 16 GiB vector.
        let mut h = LinearHist::new(0, 1);
        h.add(i32::MAX as u64);
        h.add(u64::MAX);
        h.add(1);
        assert_eq!(h.counts.len(), 3);
        let b = h.buckets();
        assert_eq!(b[1].low, i32::MAX as u64);
        assert_eq!((b[2].low, b[2].high), (u64::MAX, u64::MAX));
        let mut wide = LinearHist::new(10, u64::MAX);
        wide.add(5);
        wide.add(u64::MAX);
        assert_eq!(wide.buckets()[0].high, u64::MAX);
        let mut out = Vec::new();
        h.write_text(&mut out, "runqlen").unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
    }
}
