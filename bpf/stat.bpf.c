// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `stat` family: one record per statfs, stat, lstat, fstat,
 * newfstatat and statx call, at its return (failed ones included), what
 * bcc's statsnoop prints.
 *
 * Stats are among the most frequent syscalls (a build or a shell's PATH
 * search makes hundreds of thousands a second), so the per-call work is
 * kept small: the entry keeps only the time, the path pointer and the
 * directory fd (a 24-byte value of a preallocated hash, by thread id);
 * the exit reads the path, as bcc does (the caller's memory, still
 * mapped while its call returns), and sends a record only as long as the
 * path (KTAPE_STAT_EVENT_HDR + path + NUL, not a fixed 320 bytes). With
 * `--stat-failed-only` the exit drops successful calls before reading
 * anything. Classic syscall tracepoints: they need tracefs, which the
 * recorder mounts when missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100

/* --stat-failed-only: send failed calls only. */
const volatile __u8 failed_only = 0;

struct stat_start {
	__u64 ts;          /* entry, CLOCK_MONOTONIC ns */
	__u64 path;        /* user pointer to the path (0: none) */
	__s32 dfd;
	__u8 call;
	__u8 pad[3];
};

/* Calls in flight, by thread id. Preallocated: an update then costs no
 * allocation, which matters at this rate. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stat_start);
} ktape_stat_start SEC(".maps");

/* Scratch for the record (too big for the BPF stack with the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_stat_event);
} ktape_stat_heap SEC(".maps");

static __always_inline int on_enter(__u8 call, __s32 dfd, const char *path)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	struct stat_start s = {};

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	s.ts = bpf_ktime_get_ns();
	s.path = (__u64)path;
	s.dfd = dfd;
	s.call = call;
	if (bpf_map_update_elem(&ktape_stat_start, &pid, &s, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_STAT, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	__u32 zero = 0;
	struct ktape_stat_event *e;
	struct stat_start *s;
	long n = 0;
	__u64 now;

	s = bpf_map_lookup_elem(&ktape_stat_start, &pid);
	if (!s)
		return 0; /* entered before recording started, or filtered */
	if (failed_only && ret >= 0)
		goto done;
	e = bpf_map_lookup_elem(&ktape_stat_heap, &zero);
	if (!e)
		goto done;
	now = bpf_ktime_get_ns();
	e->kind = KTAPE_KIND_STAT;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->latency_ns = now - s->ts;
	e->pid = pid;
	e->tgid = id >> 32;
	e->ret = ret;
	e->dfd = s->dfd;
	e->call = s->call;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (s->path)
		n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)s->path);
	if (n <= 0) {
		/* No path, or an unreadable one: an empty string. */
		e->path[0] = 0;
		n = 1;
	}
	if (n > KTAPE_STAT_PATH_LEN)
		n = KTAPE_STAT_PATH_LEN;
	e->path_len = n - 1;
	ktape_output(KTAPE_FAMILY_STAT, e, KTAPE_STAT_EVENT_HDR + n);
done:
	bpf_map_delete_elem(&ktape_stat_start, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_statfs")
int ktape_statfs_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_STATFS, AT_FDCWD, (const char *)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_newstat")
int ktape_newstat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_NEWSTAT, AT_FDCWD, (const char *)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_newlstat")
int ktape_newlstat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_NEWLSTAT, AT_FDCWD, (const char *)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_newfstat")
int ktape_newfstat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_NEWFSTAT, (__s32)ctx->args[0], NULL);
}

SEC("tracepoint/syscalls/sys_enter_newfstatat")
int ktape_newfstatat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_NEWFSTATAT, (__s32)ctx->args[0],
			(const char *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_statx")
int ktape_statx_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_STAT_CALL_STATX, (__s32)ctx->args[0], (const char *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_statfs")
int ktape_statfs_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newstat")
int ktape_newstat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newlstat")
int ktape_newlstat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newfstat")
int ktape_newfstat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newfstatat")
int ktape_newfstatat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_statx")
int ktape_statx_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
