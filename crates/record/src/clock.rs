//! Kernel timestamps are CLOCK_MONOTONIC (`bpf_ktime_get_ns`); files hold
//! wall-clock UTC. The offset between the two is measured once at start and
//! written into every file, so a reader can also go back to monotonic time.

/// Reads a clock in ns.
fn now_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// CLOCK_MONOTONIC now, ns: the clock BPF programs stamp events with.
pub fn mono_now_ns() -> i64 {
    now_ns(libc::CLOCK_MONOTONIC)
}

/// Wall-clock (CLOCK_REALTIME) now, ns since the Unix epoch.
pub fn wall_now_ns() -> i64 {
    now_ns(libc::CLOCK_REALTIME)
}

/// Wall clock minus monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// `wall = monotonic + offset_ns`.
    pub offset_ns: i64,
    /// Width of the monotonic bracket around the wall-clock read of the
    /// sample used: the uncertainty of `offset_ns`.
    pub uncertainty_ns: i64,
}

/// One bracketed read: monotonic, wall, monotonic.
pub type Sample = (i64, i64, i64);

/// Picks the sample whose wall-clock read was bracketed most tightly
/// (least likely to have been preempted between the reads) and takes the
/// wall time against the middle of its bracket.
pub fn tightest(samples: &[Sample]) -> Option<ClockOffset> {
    samples
        .iter()
        .min_by_key(|(m1, _, m2)| m2 - m1)
        .map(|&(m1, w, m2)| ClockOffset {
            offset_ns: w - (m1 + (m2 - m1) / 2),
            uncertainty_ns: m2 - m1,
        })
}

/// Measures the offset now.
pub fn measure() -> ClockOffset {
    let samples: Vec<Sample> = (0..9)
        .map(|_| {
            let m1 = mono_now_ns();
            let w = wall_now_ns();
            let m2 = mono_now_ns();
            (m1, w, m2)
        })
        .collect();
    tightest(&samples).expect("nine samples")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_tightest_bracket() {
        let s = [
            (100, 1_000_150, 300),
            (1000, 1_001_010, 1020),
            (5000, 1_005_500, 9000),
        ];
        let o = tightest(&s).unwrap();
        assert_eq!(o.uncertainty_ns, 20);
        assert_eq!(o.offset_ns, 1_001_010 - 1010);
        assert!(tightest(&[]).is_none());
    }

    #[test]
    fn measured_offset_is_sane() {
        let o = measure();
        assert!(
            o.uncertainty_ns >= 0 && o.uncertainty_ns < 10_000_000,
            "{o:?}"
        );
        // monotonic + offset lands on the wall clock, within a second.
        let wall = wall_now_ns();
        let est = mono_now_ns() + o.offset_ns;
        assert!((wall - est).abs() < 1_000_000_000, "wall {wall} est {est}");
        // and the wall clock is after 2020.
        assert!(est > 1_577_836_800_000_000_000);
    }
}
