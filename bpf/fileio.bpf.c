// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `fileio` family: one record per read, write, pread64, pwrite64,
 * readv, writev, fsync or fdatasync on a regular file, at its return: what
 * bcc's ext4slower/xfsslower/btrfsslower show, but from the syscall
 * tracepoints (this kernel has no kprobes), so it works for every
 * filesystem at once.
 *
 * The entry resolves the fd to its struct file with CO-RE reads
 * (task->files->fdt->fd[fd]) and keeps going only for regular files
 * (S_ISREG of f_inode->i_mode): sockets, pipes, ttys and devices are
 * dropped right there, before anything is stored. It stores the start time,
 * the struct file and the starting offset in a hash keyed by pid_tgid. The
 * exit drops operations faster than --min-latency in the kernel and only
 * then reads what the row needs (names, device, inode): the expensive part
 * runs for the rows that are kept.
 *
 * Holding the struct file pointer from entry to exit is safe for reading:
 * the syscall itself holds the file for its duration, and every read here
 * is a probe read anyway.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */
/*
 * The recorder's own process: its reads of /proc and writes of Parquet
 * files would otherwise become rows, which it writes, which become rows.
 */
const volatile __u32 skip_tgid = 0;
/* --min-latency: shortest operation recorded, ns. */
const volatile __u64 min_latency_ns = 0;

#define S_IFMT 00170000
#define S_IFREG 0100000

/* An operation in flight. */
struct start {
	__u64 ts;
	__u64 file;   /* struct file * */
	__s64 offset;
	__u32 op;
	__u32 pad;
};

/* Operations in flight, by pid_tgid (one per thread at a time). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct start);
} ktape_fileio_start SEC(".maps");

/* Scratch for the record: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktape_file_op_event);
} ktape_fileio_heap SEC(".maps");

/* The struct file of fd in the current task, or NULL. */
static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/*
 * offset < 0: take the file position (read, write, readv, writev start
 * where f_pos is).
 */
static __always_inline int on_enter(__u32 op, __u64 fd, __s64 offset)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct start s = {};
	struct file *f;
	__u32 mode;

	if ((targ_tgid && (id >> 32) != targ_tgid) || (id >> 32) == skip_tgid)
		return 0;
	f = fd_file(fd);
	if (!f)
		return 0;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFREG)
		return 0;
	s.ts = bpf_ktime_get_ns();
	s.file = (__u64)f;
	s.op = op;
	s.offset = offset >= 0 ? offset : BPF_CORE_READ(f, f_pos);
	if (bpf_map_update_elem(&ktape_fileio_start, &id, &s, BPF_ANY))
		ktape_count_loss(KTAPE_FAMILY_FILEIO, KTAPE_LOSS_MAP_FULL);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ktape_file_op_event *e;
	struct start *s;
	struct file *f;
	struct inode *inode;
	const char *p;
	__u64 now, lat;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&ktape_fileio_start, &id);
	if (!s)
		return 0; /* not a regular file, filtered, or entered before we attached */
	now = bpf_ktime_get_ns();
	lat = now - s->ts;
	if (lat < min_latency_ns)
		goto done;
	e = bpf_map_lookup_elem(&ktape_fileio_heap, &zero);
	if (!e)
		goto done;
	f = (struct file *)s->file;
	inode = BPF_CORE_READ(f, f_inode);
	e->kind = KTAPE_KIND_FILE_OP;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->latency_ns = lat;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->inode = BPF_CORE_READ(inode, i_ino);
	e->offset = s->offset;
	e->ret = ret;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->op = s->op;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	p = BPF_CORE_READ(inode, i_sb, s_type, name);
	if (bpf_probe_read_kernel_str(e->fs, sizeof(e->fs), p) < 0)
		e->fs[0] = 0;
	p = (const char *)BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(e->name, sizeof(e->name), p) < 0)
		e->name[0] = 0;
	ktape_output(KTAPE_FAMILY_FILEIO, e, sizeof(*e));
done:
	bpf_map_delete_elem(&ktape_fileio_start, &id);
	return 0;
}

#define FD(ctx) ((ctx)->args[0])

SEC("tracepoint/syscalls/sys_enter_read")
int ktape_read_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_READ, FD(ctx), -1);
}

SEC("tracepoint/syscalls/sys_enter_write")
int ktape_write_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_WRITE, FD(ctx), -1);
}

SEC("tracepoint/syscalls/sys_enter_pread64")
int ktape_pread64_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* pread64(fd, buf, count, pos): a negative pos fails with EINVAL. */
	__s64 pos = ctx->args[3];
	return on_enter(KTAPE_FOP_PREAD64, FD(ctx), pos < 0 ? 0 : pos);
}

SEC("tracepoint/syscalls/sys_enter_pwrite64")
int ktape_pwrite64_enter(struct trace_event_raw_sys_enter *ctx)
{
	__s64 pos = ctx->args[3];
	return on_enter(KTAPE_FOP_PWRITE64, FD(ctx), pos < 0 ? 0 : pos);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int ktape_readv_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_READV, FD(ctx), -1);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int ktape_writev_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_WRITEV, FD(ctx), -1);
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int ktape_fsync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_FSYNC, FD(ctx), 0);
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int ktape_fdatasync_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(KTAPE_FOP_FDATASYNC, FD(ctx), 0);
}

#define EXIT(name)                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                   \
	int ktape_##name##_exit(struct trace_event_raw_sys_exit *ctx) \
	{                                                            \
		return on_exit(ctx->ret);                            \
	}

EXIT(read)
EXIT(write)
EXIT(pread64)
EXIT(pwrite64)
EXIT(readv)
EXIT(writev)
EXIT(fsync)
EXIT(fdatasync)
