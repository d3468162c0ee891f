// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `wakeup` family: one record per wakeup of a blocked task, with the
 * waker's stacks and the stacks the task blocked in, paired in the kernel.
 *
 * At a sleeping switch-out (sched_switch runs in prev's context, so the
 * stack helpers walk prev's stacks) the task's time, state and stack ids
 * go into a thread-keyed hash. At sched_waking, which runs in the waker's
 * context, the entry is taken out and, if the task had blocked for at
 * least --wakeup-min-block, the waker's stacks are walked and one record
 * is emitted. sched_waking rather than sched_wakeup: the latter fires
 * where the task is activated, which for a wakee on another (often idle)
 * CPU is that CPU's IPI handler in the idle task, where the waker and its
 * stack are gone. A switch-in deletes the task's entry, so an entry never
 * outlives one off-CPU period (a waking that raced ahead of the
 * switch-out it ends would otherwise leave an entry for the next wakeup
 * to misread). Preempted switch-outs (still runnable, no wakeup comes)
 * and dying tasks are not tracked, nor the idle task.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"
#include "ktape_stacks.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only wakeups of this process (0: all). */
/* --wakeup-min-block: shortest blocked time kept, ns. */
const volatile __u64 min_block_ns = 0;

#define PF_KTHREAD 0x00200000
#define TASK_DEAD 0x00000080

struct blocked {
	__u64 ts;
	__s32 kstack;
	__s32 ustack;
	__u32 state;
	__u32 tgid;
	__u8 flags;
	__u8 pad[7];
	char comm[KTAPE_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct blocked);
} ktape_wakeup_blocked SEC(".maps");

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___old *)t, state);
}

static __always_inline int on_switch(void *ctx, bool preempt, struct task_struct *prev,
				     struct task_struct *next)
{
	__u32 ppid = BPF_CORE_READ(prev, pid), npid = BPF_CORE_READ(next, pid);

	if (npid)
		bpf_map_delete_elem(&ktape_wakeup_blocked, &npid);
	if (ppid && !preempt) {
		__u32 state = task_state(prev), tgid = BPF_CORE_READ(prev, tgid);
		struct blocked b = {};

		if (!state || (state & TASK_DEAD) || (targ_tgid && tgid != targ_tgid))
			return 0;
		b.ts = bpf_ktime_get_ns();
		b.state = state;
		b.tgid = tgid;
		b.flags = BPF_CORE_READ(prev, flags) & PF_KTHREAD ? KTAPE_WAKEUP_KTHREAD : 0;
		b.kstack = ktape_stackid(ctx, KTAPE_FAMILY_WAKEUP, 0);
		b.ustack = BPF_CORE_READ(prev, mm)
				   ? ktape_stackid(ctx, KTAPE_FAMILY_WAKEUP, BPF_F_USER_STACK)
				   : -1;
		bpf_probe_read_kernel(b.comm, sizeof(b.comm), &prev->comm);
		if (bpf_map_update_elem(&ktape_wakeup_blocked, &ppid, &b, BPF_ANY))
			ktape_count_loss(KTAPE_FAMILY_WAKEUP, KTAPE_LOSS_MAP_FULL);
	}
	return 0;
}

static __always_inline int on_waking(void *ctx, struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, pid);
	struct blocked *b = bpf_map_lookup_elem(&ktape_wakeup_blocked, &pid);
	struct task_struct *cur;
	struct ktape_wakeup_event *e;
	void *ring;
	__u64 now, id;

	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - b->ts < min_block_ns) {
		bpf_map_delete_elem(&ktape_wakeup_blocked, &pid);
		return 0;
	}
	e = ktape_reserve(KTAPE_FAMILY_WAKEUP, sizeof(*e), &ring);
	if (!e) {
		bpf_map_delete_elem(&ktape_wakeup_blocked, &pid);
		return 0;
	}
	cur = (struct task_struct *)bpf_get_current_task();
	id = bpf_get_current_pid_tgid();
	e->kind = KTAPE_KIND_WAKEUP;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->blocked_ns = now - b->ts;
	e->waker_pid = (__u32)id;
	e->waker_tgid = id >> 32;
	e->pid = pid;
	e->tgid = b->tgid;
	e->kstack = b->kstack;
	e->ustack = b->ustack;
	e->state = b->state;
	e->flags = b->flags;
	if (BPF_CORE_READ(cur, flags) & PF_KTHREAD)
		e->flags |= KTAPE_WAKEUP_WAKER_KTHREAD;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	__builtin_memcpy(e->comm, b->comm, KTAPE_COMM_LEN);
	bpf_map_delete_elem(&ktape_wakeup_blocked, &pid);
	e->waker_kstack = ktape_stackid(ctx, KTAPE_FAMILY_WAKEUP, 0);
	e->waker_ustack = BPF_CORE_READ(cur, mm)
				  ? ktape_stackid(ctx, KTAPE_FAMILY_WAKEUP, BPF_F_USER_STACK)
				  : -1;
	bpf_get_current_comm(e->waker_comm, sizeof(e->waker_comm));
	ktape_submit(ring, e);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ktape_wakeup_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next);
}

SEC("tp_btf/sched_waking")
int BPF_PROG(ktape_wakeup_waking, struct task_struct *p)
{
	return on_waking(ctx, p);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(ktape_wakeup_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next);
}

SEC("raw_tp/sched_waking")
int BPF_PROG(ktape_wakeup_waking_raw, struct task_struct *p)
{
	return on_waking(ctx, p);
}
