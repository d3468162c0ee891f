// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `oom` family: one record per task the OOM killer picks, what bcc's
 * oomkill prints, and the victim's memory besides.
 *
 * bcc hooks oom_kill_process() with a kprobe, which this kernel does not
 * have. oom:mark_victim fires once per kill, in the context of the task
 * whose allocation ran the OOM killer (a memcg charge or the page
 * allocator), so `current` is bcc's "triggered by". The victim's sizes
 * are read from its mm as the tracepoint itself computes them
 * (percpu_counter_read_positive of rss_stat: the counter's shared value).
 * oom_control (bcc's "pages", the OOM domain's size) is not an argument,
 * so it is not recorded; the victim's total_vm stands in for it.
 *
 * tp_btf is preferred; raw_tp is the fallback, both read with CO-RE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 rss(struct mm_struct *mm, int member)
{
	__s64 v = BPF_CORE_READ(mm, rss_stat[member].count);

	return v > 0 ? v : 0;
}

static __always_inline int on_victim(struct task_struct *task, __u32 uid)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct ktape_oom_event *e;
	void *ring;

	/* -p names the victim's process or the one that triggered the kill. */
	if (targ_tgid && (id >> 32) != targ_tgid && BPF_CORE_READ(task, tgid) != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_OOM, sizeof(*e), &ring);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = KTAPE_KIND_OOM;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->victim_cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	if (mm) {
		e->total_vm = BPF_CORE_READ(mm, total_vm);
		e->anon_rss = rss(mm, MM_ANONPAGES);
		e->file_rss = rss(mm, MM_FILEPAGES);
		e->shmem_rss = rss(mm, MM_SHMEMPAGES);
		e->pgtables = BPF_CORE_READ(mm, pgtables_bytes.counter);
	}
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->victim_pid = BPF_CORE_READ(task, pid);
	e->victim_tgid = BPF_CORE_READ(task, tgid);
	e->victim_uid = uid;
	e->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->victim_comm, task, comm);
	ktape_submit(ring, e);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(ktape_mark_victim, struct task_struct *task, uid_t uid)
{
	return on_victim(task, uid);
}

SEC("raw_tp/mark_victim")
int BPF_PROG(ktape_mark_victim_raw, struct task_struct *task, uid_t uid)
{
	return on_victim(task, uid);
}
