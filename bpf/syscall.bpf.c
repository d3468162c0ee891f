// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `syscall` family: every system call, counted in the kernel per
 * second x process x syscall x errno (calls, total and maximum latency,
 * a log2 latency histogram), plus one record per call slower than
 * --syscall-slow (default 10 ms).
 *
 * Syscalls come by the million per second, so nothing per call goes
 * through the rings: sys_enter stamps the thread's task storage with the
 * time and number, sys_exit adds the call to its hash entry, whose key
 * carries the second. User space reads and deletes the entries of seconds
 * that are over (no program can touch them any more), so no count is lost
 * to a read racing an update. A key that finds the map full is counted as
 * lost (map_full). raw_syscalls hooks exist as tp_btf (preferred) and
 * raw_tp (fallback), one set enabled by user space before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only this process (0: all). */
/* --syscall-slow: calls at least this long also get a row (0: none). */
const volatile __u64 slow_ns = 10000000;
/* The recorder itself: its drain thread's timed waits would fill the slow
 * table with the act of recording. */
const volatile __u32 skip_tgid = 0;

/* The call a thread is in: when it entered, and which. */
struct syscall_start {
	__u64 ts;
	__u64 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscall_start);
} ktape_syscall_start SEC(".maps");

/* Per-second aggregates; max_entries is set by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ktape_syscall_key);
	__type(value, struct ktape_syscall_agg);
} ktape_syscall_agg SEC(".maps");

static __always_inline __u32 slot_of(__u64 us)
{
	__u32 r = 0;

	if (us >> 32) { us >>= 32; r += 32; }
	if (us >> 16) { us >>= 16; r += 16; }
	if (us >> 8) { us >>= 8; r += 8; }
	if (us >> 4) { us >>= 4; r += 4; }
	if (us >> 2) { us >>= 2; r += 2; }
	if (us >> 1) r += 1;
	return r < KTAPE_SYSCALL_SLOTS ? r : KTAPE_SYSCALL_SLOTS - 1;
}

static __always_inline int on_enter(long nr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct syscall_start *s;

	if ((targ_tgid && tgid != targ_tgid) || tgid == skip_tgid)
		return 0;
	s = bpf_task_storage_get(&ktape_syscall_start, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		ktape_count_loss(KTAPE_FAMILY_SYSCALL, KTAPE_LOSS_MAP_FULL);
		return 0;
	}
	s->nr = nr;
	s->ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline void emit_slow(__u64 now, __u64 lat, __u32 nr, long ret, __u64 id)
{
	struct ktape_syscall_event *e;
	void *ring;

	e = ktape_reserve(KTAPE_FAMILY_SYSCALL, sizeof(*e), &ring);
	if (!e)
		return;
	e->kind = KTAPE_KIND_SYSCALL_SLOW;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->latency_ns = lat;
	e->ret = ret;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->nr = nr;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	ktape_submit(ring, e);
}

static __always_inline int on_exit(long ret)
{
	struct ktape_syscall_key key;
	struct ktape_syscall_agg *a;
	struct syscall_start *s;
	__u64 id, now, lat;

	s = bpf_task_storage_get(&ktape_syscall_start, bpf_get_current_task_btf(), 0, 0);
	if (!s || !s->ts)
		return 0; /* entered before recording started, or filtered */
	now = bpf_ktime_get_ns();
	lat = now - s->ts;
	s->ts = 0;
	id = bpf_get_current_pid_tgid();
	key.sec = now / 1000000000;
	key.tgid = id >> 32;
	key.nr = (__u32)s->nr;
	key.err = ret < 0 && ret >= -4095 ? (__u32)-ret : 0;

	a = bpf_map_lookup_elem(&ktape_syscall_agg, &key);
	if (!a) {
		struct ktape_syscall_agg fresh = {};

		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		/* -EEXIST: another CPU created it first, which is fine. */
		bpf_map_update_elem(&ktape_syscall_agg, &key, &fresh, BPF_NOEXIST);
		a = bpf_map_lookup_elem(&ktape_syscall_agg, &key);
	}
	if (a) {
		__sync_fetch_and_add(&a->count, 1);
		__sync_fetch_and_add(&a->total_ns, lat);
		if (lat > a->max_ns)
			a->max_ns = lat;
		__sync_fetch_and_add(&a->hist[slot_of(lat / 1000)], 1);
	} else {
		ktape_count_loss(KTAPE_FAMILY_SYSCALL, KTAPE_LOSS_MAP_FULL);
	}
	if (slow_ns && lat >= slow_ns)
		emit_slow(now, lat, key.nr, ret, id);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ktape_sys_enter, struct pt_regs *regs, long id)
{
	return on_enter(id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ktape_sys_exit, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(ktape_sys_enter_raw, struct pt_regs *regs, long id)
{
	return on_enter(id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(ktape_sys_exit_raw, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}
