// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `irq` family: every hard IRQ handler run and every softirq run,
 * timed and counted in the kernel per second x CPU x IRQ (runs, total and
 * maximum time, log2 histograms in ns and in µs).
 *
 * Handlers run tens of thousands of times a second per CPU under network
 * load and each run is a few hundred ns, so nothing per run goes through
 * the rings: the entry hooks stamp this CPU's slot (one for hard IRQs, one
 * for softirqs, since a hard IRQ may interrupt a softirq), the exit hooks
 * add the run to the entry of its key. The CPU is part of the key, so an
 * entry is only ever updated by its own CPU, and a hard IRQ interrupting
 * a softirq's update touches a different key: no atomics. User space
 * reads and deletes the entries of seconds that are over. A key that finds
 * the map full is counted as lost (map_full). tp_btf hooks are preferred,
 * raw_tp the fallback, one set enabled by user space before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The runs in progress on a CPU. ts 0: none (or it began before the
 * programs were attached, so its length is unknown and it is left out). */
struct irq_start {
	__u64 hard_ts;
	__u64 soft_ts;
	__u32 hard_irq;
	__u32 soft_vec;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct irq_start);
} ktape_irq_start SEC(".maps");

/* Per-second aggregates; max_entries is set by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ktape_irq_key);
	__type(value, struct ktape_irq_agg);
} ktape_irq_agg SEC(".maps");

static __always_inline __u32 slot_of(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r < KTAPE_IRQ_SLOTS ? r : KTAPE_IRQ_SLOTS - 1;
}

static __always_inline struct irq_start *slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ktape_irq_start, &zero);
}

static __always_inline void account(__u32 kind, __u32 irq, __u64 handler, __u64 start,
				    struct irqaction *action)
{
	struct ktape_irq_key key = {};
	struct ktape_irq_agg *a;
	__u64 now = bpf_ktime_get_ns(), lat = now - start;

	key.sec = now / 1000000000;
	key.cpu = bpf_get_smp_processor_id();
	key.kind = kind;
	key.irq = irq;
	key.handler = handler;
	a = bpf_map_lookup_elem(&ktape_irq_agg, &key);
	if (!a) {
		struct ktape_irq_agg fresh = {};

		if (action)
			bpf_probe_read_kernel_str(fresh.name, sizeof(fresh.name),
						  BPF_CORE_READ(action, name));
		bpf_map_update_elem(&ktape_irq_agg, &key, &fresh, BPF_NOEXIST);
		a = bpf_map_lookup_elem(&ktape_irq_agg, &key);
		if (!a) {
			ktape_count_loss(KTAPE_FAMILY_IRQ, KTAPE_LOSS_MAP_FULL);
			return;
		}
	}
	a->count += 1;
	a->total_ns += lat;
	if (lat > a->max_ns)
		a->max_ns = lat;
	a->ns_hist[slot_of(lat)] += 1;
	a->us_hist[slot_of(lat / 1000)] += 1;
}

static __always_inline int on_hard_entry(int irq)
{
	struct irq_start *s = slot();

	if (s) {
		s->hard_irq = irq;
		s->hard_ts = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline int on_hard_exit(int irq, struct irqaction *action)
{
	struct irq_start *s = slot();
	__u64 start;

	if (!s || !s->hard_ts || s->hard_irq != (__u32)irq)
		return 0;
	start = s->hard_ts;
	s->hard_ts = 0;
	account(KTAPE_IRQ_HARD, irq, (__u64)action, start, action);
	return 0;
}

static __always_inline int on_soft_entry(unsigned int vec)
{
	struct irq_start *s = slot();

	if (s) {
		s->soft_vec = vec;
		s->soft_ts = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline int on_soft_exit(unsigned int vec)
{
	struct irq_start *s = slot();
	__u64 start;

	if (!s || !s->soft_ts || s->soft_vec != vec)
		return 0;
	start = s->soft_ts;
	s->soft_ts = 0;
	account(KTAPE_IRQ_SOFT, vec, 0, start, 0);
	return 0;
}

/* ---- tp_btf: typed arguments ------------------------------------------ */

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(ktape_hardirq_entry, int irq, struct irqaction *action)
{
	return on_hard_entry(irq);
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(ktape_hardirq_exit, int irq, struct irqaction *action, int ret)
{
	return on_hard_exit(irq, action);
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(ktape_softirq_entry, unsigned int vec)
{
	return on_soft_entry(vec);
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(ktape_softirq_exit, unsigned int vec)
{
	return on_soft_exit(vec);
}

/* ---- raw_tp: the fallback --------------------------------------------- */

SEC("raw_tp/irq_handler_entry")
int BPF_PROG(ktape_hardirq_entry_raw, int irq, struct irqaction *action)
{
	return on_hard_entry(irq);
}

SEC("raw_tp/irq_handler_exit")
int BPF_PROG(ktape_hardirq_exit_raw, int irq, struct irqaction *action, int ret)
{
	return on_hard_exit(irq, action);
}

SEC("raw_tp/softirq_entry")
int BPF_PROG(ktape_softirq_entry_raw, unsigned int vec)
{
	return on_soft_entry(vec);
}

SEC("raw_tp/softirq_exit")
int BPF_PROG(ktape_softirq_exit_raw, unsigned int vec)
{
	return on_soft_exit(vec);
}
