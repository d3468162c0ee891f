// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `profile` family: CPU samples with kernel and user stacks.
 *
 * User space opens one perf_event (software cpu-clock, -F per second) per
 * CPU and attaches this program to each. A sample is one record carrying
 * its stacks: the kernel stack as addresses, and the user stack either as
 * addresses from the frame-pointer walk (--call-graph fp) or as the user
 * registers plus a copy of the top of the user stack (--call-graph dwarf),
 * which user space unwinds with the modules' CFI (.eh_frame) while the
 * process is alive, as `perf record --call-graph dwarf` does. Nothing goes
 * through a stack map, so no stack is refused for a colliding bucket;
 * user space deduplicates and symbolizes each distinct stack once. The
 * idle task is skipped unless --idle (as bcc's profile).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only samples of this process (0: all). */
/* --idle: keep samples of the idle task. */
const volatile __u8 targ_idle = 0;
/* --call-graph: KTAPE_CALL_GRAPH_FP or KTAPE_CALL_GRAPH_DWARF. */
const volatile __u8 targ_call_graph = KTAPE_CALL_GRAPH_DWARF;
/* --stack-size: user stack bytes copied per sample in dwarf mode. */
const volatile __u32 targ_stack_size = 16384;

#define FRAME_BYTES (KTAPE_STACK_DEPTH * 8)
#define PAGE 4096

/* The record is built here (too big for the BPF stack) and copied into
 * the ring at its used length. One slot per CPU (an ARRAY of possible
 * CPUs, set by user space: a per-CPU array's value may not exceed 32 KiB);
 * a cpu-clock sample cannot interrupt another one on its CPU. The tail
 * room is what the verifier's bounds on the copies and on the record's
 * length need (looser than the real ones, which stop at the used size). */
struct scratch {
	struct ktape_profile_event h;
	__u8 data[2 * FRAME_BYTES + KTAPE_STACK_COPY_MAX + 2 * PAGE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__type(value, struct scratch);
} ktape_profile_scratch SEC(".maps");

/*
 * Copies up to `want` bytes of user stack from sp upwards, a page at a
 * time: the copy stops at the first page that is not mapped (the top of
 * the stack), keeping everything below it, where a single read of the
 * whole size would fail entirely near the top of the stack.
 */
static __always_inline __u32 copy_stack(__u8 *dst, __u64 sp, __u32 want)
{
	__u32 got = 0;

	for (int i = 0; i < KTAPE_STACK_COPY_MAX / PAGE + 1; i++) {
		__u32 chunk = PAGE - ((sp + got) & (PAGE - 1));

		if (got >= want || got > KTAPE_STACK_COPY_MAX)
			break;
		if (chunk > want - got)
			chunk = want - got;
		/* Bounds the verifier can see (chunk is 1..PAGE already; the
		 * barrier keeps clang from dropping the mask as redundant). */
		barrier_var(chunk);
		chunk &= 2 * PAGE - 1;
		if (!chunk)
			break;
		if (bpf_probe_read_user(dst + got, chunk, (void *)(sp + got)))
			break;
		got += chunk;
	}
	return got;
}

SEC("perf_event")
int ktape_profile(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ktape_profile_event *e;
	struct scratch *s;
	struct pt_regs *regs;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id, tgid = id >> 32, cpu = bpf_get_smp_processor_id();
	/* Kernel addresses are the upper half on every 64-bit arch we run:
	 * a sample taken in user mode has no kernel stack to walk. */
	int in_kernel = (long)PT_REGS_IP(&ctx->regs) < 0;
	long kn = 0, un = 0;
	__u32 got = 0, off;
	__u64 size;

	if (pid == 0 && !targ_idle)
		return 0;
	if (targ_tgid && tgid != targ_tgid)
		return 0;
	s = bpf_map_lookup_elem(&ktape_profile_scratch, &cpu);
	if (!s) {
		ktape_count_loss(KTAPE_FAMILY_PROFILE, KTAPE_LOSS_RINGBUF_FULL);
		return 0;
	}
	e = &s->h;
	e->kind = KTAPE_KIND_PROFILE;
	e->cpu = cpu;
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid;
	e->tgid = tgid;
	e->mm = (__u64)BPF_CORE_READ(task, mm);
	e->ip = e->sp = e->bp = 0;
	e->flags = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	if (in_kernel) {
		e->flags |= KTAPE_PROF_KSTACK;
		kn = bpf_get_stack(ctx, s->data, FRAME_BYTES, 0);
		if (kn < 0) {
			e->flags |= KTAPE_PROF_KLOST;
			ktape_count_loss(KTAPE_FAMILY_PROFILE, KTAPE_LOSS_STACK_MISSING);
			kn = 0;
		}
		if (kn > FRAME_BYTES)
			kn = FRAME_BYTES;
	}
	if (pid && e->mm) {
		e->flags |= KTAPE_PROF_USTACK;
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		e->ip = BPF_CORE_READ(regs, ip);
		e->sp = BPF_CORE_READ(regs, sp);
		e->bp = BPF_CORE_READ(regs, bp);
		/* kn <= FRAME_BYTES < 1024: a mask the verifier can use that
		 * keeps every bit of it. */
		off = kn & 1023;
		if (targ_call_graph == KTAPE_CALL_GRAPH_FP) {
			un = bpf_get_stack(ctx, s->data + off, FRAME_BYTES, BPF_F_USER_STACK);
			if (un < 0) {
				e->flags |= KTAPE_PROF_ULOST;
				ktape_count_loss(KTAPE_FAMILY_PROFILE, KTAPE_LOSS_STACK_MISSING);
				un = 0;
			}
			if (un > FRAME_BYTES)
				un = FRAME_BYTES;
		} else {
			got = copy_stack(s->data + off, e->sp, targ_stack_size);
			if (got == 0) {
				e->flags |= KTAPE_PROF_ULOST;
				ktape_count_loss(KTAPE_FAMILY_PROFILE, KTAPE_LOSS_STACK_MISSING);
			}
		}
	}
	e->kframes = (__u32)kn / 8;
	e->uframes = (__u32)un / 8;
	e->stack_len = got;
	/* 64-bit, so that the bound checked is the register passed. */
	size = sizeof(*e) + (__u64)kn + (__u64)un + got;
	barrier_var(size);
	if (size > sizeof(*s))
		return 0; /* cannot happen: tells the verifier */
	ktape_output(KTAPE_FAMILY_PROFILE, s, size);
	return 0;
}
