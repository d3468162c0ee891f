// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `runqlen` family: samples each CPU's run-queue length.
 *
 * A perf_event (software cpu-clock, -F Hz, one per CPU) runs this program
 * on the sampled CPU; "this CPU's run queue" is reached from the current
 * task: current->se.cfs_rq->rq (CO-RE reads). bcc reads the cfs_rq's own
 * count, which with cgroups is the task's group queue, not the CPU's; the
 * rq's nr_running counts every task of every scheduling class on the CPU.
 * (The per-CPU `runqueues` ksym would be shorter, but this kernel does
 * not resolve it.) The row holds bcc's value: the tasks waiting, i.e.
 * nr_running minus the running task unless the CPU is idle, and whether
 * the CPU was idle.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("perf_event")
int ktape_runqlen(struct bpf_perf_event_data *ctx)
{
	struct ktape_runqlen_event *e;
	struct task_struct *cur = bpf_get_current_task_btf();
	void *ring;
	__u32 nr = BPF_CORE_READ(cur, se.cfs_rq, rq, nr_running);

	e = ktape_reserve(KTAPE_FAMILY_RUNQLEN, sizeof(*e), &ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_RUNQLEN;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->len = (cur->pid != 0 && nr > 0) ? nr - 1 : nr;
	/* len 0 is both "idle" and "one task running, none waiting": the
	 * flag tells them apart (cpuunclaimed needs it). */
	e->idle = cur->pid == 0;
	ktape_submit(ring, e);
	return 0;
}
