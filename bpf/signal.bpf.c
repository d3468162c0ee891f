// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `signal` family: one record per kill/tkill/tgkill call (at its
 * return, failed ones included: what bcc's killsnoop prints), and one per
 * signal the kernel generates outside such a call (SIGSEGV, SIGPIPE,
 * SIGCHLD, the OOM killer's SIGKILL ...).
 *
 * A kill() makes the kernel generate the signal (signal_generate) in the
 * caller's context before the call returns, so counting both would count
 * it twice. The entry of the call parks a per-thread record; a generation
 * of the same signal (and, for tkill/tgkill, for the named thread) while
 * it is parked is folded into it (the target's process id and command
 * name, si_code, the kernel's verdict, how many were generated) instead
 * of making a row of its own. Every other generation is a `kernel` row.
 *
 * Syscall hooks are classic tracepoints (they need tracefs);
 * signal_generate is tp_btf (preferred: the target task_struct) with a
 * raw_tp fallback, one of the two enabled by user space before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only signals this process sends (0: all). */

/* Calls in flight, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ktape_signal_event);
} ktape_signal_start SEC(".maps");

/* si_code of the kernel's two pseudo-siginfo pointers, as the tracepoint
 * itself reports them (TP_STORE_SIGINFO). */
#define SEND_SIG_NOINFO_CODE 0 /* SI_USER */
#define SEND_SIG_PRIV_CODE 0x80 /* SI_KERNEL */

static __always_inline int on_enter(__u8 source, __s32 target, __s32 tgid, __s32 sig)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ktape_signal_event e = {};

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	e.kind = KTAPE_KIND_SIGNAL;
	e.source = source;
	e.sig = sig;
	e.target = target;
	if (source == KTAPE_SIGNAL_TGKILL) {
		e.target_tgid = tgid;
		e.has = KTAPE_SIGNAL_HAS_TGID;
	}
	if (bpf_map_update_elem(&ktape_signal_start, &tid, &e, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_SIGNAL, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline void fill_current(struct ktape_signal_event *e, __u64 id)
{
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ktape_signal_event *e;

	e = bpf_map_lookup_elem(&ktape_signal_start, &tid);
	if (!e)
		return 0; /* entered before recording started, or filtered */
	fill_current(e, id);
	e->ret = ret;
	ktape_output(KTAPE_FAMILY_SIGNAL, e, sizeof(*e));
	bpf_map_delete_elem(&ktape_signal_start, &tid);
	return 0;
}

static __always_inline int on_generate(int sig, struct kernel_siginfo *info,
				       struct task_struct *task, int result)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 infop = (__u64)info;
	struct ktape_signal_event *e;
	__s32 target = BPF_CORE_READ(task, pid);
	__s32 code;
	void *ring;

	if (infop == 0)
		code = SEND_SIG_NOINFO_CODE;
	else if (infop == 1)
		code = SEND_SIG_PRIV_CODE;
	else
		code = BPF_CORE_READ(info, si_code);

	e = bpf_map_lookup_elem(&ktape_signal_start, &tid);
	if (e && e->sig == sig && (e->source == KTAPE_SIGNAL_KILL || e->target == target)) {
		/* This thread's own kill/tkill/tgkill: its row tells. */
		if (e->generated == 0) {
			e->target_tgid = BPF_CORE_READ(task, tgid);
			BPF_CORE_READ_STR_INTO(&e->target_comm, task, comm);
			e->code = code;
			e->result = result;
			e->has |= KTAPE_SIGNAL_HAS_GEN;
		}
		e->generated++;
		return 0;
	}
	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_SIGNAL, sizeof(*e), &ring);
	if (!e)
		return 0;
	fill_current(e, id);
	e->kind = KTAPE_KIND_SIGNAL;
	e->sig = sig;
	e->target = target;
	e->target_tgid = BPF_CORE_READ(task, tgid);
	e->ret = 0;
	e->code = code;
	e->generated = 1;
	e->source = KTAPE_SIGNAL_KERNEL;
	e->result = result;
	e->has = KTAPE_SIGNAL_HAS_GEN;
	e->pad = 0;
	BPF_CORE_READ_STR_INTO(&e->target_comm, task, comm);
	ktape_submit(ring, e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_kill")
int ktape_kill_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_SIGNAL_KILL, (__s32)ctx->args[0], 0, (__s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_tkill")
int ktape_tkill_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_SIGNAL_TKILL, (__s32)ctx->args[0], 0, (__s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int ktape_tgkill_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_SIGNAL_TGKILL, (__s32)ctx->args[1], (__s32)ctx->args[0],
			(__s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int ktape_kill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int ktape_tkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int ktape_tgkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* ---- tp_btf: typed arguments ------------------------------------------ */

SEC("tp_btf/signal_generate")
int BPF_PROG(ktape_signal_generate, int sig, struct kernel_siginfo *info,
	     struct task_struct *task, int group, int result)
{
	return on_generate(sig, info, task, result);
}

/* ---- raw_tp: the fallback --------------------------------------------- */

SEC("raw_tp/signal_generate")
int BPF_PROG(ktape_signal_generate_raw, int sig, struct kernel_siginfo *info,
	     struct task_struct *task, int group, int result)
{
	return on_generate(sig, info, task, result);
}
