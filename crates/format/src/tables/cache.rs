//! The `cache` table: page-cache activity per second, what bcc's cachestat
//! shows.
//!
//! The kernel counts in per-CPU counters and the recorder writes one row a
//! second with the sums. `added_pages` and `dirtied_pages` are exact
//! counts from tracepoints. Accesses are an **estimate**: bcc counts them
//! with a kprobe on `mark_page_accessed`, which has no tracepoint, so
//! ktape counts the pages buffered reads ask for (`read_pages`) and the
//! pages mmap faults map (`mapped_pages`). [`hits_misses`] turns a row
//! into cachestat's figures.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `cache` table.
pub static TABLE: TableSpec = TableSpec {
    name: "cache",
    family: "cache",
    row: "one interval (about a second) of page-cache counters, summed over CPUs",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "End of the interval (UTC)." },
        ColumnSpec { name: "interval_ns", ty: Int64, unit: "ns", nullable: false, doc: "Length of the interval (about one second; the last one is shorter)." },
        ColumnSpec { name: "added_pages", ty: Int64, unit: "pages", nullable: false, doc: "Pages added to the page cache (filemap:mm_filemap_add_to_page_cache, each folio's pages): reads that missed, readahead, and new pages for writes. Exact." },
        ColumnSpec { name: "dirtied_pages", ty: Int64, unit: "pages", nullable: false, doc: "Pages that became dirty (writeback:writeback_dirty_folio, each folio's pages). Exact." },
        ColumnSpec { name: "read_pages", ty: Int64, unit: "pages", nullable: false, doc: "ESTIMATE of pages accessed by buffered reads: the page range each read asked filemap_get_pages for (filemap:mm_filemap_get_pages), counted once per read. Does not see reads that bypass the page cache (O_DIRECT)." },
        ColumnSpec { name: "mapped_pages", ty: Int64, unit: "pages", nullable: false, doc: "ESTIMATE of pages accessed through mmap: fault-around ranges (filemap:mm_filemap_map_pages, an upper bound) plus single-page faults (filemap:mm_filemap_fault). Accesses to pages already mapped cause no fault and are not seen." },
        ColumnSpec { name: "buffers_bytes", ty: Int64, unit: "bytes", nullable: false, doc: "`Buffers` of /proc/meminfo at the end of the interval." },
        ColumnSpec { name: "cached_bytes", ty: Int64, unit: "bytes", nullable: false, doc: "`Cached` of /proc/meminfo at the end of the interval." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// cachestat's figures for one interval, from the counters as bcc forms
/// them: accesses = reads + mapped + dirtied pages (writes touch the pages
/// they dirty), misses = added − dirtied (pages added for writes are not
/// misses), hits = accesses − misses, each at least 0. Returns
/// `(hits, misses, accesses)`; hits and accesses are estimates.
pub fn hits_misses(added: i64, dirtied: i64, read: i64, mapped: i64) -> (i64, i64, i64) {
    let accesses = (read + mapped + dirtied).max(0);
    let misses = (added - dirtied).max(0);
    let hits = (accesses - misses).max(0);
    (hits, misses, accesses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_arithmetic() {
        // A cold read of 100 pages: all added, all asked for.
        assert_eq!(hits_misses(100, 0, 100, 0), (0, 100, 100));
        // The same read again: nothing added.
        assert_eq!(hits_misses(0, 0, 100, 0), (100, 0, 100));
        // Readahead adds more than was asked for yet: hits stay at 0.
        assert_eq!(hits_misses(160, 0, 100, 0), (0, 160, 100));
        // Appending 10 new pages: added and dirtied, no miss.
        assert_eq!(hits_misses(10, 10, 0, 0), (10, 0, 10));
    }
}
