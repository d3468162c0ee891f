//! The bio family's in-flight sweep and clean stop: requests whose start
//! the kernel side saw but whose completion it never will (a request
//! merged away, one lost to a driver, or one still in flight when the
//! recording stops) are found in its pairing map, removed, and counted as
//! `unpaired` loss instead of staying there unseen.

use std::collections::HashMap;

use ktape_bpf::bio::BioSkel;

use crate::abi;
use crate::bpf::BpfError;
use crate::family::{Attached, Loaded, UserLoss};

/// How long a request may stay in flight before the sweep counts it as
/// unpaired: the block layer's default request timeout. A request still in
/// flight then has had its timeout handled (and its completion run) or its
/// completion was never shown to us.
pub const STALE_NS: u64 = 30_000_000_000;

/// What the sweep does with one in-flight entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still plausibly in flight.
    Keep,
    /// Issued to the driver and never completed as far as we saw: remove,
    /// and count it as `unpaired`.
    Unpaired,
    /// Never issued (merged into another request, or still queued when the
    /// recording stops): remove without counting; it was never a request
    /// the disk served, or not one of this recording.
    Forget,
}

/// The sweep's rule for an entry with these stamps (0: not seen), seen
/// first by the sweep at `first_seen` when it has none; `now` is
/// CLOCK_MONOTONIC; `last` is the sweep after every program is detached.
pub fn judge(insert_ns: u64, issue_ns: u64, first_seen: u64, now: u64, last: bool) -> Verdict {
    if issue_ns != 0 {
        if last || now.saturating_sub(issue_ns) >= STALE_NS {
            return Verdict::Unpaired;
        }
        return Verdict::Keep;
    }
    let since = if insert_ns != 0 {
        insert_ns
    } else {
        first_seen
    };
    if last || now.saturating_sub(since) >= STALE_NS {
        Verdict::Forget
    } else {
        Verdict::Keep
    }
}

/// The bio family's loaded object: the common one, plus the in-flight
/// sweep.
pub(super) struct BioLoaded {
    pub(super) inner: Attached<BioSkel<'static>>,
    /// When the sweep first saw entries that carry no time (only io_start
    /// was seen), by request pointer.
    pub(super) untimed: HashMap<u64, u64>,
    /// When the map was last walked (monotonic ns; 0: never).
    pub(super) swept_ns: u64,
}

/// How often the in-flight map is walked while recording. A walk costs
/// two syscalls per request in flight (thousands on deep queues), and no
/// request becomes stale sooner than [`STALE_NS`]: a third of it bounds
/// how late a stale one is counted.
pub const SWEEP_EVERY_NS: u64 = STALE_NS / 3;

/// The programs that see a request start (not its completion).
const INFLOW: &[&str] = &[
    "ktape_bio_start",
    "ktape_bio_insert",
    "ktape_bio_issue",
    "ktape_bio_start_raw",
    "ktape_bio_insert_raw",
    "ktape_bio_issue_raw",
];

impl Loaded for BioLoaded {
    fn attach(&mut self) -> Result<(), BpfError> {
        self.inner.attach()
    }
    fn detach(&mut self) {
        self.inner.detach()
    }
    fn hooks(&self) -> &'static str {
        self.inner.hooks()
    }
    fn kernel_ids(&self) -> crate::family::KernelIds {
        self.inner.kernel_ids()
    }

    fn quiesce(&mut self) -> std::time::Duration {
        self.inner.detach_programs(INFLOW);
        // Requests issued just before take well under this on any disk
        // that works; slower ones are counted as unpaired.
        std::time::Duration::from_millis(200)
    }

    fn sweep(&mut self, now_mono_ns: i64, last: bool) -> Vec<UserLoss> {
        use libbpf_rs::{MapCore, MapFlags};
        let now = now_mono_ns as u64;
        if !last && now.saturating_sub(self.swept_ns) < SWEEP_EVERY_NS {
            return Vec::new();
        }
        self.swept_ns = now;
        let map = &self.inner.skel().maps.ktape_bio_rq;
        let mut lost = Vec::new();
        let mut untimed = HashMap::new();
        for key in map.keys() {
            let Ok(Some(v)) = map.lookup(&key, MapFlags::ANY) else {
                continue; // completed meanwhile
            };
            let word = |i: usize| {
                v.get(i * 8..i * 8 + 8)
                    .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
                    .unwrap_or(0)
            };
            let (insert_ns, issue_ns) = (word(0), word(1));
            let k = key
                .get(..8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
                .unwrap_or(0);
            let first_seen = *self.untimed.get(&k).unwrap_or(&now);
            match judge(insert_ns, issue_ns, first_seen, now, last) {
                Verdict::Keep => {
                    if insert_ns == 0 && issue_ns == 0 {
                        untimed.insert(k, first_seen);
                    }
                }
                // Whoever deletes the entry owns it: the completion program
                // emits a row only if its own delete succeeds, so a request
                // is a row or a loss, never both.
                Verdict::Unpaired => {
                    if map.delete(&key).is_ok() {
                        lost.push(UserLoss {
                            reason: abi::LOSS_UNPAIRED,
                            mono_ns: issue_ns as i64,
                            count: 1,
                        });
                    }
                }
                Verdict::Forget => {
                    let _ = map.delete(&key);
                }
            }
        }
        self.untimed = untimed;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn issued_requests_are_unpaired_once_stale_or_at_the_end() {
        let now = 100 * S;
        assert_eq!(judge(0, now - S, 0, now, false), Verdict::Keep);
        assert_eq!(judge(now - 2 * S, now - S, 0, now, false), Verdict::Keep);
        assert_eq!(judge(0, now - STALE_NS, 0, now, false), Verdict::Unpaired);
        assert_eq!(
            judge(0, now - STALE_NS - 1, 0, now, false),
            Verdict::Unpaired
        );
        assert_eq!(judge(0, now - 1, 0, now, true), Verdict::Unpaired);
        // A clock stamp from after `now` (read before the lookup) is young.
        assert_eq!(judge(0, now + 5, 0, now, false), Verdict::Keep);
    }

    #[test]
    fn unissued_requests_are_forgotten_not_counted() {
        let now = 100 * S;
        assert_eq!(judge(now - S, 0, 0, now, false), Verdict::Keep);
        assert_eq!(judge(now - STALE_NS, 0, 0, now, false), Verdict::Forget);
        assert_eq!(judge(now - S, 0, 0, now, true), Verdict::Forget);
        // Only io_start seen: aged by when the sweep first saw it.
        assert_eq!(judge(0, 0, now, now, false), Verdict::Keep);
        assert_eq!(judge(0, 0, now - STALE_NS, now, false), Verdict::Forget);
        assert_eq!(judge(0, 0, now, now, true), Verdict::Forget);
    }
}
