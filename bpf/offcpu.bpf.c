// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `offcpu` family: one record per off-CPU episode, paired in the
 * kernel.
 *
 * At switch-out (sched_switch runs in the context of prev, so the stack
 * helpers walk prev's stacks) the task's kernel and user stack ids, state
 * and time go into a task-keyed hash; at switch-in the entry is taken out
 * and, if the task was off CPU for at least --min-block, one record is
 * emitted. Pairing here rather than offline is what makes off-CPU stacks
 * affordable: a stack is only known at switch-out, and a row per switch
 * with stacks would be far more than one per episode above a threshold.
 * The idle task is never tracked.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"
#include "ktape_stacks.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */
/* --min-block: shortest episode kept, ns. */
const volatile __u64 min_block_ns = 0;

struct blocked {
	__u64 ts;
	__s32 kstack;
	__s32 ustack;
	__u32 state;
	__u32 tgid;
	char comm[KTAPE_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct blocked);
} ktape_blocked SEC(".maps");

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___old *)t, state);
}

static __always_inline int on_switch(void *ctx, struct task_struct *prev,
				     struct task_struct *next)
{
	__u32 ppid = BPF_CORE_READ(prev, pid), ptgid = BPF_CORE_READ(prev, tgid);
	__u32 npid = BPF_CORE_READ(next, pid);
	__u64 now = bpf_ktime_get_ns();

	if (ppid && (!targ_tgid || ptgid == targ_tgid)) {
		struct blocked b = {};

		b.ts = now;
		b.state = task_state(prev);
		b.tgid = ptgid;
		b.kstack = ktape_stackid(ctx, KTAPE_FAMILY_OFFCPU, 0);
		b.ustack = BPF_CORE_READ(prev, mm)
				   ? ktape_stackid(ctx, KTAPE_FAMILY_OFFCPU, BPF_F_USER_STACK)
				   : -1;
		bpf_probe_read_kernel(b.comm, sizeof(b.comm), &prev->comm);
		if (bpf_map_update_elem(&ktape_blocked, &ppid, &b, BPF_ANY))
			ktape_count_loss(KTAPE_FAMILY_OFFCPU, KTAPE_LOSS_MAP_FULL);
	}
	if (npid) {
		struct blocked *b = bpf_map_lookup_elem(&ktape_blocked, &npid);
		struct ktape_offcpu_event *e;
		void *ring;
		__u64 delta;

		if (!b)
			return 0;
		delta = now - b->ts;
		if (delta >= min_block_ns) {
			e = ktape_reserve(KTAPE_FAMILY_OFFCPU, sizeof(*e), &ring);
			if (e) {
				e->kind = KTAPE_KIND_OFFCPU;
				e->state = b->state;
				e->ts = now;
				e->duration_ns = delta;
				e->pid = npid;
				e->tgid = b->tgid;
				e->kstack = b->kstack;
				e->ustack = b->ustack;
				__builtin_memcpy(e->comm, b->comm, KTAPE_COMM_LEN);
				ktape_submit(ring, e);
			}
		}
		bpf_map_delete_elem(&ktape_blocked, &npid);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ktape_offcpu_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return on_switch(ctx, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(ktape_offcpu_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return on_switch(ctx, prev, next);
}
