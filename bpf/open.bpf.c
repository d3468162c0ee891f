// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `open` family: one record per open/openat/openat2, at its return
 * (failed ones included), what bcc's opensnoop prints.
 *
 * The path is user memory that is only sure to be readable while the
 * call runs, so the entry copies it (with flags and mode) into a
 * per-thread entry; the exit completes it with the result and the
 * latency and hands it over as one record. Classic syscall tracepoints:
 * they need tracefs, which the recorder mounts when missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */

/* Opens in flight, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ktape_open_event);
} ktape_open_start SEC(".maps");

/* Scratch: the entry is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_open_event);
} ktape_open_heap SEC(".maps");

static __always_inline int on_enter(const char *path, __u64 flags, __u64 mode)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	__u32 zero = 0;
	struct ktape_open_event *e;

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	e = bpf_map_lookup_elem(&ktape_open_heap, &zero);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_OPEN;
	e->flags = flags;
	e->mode = (__u32)mode;
	e->pad = 0;
	e->ts = bpf_ktime_get_ns(); /* entry time until the exit */
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	if (bpf_map_update_elem(&ktape_open_start, &pid, e, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_OPEN, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	struct ktape_open_event *e;
	__u64 now;

	e = bpf_map_lookup_elem(&ktape_open_start, &pid);
	if (!e)
		return 0; /* entered before recording started, or filtered */
	now = bpf_ktime_get_ns();
	e->latency_ns = now - e->ts;
	e->ts = now;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = pid;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ktape_output(KTAPE_FAMILY_OPEN, e, sizeof(*e));
	bpf_map_delete_elem(&ktape_open_start, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int ktape_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int ktape_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], ctx->args[2], ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int ktape_openat2_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	/* flags and mode live in user memory (struct open_how). */
	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return on_enter((const char *)ctx->args[1], how.flags, how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int ktape_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int ktape_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int ktape_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
