//! Kernel maps that count per second: what `syscall` and `irq` share.
//!
//! Those families add every event to a hash entry whose key carries the
//! CLOCK_MONOTONIC second it happened in, so nothing per event crosses to
//! user space. [`SecondMap`] is the user-space half: on the drain thread,
//! at every flush, it reads the entries of seconds that are over (no
//! program can touch them any more, so no count races a read) and deletes
//! them, and takes every entry at the end. [`handle`] gives a decoder its
//! own handle of a map the loaded object owns (loading happens before
//! decoders are made), as `cache` also needs.

use std::os::fd::BorrowedFd;

use libbpf_rs::{MapCore, MapFlags, MapHandle};
use plain::Plain;

use crate::bpf::{self, BpfError};

/// A handle of the map behind `fd`, for another thread.
pub fn handle(fd: BorrowedFd<'_>, map: &'static str) -> Result<MapHandle, BpfError> {
    bpf::map_id(fd)
        .and_then(|id| MapHandle::from_map_id(id).ok())
        .ok_or_else(|| BpfError::Map {
            map,
            source: libbpf_rs::Error::from(std::io::Error::last_os_error()),
        })
}

/// A key is read once its second has been over for this long: a program
/// that read the clock in that second has long updated its entry.
const SETTLE_NS: i64 = 200_000_000;

/// Entries read per batch syscall.
const BATCH: u32 = 4096;

/// The user-space side of one per-second map with keys `K` and values `V`
/// (the generated structs of `bpf/ktape.h`).
pub struct SecondMap<K, V> {
    family: &'static str,
    map: Option<MapHandle>,
    /// Entries read by the last harvest, sorted by the caller.
    entries: Vec<(K, V)>,
    /// Their keys' bytes, back to back, for the batch delete.
    done: Vec<u8>,
}

impl<K: Plain + Default, V: Plain + Default> SecondMap<K, V> {
    /// The map of `family` (`None`: nothing to harvest, as in unit tests).
    pub fn new(family: &'static str, map: Option<MapHandle>) -> Self {
        SecondMap {
            family,
            map,
            entries: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Moves the entries of the seconds that are over at `now_mono_ns`
    /// (all of them when `last`) out of the map; `sec` says a key's
    /// second. Returns them, to be sorted and written.
    pub fn harvest(
        &mut self,
        now_mono_ns: i64,
        last: bool,
        sec: impl Fn(&K) -> u32,
    ) -> &mut Vec<(K, V)> {
        self.entries.clear();
        self.done.clear();
        let Some(map) = &self.map else {
            return &mut self.entries;
        };
        if let Ok(iter) = map.lookup_batch(BATCH, MapFlags::ANY, MapFlags::ANY) {
            for (k, v) in iter {
                let (mut key, mut val) = (K::default(), V::default());
                if plain::copy_from_bytes(&mut key, &k).is_err()
                    || plain::copy_from_bytes(&mut val, &v).is_err()
                {
                    continue;
                }
                if last || (sec(&key) as i64 + 1) * 1_000_000_000 + SETTLE_NS <= now_mono_ns {
                    self.done.extend_from_slice(&k);
                    self.entries.push((key, val));
                }
            }
        }
        if !self.entries.is_empty() {
            let n = self.entries.len() as u32;
            // Deleted only once read: a failure leaves them for next time
            // rather than losing them (they would then be written twice,
            // so say so).
            if let Err(e) = map.delete_batch(&self.done, n, MapFlags::ANY, MapFlags::ANY) {
                crate::status::say(&format!(
                    "{}: could not remove {n} counters once read ({e}); they may be written again",
                    self.family
                ));
            }
        }
        &mut self.entries
    }
}
