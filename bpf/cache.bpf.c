// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `cache` family: page-cache counters, what bcc's cachestat shows.
 *
 * Nothing goes through the rings: every hook adds to per-CPU counters
 * (one array slot per CPU, no atomics, no contention) and user space reads
 * and sums them once a second into one `cache` row.
 *
 *   added_pages    filemap:mm_filemap_add_to_page_cache, the folio's pages:
 *                  pages that entered the cache (misses), exact
 *   dirtied_pages  writeback:writeback_dirty_folio, the folio's pages:
 *                  pages that became dirty, exact
 *   read_pages     filemap:mm_filemap_get_pages: pages a buffered read
 *                  asked for (an estimate of accesses: see below)
 *   mapped_pages   filemap:mm_filemap_map_pages (the fault-around range) +
 *                  filemap:mm_filemap_fault (one page): pages reached
 *                  through mmap faults (an estimate, an upper bound)
 *
 * bcc counts accesses with a kprobe on mark_page_accessed, which has no
 * tracepoint; these two are the closest the kernel's tracepoints give.
 * filemap_get_pages reports [index, last_index] of the whole rest of the
 * read every time it returns a batch, so a large read() is reported once
 * per batch of folios: a range that continues the one this CPU reported
 * last (same file, same end, later start) is the same read and is not
 * counted again.
 *
 * tp_btf hooks: typed folio pointers give each folio's page count (large
 * folios are many pages).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */
/* The recorder itself: its Parquet writes are not the workload's. */
const volatile __u32 skip_tgid = 0;

/* Per-CPU counters (struct ktape_cache_counters). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_cache_counters);
} ktape_cache_counts SEC(".maps");

/* The last get_pages range this CPU counted. */
struct last_read {
	__u64 mapping;
	__u64 index;
	__u64 last;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_read);
} ktape_cache_last SEC(".maps");

static __always_inline struct ktape_cache_counters *counters(void)
{
	__u32 zero = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if ((targ_tgid && tgid != targ_tgid) || tgid == skip_tgid)
		return NULL;
	return bpf_map_lookup_elem(&ktape_cache_counts, &zero);
}

/*
 * Pages in a folio: 1, or for a large folio (PG_head set in its flags
 * word) its _nr_pages (64-bit kernels keep it in the first tail page).
 * The flags word is the folio's first field whether or not it is wrapped
 * in memdesc_flags_t (6.18), so it is read as a plain word.
 */
static __always_inline __u64 folio_pages(struct folio *folio)
{
	unsigned long flags = 0;
	unsigned int nr = 0;

	bpf_probe_read_kernel(&flags, sizeof(flags), folio);
	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 1;
	if (bpf_core_field_exists(folio->_nr_pages)) {
		BPF_CORE_READ_INTO(&nr, folio, _nr_pages);
		if (nr)
			return nr;
	}
	return 1;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(ktape_cache_add, struct folio *folio)
{
	struct ktape_cache_counters *c = counters();

	if (c)
		c->added_pages += folio_pages(folio);
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(ktape_cache_dirty, struct folio *folio, struct address_space *mapping)
{
	struct ktape_cache_counters *c = counters();

	if (c)
		c->dirtied_pages += folio_pages(folio);
	return 0;
}

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(ktape_cache_read, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	struct ktape_cache_counters *c = counters();
	struct last_read *l;
	__u32 zero = 0;

	if (!c || last_index < index)
		return 0;
	l = bpf_map_lookup_elem(&ktape_cache_last, &zero);
	if (!l)
		return 0;
	if (l->mapping == (__u64)mapping && l->last == last_index && index > l->index) {
		l->index = index; /* the next batch of a read already counted */
		return 0;
	}
	l->mapping = (__u64)mapping;
	l->index = index;
	l->last = last_index;
	c->read_pages += last_index - index + 1;
	return 0;
}

SEC("tp_btf/mm_filemap_map_pages")
int BPF_PROG(ktape_cache_map, struct address_space *mapping, unsigned long start,
	     unsigned long end)
{
	struct ktape_cache_counters *c = counters();

	if (c && end >= start)
		c->mapped_pages += end - start + 1;
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(ktape_cache_fault, struct address_space *mapping, unsigned long index)
{
	struct ktape_cache_counters *c = counters();

	if (c)
		c->mapped_pages += 1;
	return 0;
}
