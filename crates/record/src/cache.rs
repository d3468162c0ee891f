//! The `cache` family: one `cache` row a second of page-cache counters
//! (bcc's cachestat).
//!
//! The kernel side (`bpf/cache.bpf.c`) only adds to per-CPU counters; no
//! record goes through the rings, so this family has no record kind. The
//! decoder, on the drain thread, reads the counters at every flush (once a
//! second, and once more after the programs are detached), sums the CPUs
//! and writes the difference from the previous reading as one row, with
//! `Buffers` and `Cached` from /proc/meminfo. The loaded object hands the
//! decoder its own handle of the counter map through [`COUNTERS`], since
//! loading happens before decoders are made.

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, RecordBatch};
use ktape_bpf::cache::{CacheSkel, CacheSkelBuilder};
use ktape_format::cache::TABLE;
use ktape_format::TableSpec;
use libbpf_rs::{MapCore, MapFlags, MapHandle, ProgramMut};

use crate::abi;
use crate::columns::{I64Col, TsCol};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{
    Attached, DecodeCtx, DecodeError, Decoder, Family, LoadCtx, Loaded, Sink, Skeleton,
};

pub use ktape_bpf::abi::CacheCounters;

/// Sums per-CPU values as the kernel returns them (one byte vector per
/// CPU); a short value counts as zero.
pub fn sum(per_cpu: &[Vec<u8>]) -> CacheCounters {
    let mut t = CacheCounters::default();
    for v in per_cpu {
        let mut c = CacheCounters::default();
        if plain::copy_from_bytes(&mut c, v).is_ok() {
            t.added_pages += c.added_pages;
            t.dirtied_pages += c.dirtied_pages;
            t.read_pages += c.read_pages;
            t.mapped_pages += c.mapped_pages;
        }
    }
    t
}

/// What `now` counted since `before` (the counters only grow).
pub fn since(now: &CacheCounters, before: &CacheCounters) -> CacheCounters {
    CacheCounters {
        added_pages: now.added_pages.wrapping_sub(before.added_pages),
        dirtied_pages: now.dirtied_pages.wrapping_sub(before.dirtied_pages),
        read_pages: now.read_pages.wrapping_sub(before.read_pages),
        mapped_pages: now.mapped_pages.wrapping_sub(before.mapped_pages),
    }
}

/// The counter map of the loaded object, for the decoder (set by
/// [`Family::load`], taken by [`Family::decoder`]).
static COUNTERS: Mutex<Option<MapHandle>> = Mutex::new(None);

/// The `cache` family.
pub struct Cache;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Cache = Cache;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }
    fn about(&self) -> &'static str {
        "page-cache counters, one row a second"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_CACHE
    }
    fn kinds(&self) -> &'static [u32] {
        &[]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        // The shared maps are declared by every object (ktape.h); this one
        // does not write to them, but must not create its own.
        let obj = bpf::Object {
            family: "cache",
            hooks: "tp_btf",
            flavour: Flavour::TpBtf,
            skip: &[],
            stacks: false,
        };
        let skel = obj.load(ctx, CacheSkelBuilder::default(), |open| {
            if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
                ro.skip_tgid = std::process::id();
            }
        })?;
        let handle = crate::seconds::handle(skel.maps.ktape_cache_counts.as_fd(), "ktape_cache_counts")?;
        *COUNTERS.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        // tp_btf only: the folio's page count needs its typed pointer.
        Ok(Box::new(Attached::new(
            "cache",
            "tp_btf",
            Flavour::TpBtf,
            skel,
        )))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        let map = COUNTERS.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::new(CacheDecoder::new(ctx, map))
    }
}

impl Skeleton for CacheSkel<'static> {
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        vec![
            &p.ktape_cache_add,
            &p.ktape_cache_dirty,
            &p.ktape_cache_read,
            &p.ktape_cache_map,
            &p.ktape_cache_fault,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [
            m.ktape_cache_counts.as_fd(),
            m.ktape_cache_last.as_fd(),
            m.rodata.as_fd(),
        ]
        .into_iter()
        .filter_map(bpf::map_id)
        .collect()
    }
}

