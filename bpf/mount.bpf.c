// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `mount` family: one record per mount, umount, fsopen, fsconfig,
 * fsmount and move_mount call, at its return (failed ones included), what
 * bcc's mountsnoop prints.
 *
 * The strings are user memory that is only sure to be readable while the
 * call runs, so the entry copies the arguments into a per-thread entry;
 * the exit completes it with the result, the latency and the caller's
 * mount namespace and hands it over as one record. Classic syscall
 * tracepoints (umount is umount2's tracepoint on x86_64): they need
 * tracefs, which the recorder mounts when missing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* fsconfig commands whose value is a string (SET_STRING, SET_PATH,
 * SET_PATH_EMPTY); the others pass nothing, binary data or an fd. */
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_SET_PATH 3
#define FSCONFIG_SET_PATH_EMPTY 4

/* Calls in flight, by thread id. Mounts are rare: entries are allocated
 * as they come. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ktape_mount_event);
} ktape_mount_start SEC(".maps");

/* Scratch: the entry is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_mount_event);
} ktape_mount_heap SEC(".maps");

/* A fresh entry for this thread's call, or NULL when filtered out. */
static __always_inline struct ktape_mount_event *begin(__u8 call)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct ktape_mount_event *e;

	if (targ_tgid && (id >> 32) != targ_tgid)
		return NULL;
	e = bpf_map_lookup_elem(&ktape_mount_heap, &zero);
	if (!e)
		return NULL;
	/* The scratch keeps the previous call's strings: clear what is not
	 * set below. */
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = KTAPE_KIND_MOUNT;
	e->call = call;
	e->fd = -1;
	e->to_fd = -1;
	e->cmd = -1;
	e->ts = bpf_ktime_get_ns(); /* entry time until the exit */
	return e;
}

static __always_inline void copy_str(char *dst, __u32 size, const void *src)
{
	if (!src || bpf_probe_read_user_str(dst, size, src) < 0)
		dst[0] = 0;
}

static __always_inline int keep(struct ktape_mount_event *e)
{
	__u32 pid = (__u32)bpf_get_current_pid_tgid();

	if (bpf_map_update_elem(&ktape_mount_start, &pid, e, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_MOUNT, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = (__u32)id;
	struct task_struct *task;
	struct ktape_mount_event *e;
	__u64 now;

	e = bpf_map_lookup_elem(&ktape_mount_start, &pid);
	if (!e)
		return 0; /* entered before recording started, or filtered */
	now = bpf_ktime_get_ns();
	e->latency_ns = now - e->ts;
	e->ts = now;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = pid;
	e->tgid = id >> 32;
	e->ret = ret;
	task = (struct task_struct *)bpf_get_current_task();
	e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ktape_output(KTAPE_FAMILY_MOUNT, e, sizeof(*e));
	bpf_map_delete_elem(&ktape_mount_start, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mount")
int ktape_mount_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_MOUNT);

	if (!e)
		return 0;
	copy_str(e->source, sizeof(e->source), (void *)ctx->args[0]);
	copy_str(e->target, sizeof(e->target), (void *)ctx->args[1]);
	copy_str(e->fstype, sizeof(e->fstype), (void *)ctx->args[2]);
	e->flags = ctx->args[3];
	copy_str(e->data, sizeof(e->data), (void *)ctx->args[4]);
	return keep(e);
}

SEC("tracepoint/syscalls/sys_enter_umount")
int ktape_umount_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_UMOUNT);

	if (!e)
		return 0;
	copy_str(e->target, sizeof(e->target), (void *)ctx->args[0]);
	e->flags = (__u32)ctx->args[1];
	return keep(e);
}

SEC("tracepoint/syscalls/sys_enter_fsopen")
int ktape_fsopen_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_FSOPEN);

	if (!e)
		return 0;
	copy_str(e->fstype, sizeof(e->fstype), (void *)ctx->args[0]);
	e->flags = (__u32)ctx->args[1];
	return keep(e);
}

SEC("tracepoint/syscalls/sys_enter_fsconfig")
int ktape_fsconfig_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_FSCONFIG);
	__u32 cmd = (__u32)ctx->args[1];

	if (!e)
		return 0;
	e->fd = (__s32)ctx->args[0];
	e->cmd = cmd;
	copy_str(e->fstype, sizeof(e->fstype), (void *)ctx->args[2]);
	if (cmd == FSCONFIG_SET_STRING || cmd == FSCONFIG_SET_PATH ||
	    cmd == FSCONFIG_SET_PATH_EMPTY)
		copy_str(e->data, sizeof(e->data), (void *)ctx->args[3]);
	e->aux = (__s32)ctx->args[4];
	return keep(e);
}

SEC("tracepoint/syscalls/sys_enter_fsmount")
int ktape_fsmount_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_FSMOUNT);

	if (!e)
		return 0;
	e->fd = (__s32)ctx->args[0];
	e->flags = (__u32)ctx->args[1];
	e->attr_flags = (__u32)ctx->args[2];
	return keep(e);
}

SEC("tracepoint/syscalls/sys_enter_move_mount")
int ktape_move_mount_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct ktape_mount_event *e = begin(KTAPE_MOUNT_CALL_MOVE_MOUNT);

	if (!e)
		return 0;
	e->fd = (__s32)ctx->args[0];
	copy_str(e->source, sizeof(e->source), (void *)ctx->args[1]);
	e->to_fd = (__s32)ctx->args[2];
	copy_str(e->target, sizeof(e->target), (void *)ctx->args[3]);
	e->flags = (__u32)ctx->args[4];
	return keep(e);
}

SEC("tracepoint/syscalls/sys_exit_mount")
int ktape_mount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_umount")
int ktape_umount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_fsopen")
int ktape_fsopen_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_fsconfig")
int ktape_fsconfig_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_fsmount")
int ktape_fsmount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_move_mount")
int ktape_move_mount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
