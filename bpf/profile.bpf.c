// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `profile` family: CPU samples with kernel and user stacks.
 *
 * User space opens one perf_event (software cpu-clock, -F per second) per
 * CPU and attaches this program to each. A sample is one fixed-size record
 * with two stack ids into the shared stack map: the stacks themselves are
 * read and symbolized by user space once per distinct stack, never per
 * sample. The idle task is skipped unless --idle (as bcc's profile).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"
#include "ktape_stacks.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only samples of this process (0: all). */
/* --idle: keep samples of the idle task. */
const volatile __u8 targ_idle = 0;

SEC("perf_event")
int ktape_profile(struct bpf_perf_event_data *ctx)
{
	struct ktape_profile_event *e;
	void *ring;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id, tgid = id >> 32;
	/* Kernel addresses are the upper half on every 64-bit arch we run:
	 * a sample taken in user mode has no kernel stack to walk. */
	int in_kernel = (long)PT_REGS_IP(&ctx->regs) < 0;

	if (pid == 0 && !targ_idle)
		return 0;
	if (targ_tgid && tgid != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_PROFILE, sizeof(*e), &ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_PROFILE;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid;
	e->tgid = tgid;
	e->kstack = in_kernel ? ktape_stackid(ctx, KTAPE_FAMILY_PROFILE, 0) : -1;
	e->ustack = pid && ktape_current_has_mm()
			    ? ktape_stackid(ctx, KTAPE_FAMILY_PROFILE, BPF_F_USER_STACK)
			    : -1;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ktape_submit(ring, e);
	return 0;
}
