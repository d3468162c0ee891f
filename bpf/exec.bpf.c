// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `exec` family: one record per execve/execveat (at its return,
 * failed ones included), one per new task (fork, vfork, clone) and one
 * per task exit.
 *
 * The syscall entry copies the filename and up to max_args arguments into
 * a per-thread entry (the user memory is gone once exec succeeds); the
 * syscall exit completes it with the result and the command name after
 * exec and hands it over as one variable-length record. A thread other
 * than the leader that execs takes the leader's id (de_thread), so
 * sched_process_exec, which knows the old id, moves the entry to the new
 * one before the syscall returns.
 *
 * Syscall hooks are classic tracepoints (they need tracefs); the
 * scheduler hooks exist as tp_btf (preferred) and raw_tp (fallback), one
 * set enabled by user space before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */
/* --max-args: arguments kept per exec (1 .. KTAPE_EXEC_MAX_ARGS). */
const volatile __u32 max_args = 20;

/* Execs in flight, by thread id. Big values: allocate only when used. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ktape_exec_event);
} ktape_exec_start SEC(".maps");

/* Scratch space: the event is far too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_exec_event);
} ktape_exec_heap SEC(".maps");

static __always_inline int on_enter(const char *filename, const char *const *argv)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	__u32 zero = 0;
	struct ktape_exec_event *e;
	const char *arg;
	long n;
	int i;

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	e = bpf_map_lookup_elem(&ktape_exec_heap, &zero);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_EXEC;
	e->old_pid = pid;
	e->args_size = 0;
	e->args_count = 0;
	e->truncated = 0;
	e->pad = 0;
	n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0)
		e->filename[0] = 0;
	else if (n == sizeof(e->filename))
		e->truncated |= KTAPE_EXEC_CUT;

	for (i = 0; i < KTAPE_EXEC_MAX_ARGS; i++) {
		__u32 off = e->args_size;

		arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (i >= max_args) {
			e->truncated |= KTAPE_EXEC_MORE_ARGS;
			break;
		}
		if (off > KTAPE_EXEC_ARGS_BUF - KTAPE_EXEC_ARG_LEN) {
			e->truncated |= KTAPE_EXEC_CUT;
			break;
		}
		n = bpf_probe_read_user_str(&e->args[off], KTAPE_EXEC_ARG_LEN, arg);
		if (n <= 0)
			break;
		if (n == KTAPE_EXEC_ARG_LEN)
			e->truncated |= KTAPE_EXEC_CUT;
		e->args_size = off + n;
		e->args_count++;
	}
	if (bpf_map_update_elem(&ktape_exec_start, &pid, e, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_EXEC, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	struct task_struct *task;
	struct ktape_exec_event *e;
	__u32 size;

	e = bpf_map_lookup_elem(&ktape_exec_start, &pid);
	if (!e)
		return 0; /* entered before recording started */
	task = (struct task_struct *)bpf_get_current_task();
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid;
	e->tgid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	size = e->args_size;
	if (size > KTAPE_EXEC_ARGS_BUF)
		size = KTAPE_EXEC_ARGS_BUF;
	ktape_output(KTAPE_FAMILY_EXEC, e, KTAPE_EXEC_EVENT_HDR + size);
	bpf_map_delete_elem(&ktape_exec_start, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int ktape_exec_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int ktape_execat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int ktape_exec_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int ktape_execat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* A thread that is not the leader exec'd and now has the leader's id. */
static __always_inline int on_process_exec(pid_t old_pid)
{
	__u32 pid = (__u32)bpf_get_current_pid_tgid();
	__u32 old = old_pid;
	struct ktape_exec_event *e;

	if (old == pid)
		return 0;
	e = bpf_map_lookup_elem(&ktape_exec_start, &old);
	if (!e)
		return 0;
	if (bpf_map_update_elem(&ktape_exec_start, &pid, e, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_EXEC, KTAPE_LOSS_MAP_FULL);
	bpf_map_delete_elem(&ktape_exec_start, &old);
	return 0;
}

static __always_inline int on_task_exit(struct task_struct *p)
{
	struct ktape_exit_event *e;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	void *ring;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_EXEC, sizeof(*e), &ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_EXIT;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->start_ns = BPF_CORE_READ(p, start_time);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = BPF_CORE_READ(p, pid);
	e->tgid = tgid;
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->exit_code = BPF_CORE_READ(p, exit_code);
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	ktape_submit(ring, e);
	return 0;
}

static __always_inline int on_task_fork(struct task_struct *parent,
					struct task_struct *child)
{
	struct ktape_fork_event *e;
	__u32 tgid = BPF_CORE_READ(parent, tgid);
	void *ring;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_EXEC, sizeof(*e), &ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_FORK;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = BPF_CORE_READ(parent, pid);
	e->tgid = tgid;
	e->child_pid = BPF_CORE_READ(child, pid);
	e->child_tgid = BPF_CORE_READ(child, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->pad = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, parent, comm);
	ktape_submit(ring, e);
	return 0;
}

/* ---- tp_btf: typed arguments ------------------------------------------ */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ktape_exec_sched, struct task_struct *p, pid_t old_pid)
{
	return on_process_exec(old_pid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ktape_exit, struct task_struct *p)
{
	return on_task_exit(p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ktape_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_task_fork(parent, child);
}

/* ---- raw_tp: the fallback --------------------------------------------- */

SEC("raw_tp/sched_process_exec")
int BPF_PROG(ktape_exec_sched_raw, struct task_struct *p, pid_t old_pid)
{
	return on_process_exec(old_pid);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(ktape_exit_raw, struct task_struct *p)
{
	return on_task_exit(p);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(ktape_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_task_fork(parent, child);
}
