// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `sched` family: one raw record per sched_switch, sched_wakeup and
 * sched_wakeup_new.
 *
 * This is ktape's hot path (hundreds of thousands of switches a second on
 * a busy host), so the programs do the least that keeps the rows
 * complete: no maps besides the shared rings, no pairing (runqlat and
 * cpudist pair rows offline, exactly), one fixed-size record per event.
 * With tp_btf the task pointers are trusted BTF pointers and fields are
 * read with plain loads; the raw_tp fallback reads them with
 * BPF_CORE_READ (probe reads). Nothing is excluded by default, the
 * recorder's own threads included: they switch about 200 times a second.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only events that involve this process (0: all). */

/* Before 5.14 the task state was `state` (a long). */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* Before 5.16 (x86) the CPU lived in task_struct, not thread_info. */
struct task_struct___cpu {
	unsigned int cpu;
} __attribute__((preserve_access_index));

/* tp_btf: plain (CO-RE relocated) loads from the trusted pointer. */
static __always_inline __u32 task_state_direct(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return (__u32)((struct task_struct___old *)t)->state;
}

/* raw_tp: probe reads. */
static __always_inline __u32 task_state_probed(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___old *)t, state);
}

/* The CPU a task is on (for a wakeup: the run queue it joins). */
#define TASK_CPU(RD, t)                                                         \
	(bpf_core_field_exists((t)->thread_info.cpu)                           \
		 ? (__s32)RD(t, thread_info.cpu)                               \
		 : (__s32)RD((struct task_struct___cpu *)(t), cpu))

/*
 * The bodies are macros over the field accessor, so that tp_btf gets
 * direct loads and raw_tp probe reads from the same source.
 */
#define DIRECT(p, f) ((p)->f)
#define PROBED(p, f) BPF_CORE_READ(p, f)
#define COMM_DIRECT(dst, p) __builtin_memcpy(dst, (p)->comm, KTAPE_COMM_LEN)
#define COMM_PROBED(dst, p) bpf_probe_read_kernel(dst, KTAPE_COMM_LEN, &(p)->comm)

#define ON_SWITCH(RD, COMM, STATE, preempt_, prev, next)                               \
	({                                                                      \
		struct ktape_sched_switch_event *e;                             \
		void *ring;                                                     \
		__u32 ptgid = RD(prev, tgid), ntgid = RD(next, tgid);           \
		if (targ_tgid && ptgid != targ_tgid && ntgid != targ_tgid)      \
			return 0;                                               \
		e = ktape_reserve(KTAPE_FAMILY_SCHED, sizeof(*e), &ring);       \
		if (!e)                                                         \
			return 0;                                               \
		e->kind = KTAPE_KIND_SCHED_SWITCH;                              \
		e->prev_state = STATE(prev);                                    \
		e->ts = bpf_ktime_get_ns();                                     \
		e->prev_pid = RD(prev, pid);                                    \
		e->prev_tgid = ptgid;                                           \
		e->next_pid = RD(next, pid);                                    \
		e->next_tgid = ntgid;                                           \
		e->prev_prio = RD(prev, prio);                                  \
		e->next_prio = RD(next, prio);                                  \
		e->cpu = bpf_get_smp_processor_id();                            \
		e->preempt = (preempt_) ? 1 : 0;                                \
		e->pad = 0;                                                     \
		COMM(e->prev_comm, prev);                                       \
		COMM(e->next_comm, next);                                       \
		ktape_submit(ring, e);                                          \
		0;                                                              \
	})

#define ON_WAKEUP(RD, COMM, p, is_new)                                          \
	({                                                                      \
		struct ktape_sched_wakeup_event *e;                             \
		void *ring;                                                     \
		__u64 id;                                                       \
		__u32 tgid = RD(p, tgid);                                       \
		if (targ_tgid && tgid != targ_tgid)                             \
			return 0;                                               \
		e = ktape_reserve(KTAPE_FAMILY_SCHED, sizeof(*e), &ring);       \
		if (!e)                                                         \
			return 0;                                               \
		id = bpf_get_current_pid_tgid();                                \
		e->kind = KTAPE_KIND_SCHED_WAKEUP;                              \
		e->pid = RD(p, pid);                                            \
		e->ts = bpf_ktime_get_ns();                                     \
		e->tgid = tgid;                                                 \
		e->waker_pid = (__u32)id;                                       \
		e->waker_tgid = id >> 32;                                       \
		e->target_cpu = TASK_CPU(RD, p);                                \
		e->prio = RD(p, prio);                                          \
		e->cpu = bpf_get_smp_processor_id();                            \
		e->new_task = is_new;                                           \
		e->pad[0] = e->pad[1] = e->pad[2] = 0;                          \
		COMM(e->comm, p);                                               \
		ktape_submit(ring, e);                                          \
		0;                                                              \
	})

/* ---- tp_btf: typed arguments ------------------------------------------ */

SEC("tp_btf/sched_switch")
int BPF_PROG(ktape_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return ON_SWITCH(DIRECT, COMM_DIRECT, task_state_direct, preempt, prev, next);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ktape_sched_wakeup, struct task_struct *p)
{
	return ON_WAKEUP(DIRECT, COMM_DIRECT, p, 0);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ktape_sched_wakeup_new, struct task_struct *p)
{
	return ON_WAKEUP(DIRECT, COMM_DIRECT, p, 1);
}

/* ---- raw_tp: the fallback --------------------------------------------- */

SEC("raw_tp/sched_switch")
int BPF_PROG(ktape_sched_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return ON_SWITCH(PROBED, COMM_PROBED, task_state_probed, preempt, prev, next);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(ktape_sched_wakeup_raw, struct task_struct *p)
{
	return ON_WAKEUP(PROBED, COMM_PROBED, p, 0);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(ktape_sched_wakeup_new_raw, struct task_struct *p)
{
	return ON_WAKEUP(PROBED, COMM_PROBED, p, 1);
}
