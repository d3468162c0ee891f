// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `sync` family: one record per sync, fsync, fdatasync, msync,
 * sync_file_range and syncfs call, at its entry, what bcc's syncsnoop
 * prints (with the arguments besides).
 *
 * Only the entry is hooked, as in bcc: the record says when a flush was
 * asked for and by whom; how long it took is the fileio family's
 * (fsync, fdatasync) or the syscall family's business. Classic syscall
 * tracepoints: they need tracefs, which the recorder mounts when missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int emit(__u8 call, __s32 fd, __u64 offset, __u64 nbytes, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ktape_sync_event *e;
	void *ring;

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	e = ktape_reserve(KTAPE_FAMILY_SYNC, sizeof(*e), &ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_SYNC;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->offset = offset;
	e->nbytes = nbytes;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->fd = fd;
	e->flags = flags;
	e->call = call;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ktape_submit(ring, e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sync")
int ktape_sync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_SYNC, -1, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int ktape_fsync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_FSYNC, (__s32)ctx->args[0], 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int ktape_fdatasync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_FDATASYNC, (__s32)ctx->args[0], 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_msync")
int ktape_msync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_MSYNC, -1, ctx->args[0], ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int ktape_sync_file_range_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_SYNC_FILE_RANGE, (__s32)ctx->args[0], ctx->args[1],
		    ctx->args[2], (__u32)ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_syncfs")
int ktape_syncfs_enter(struct trace_event_raw_sys_enter *ctx)
{
	return emit(KTAPE_SYNC_CALL_SYNCFS, (__s32)ctx->args[0], 0, 0, 0);
}
