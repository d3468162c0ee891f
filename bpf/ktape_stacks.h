/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stack map shared by the profile and offcpu families.
 *
 * User space creates it once and hands the same fd to both objects
 * (reuse_fd), so a stack seen by both is stored once and has one id. No
 * BPF_F_REUSE_STACKID: a stored stack is never overwritten, so an id read
 * later by user space still names the stack the sample saw; the price is
 * that a different stack hashing to a taken bucket is refused (-EEXIST),
 * which is counted as stack_collision loss.
 *
 * Stacks are walked with frame pointers: that is what bpf_get_stackid
 * does for user stacks.
 */
#ifndef KTAPE_STACKS_H
#define KTAPE_STACKS_H

#define KTAPE_EEXIST 17

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1); /* set by user space */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KTAPE_STACK_DEPTH * sizeof(__u64));
} ktape_stacks SEC(".maps");

/* A stack id, or -2 (lost) with the reason counted against the family;
 * -1 is left for "this sample has no such stack". */
static __always_inline __s32 ktape_stackid(void *ctx, __u32 family, __u64 flags)
{
	long id = bpf_get_stackid(ctx, &ktape_stacks, flags);

	if (id >= 0)
		return id;
	ktape_count_loss(family, id == -KTAPE_EEXIST ? KTAPE_LOSS_STACK_COLLISION
						      : KTAPE_LOSS_STACK_MISSING);
	return -2;
}

/* Whether the current task has a user address space (not a kernel thread). */
static __always_inline int ktape_current_has_mm(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, mm) != NULL;
}

#endif /* KTAPE_STACKS_H */