/// `Buffers` and `Cached` of /proc/meminfo, bytes (0 when unreadable).
pub fn meminfo_buffers_cached(text: &str) -> (i64, i64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("Buffers:"), field("Cached:"))
}

/// Reads the counters at each flush and writes one `cache` row per
/// reading.
pub struct CacheDecoder {
    offset_ns: i64,
    map: Option<MapHandle>,
    /// The previous reading and its time (CLOCK_MONOTONIC ns).
    last: CacheCounters,
    last_ns: i64,
    ts: TsCol,
    cols: [I64Col; 7],
    rows: usize,
}

impl CacheDecoder {
    fn new(ctx: &DecodeCtx, map: Option<MapHandle>) -> Self {
        CacheDecoder {
            offset_ns: ctx.clock_offset_ns,
            map,
            // Made before the programs attach: the counters are still 0.
            last: CacheCounters::default(),
            last_ns: crate::clock::mono_now_ns(),
            ts: TsCol::new(),
            cols: Default::default(),
            rows: 0,
        }
    }

    /// Appends the row for the time since the last reading.
    fn sample(&mut self) {
        let Some(map) = &self.map else { return };
        let now = crate::clock::mono_now_ns();
        let per_cpu = map
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .unwrap_or_default();
        let total = sum(&per_cpu);
        let d = since(&total, &self.last);
        let (buffers, cached) =
            meminfo_buffers_cached(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
        self.ts.append_value(now + self.offset_ns);
        for (b, v) in self.cols.iter_mut().zip([
            now - self.last_ns,
            d.added_pages as i64,
            d.dirtied_pages as i64,
            d.read_pages as i64,
            d.mapped_pages as i64,
            buffers,
            cached,
        ]) {
            b.append_value(v);
        }
        self.rows += 1;
        self.last = total;
        self.last_ns = now;
    }
}

impl Decoder for CacheDecoder {
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        // No kind is routed here; a record would be a bug elsewhere.
        Err(DecodeError::Short {
            family: "cache",
            got: rec.len(),
            want: 0,
        })
    }

    fn end_cycle(&mut self, _sink: &mut Sink<'_>) {}

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.sample();
        if self.rows == 0 {
            return;
        }
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![self.ts.finish()];
        cols.extend(
            self.cols
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        sink(
            &TABLE,
            RecordBatch::try_new(TABLE.schema(), cols).expect("cache columns match the table"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cpus_and_takes_differences() {
        let cpu = |a: u64, d: u64, r: u64, m: u64| {
            let c = CacheCounters {
                added_pages: a,
                dirtied_pages: d,
                read_pages: r,
                mapped_pages: m,
            };
            // SAFETY: CacheCounters is Plain.
            unsafe { plain::as_bytes(&c) }.to_vec()
        };
        let t = sum(&[cpu(1, 2, 3, 4), cpu(10, 20, 30, 40), vec![1, 2]]);
        assert_eq!(
            t,
            CacheCounters {
                added_pages: 11,
                dirtied_pages: 22,
                read_pages: 33,
                mapped_pages: 44
            }
        );
        let d = since(
            &t,
            &CacheCounters {
                added_pages: 1,
                dirtied_pages: 2,
                read_pages: 3,
                mapped_pages: 4,
            },
        );
        assert_eq!((d.added_pages, d.mapped_pages), (10, 40));
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:        8000000 kB\nBuffers:          123 kB\nCached:          4567 kB\nSwapCached: 9 kB\n";
        assert_eq!(meminfo_buffers_cached(text), (123 * 1024, 4567 * 1024));
        assert_eq!(meminfo_buffers_cached(""), (0, 0));
    }
}
