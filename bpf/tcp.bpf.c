// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `tcp` family: TCP state transitions, accepted connections and
 * retransmitted segments.
 *
 * Hooks (no kprobes on our kernels):
 *  - tp_btf/inet_sock_set_state: every transition. Connect (CLOSE ->
 *    SYN_SENT) and close() run in the caller's context, but passive opens,
 *    handshakes and peer closes run in softirq, where "current" is whoever
 *    was interrupted. So the task is reported only for transitions that
 *    only a system call makes (syscall_transition()), and the socket's owner (the first task seen
 *    acting on it, e.g. the caller of connect(), or the accepter) is kept
 *    in a map keyed by socket pointer and reported on every record.
 *  - tracepoint/syscalls/sys_exit_accept(4): the accepted fd is resolved
 *    to its socket through the task's fd table (CO-RE), which gives the
 *    right pid, unlike the softirq state transitions of a passive open.
 *  - tp_btf/tcp_retransmit_skb: retransmitted segments with the result.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only sockets owned by (and accepts of) this process (0: all). */

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7

#define TCP_ESTABLISHED 1
#define TCP_SYN_RECV 3
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

struct tcp_sk_info {
	__u64 birth_ns; /* first transition into SYN_SENT/SYN_RECV/ESTABLISHED */
	__u64 last_ns;  /* last transition */
	__u32 pid;      /* owner; valid when has_owner */
	__u32 tgid;
	__u32 has_owner;
	__u16 sport;    /* last local port seen (released before CLOSE) */
	__u16 pad;
	char comm[KTAPE_COMM_LEN];
};

/* Sockets seen, by struct sock pointer; deleted at CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcp_sk_info);
} ktape_tcp_sk SEC(".maps");

/*
 * Whether the transition is one only a system call on the socket makes
 * (connect, listen, close, shutdown), so that the current task is the
 * socket's user. The kernel's in_task() would be the general answer, but
 * the per-CPU preempt count is not reachable from BPF on kernels built
 * without CONFIG_KALLSYMS_ALL; every other transition can run in softirq,
 * on behalf of whatever task was interrupted (on loopback: the peer).
 */
static __always_inline bool syscall_transition(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_SYN_SENT: /* connect() */
		return oldstate == TCP_CLOSE;
	case TCP_LISTEN: /* listen() */
		return oldstate == TCP_CLOSE;
	case TCP_FIN_WAIT1: /* close() or shutdown() */
		return oldstate == TCP_ESTABLISHED || oldstate == TCP_SYN_RECV;
	case TCP_LAST_ACK: /* close() after the peer's FIN */
		return oldstate == TCP_CLOSE_WAIT;
	case TCP_CLOSE: /* close() of a listener */
		return oldstate == TCP_LISTEN;
	}
	return false;
}

static __always_inline bool is_tcp_inet(const struct sock *sk, __u16 *family)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

	*family = fam;
	return (fam == AF_INET || fam == AF_INET6) &&
	       BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

static __always_inline void fill_addrs(struct ktape_tcp_event *e, const struct sock *sk, __u16 family)
{
	e->family = family;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(e->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(e->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline void fill_task(struct ktape_tcp_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->has |= KTAPE_TCP_HAS_TASK;
}

static __always_inline void fill_owner(struct ktape_tcp_event *e, const struct tcp_sk_info *info)
{
	if (!info || !info->has_owner)
		return;
	e->sk_pid = info->pid;
	e->sk_tgid = info->tgid;
	__builtin_memcpy(e->sk_comm, info->comm, sizeof(e->sk_comm));
	e->has |= KTAPE_TCP_HAS_OWNER;
}

static __always_inline void set_owner(struct tcp_sk_info *info)
{
	__u64 id = bpf_get_current_pid_tgid();

	info->pid = (__u32)id;
	info->tgid = id >> 32;
	bpf_get_current_comm(info->comm, sizeof(info->comm));
	info->has_owner = 1;
}

static __always_inline struct ktape_tcp_event *reserve(void **ring)
{
	struct ktape_tcp_event *e = ktape_reserve(KTAPE_FAMILY_TCP, sizeof(*e), ring);

	if (e)
		__builtin_memset(e, 0, sizeof(*e));
	return e;
}

static __always_inline int on_state(const struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_ns();
	bool task = syscall_transition(oldstate, newstate);
	struct tcp_sk_info *info, fresh = {};
	struct ktape_tcp_event *e;
	__u16 family;
	void *ring;

	if (!is_tcp_inet(sk, &family))
		return 0;
	info = bpf_map_lookup_elem(&ktape_tcp_sk, &key);
	if (!info && newstate != TCP_CLOSE) {
		if (bpf_map_update_elem(&ktape_tcp_sk, &key, &fresh, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&ktape_tcp_sk, &key)) {
			ktape_count_loss(KTAPE_FAMILY_TCP, KTAPE_LOSS_MAP_FULL);
		}
		info = bpf_map_lookup_elem(&ktape_tcp_sk, &key);
	}
	if (info) {
		if (task && !info->has_owner)
			set_owner(info);
		if (!info->birth_ns && newstate < TCP_FIN_WAIT1)
			info->birth_ns = now;
	}
	if (targ_tgid && (!info || !info->has_owner || info->tgid != targ_tgid))
		goto out;

	e = reserve(&ring);
	if (!e)
		goto out;
	e->kind = KTAPE_KIND_TCP_STATE;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->skaddr = key;
	e->oldstate = oldstate;
	e->newstate = newstate;
	fill_addrs(e, sk, family);
	if (info) {
		if (e->sport)
			info->sport = e->sport;
		else
			e->sport = info->sport;
	}
	if (task)
		fill_task(e);
	fill_owner(e, info);
	if (info && info->last_ns) {
		e->prev_ns = now - info->last_ns;
		e->has |= KTAPE_TCP_HAS_PREV;
	}
	if (newstate == TCP_CLOSE) {
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;

		if (info && info->birth_ns) {
			e->lifetime_ns = now - info->birth_ns;
			e->has |= KTAPE_TCP_HAS_LIFETIME;
		}
		e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
		e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
		e->has |= KTAPE_TCP_HAS_BYTES;
	}
	ktape_submit(ring, e);
out:
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&ktape_tcp_sk, &key);
	else if (info)
		info->last_ns = now;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(ktape_tcp_state, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, oldstate, newstate);
}

/* The struct sock behind fd `fd` of the current task, or NULL. */
static __always_inline struct sock *fd_sock(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= max || !fds)
		return NULL;
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int on_accept(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ktape_tcp_event *e;
	struct tcp_sk_info *info;
	struct sock *sk;
	__u16 family;
	__u64 key;
	void *ring;

	if (ret < 0)
		return 0;
	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	sk = fd_sock(ret);
	if (!sk || !is_tcp_inet(sk, &family))
		return 0;
	/* The accepter owns the socket, though the handshake ran in softirq. */
	key = (__u64)sk;
	info = bpf_map_lookup_elem(&ktape_tcp_sk, &key);
	if (info && !info->has_owner)
		set_owner(info);

	e = reserve(&ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_TCP_ACCEPT;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->skaddr = key;
	e->newstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	fill_addrs(e, sk, family);
	fill_task(e);
	ktape_submit(ring, e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int ktape_tcp_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int ktape_tcp_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept(ctx->ret);
}

/*
 * Since 6.12 (or so) the tracepoint also passes the retransmit's result;
 * a failed retransmit (e.g. -EBUSY, the qdisc refused it) did not reach
 * the wire.
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(ktape_tcp_retrans, const struct sock *sk, const struct sk_buff *skb, int err)
{
	__u64 key = (__u64)sk;
	struct ktape_tcp_event *e;
	struct tcp_sk_info *info;
	__u16 family;
	void *ring;

	if (!sk || !is_tcp_inet(sk, &family))
		return 0;
	info = bpf_map_lookup_elem(&ktape_tcp_sk, &key);
	if (targ_tgid && (!info || !info->has_owner || info->tgid != targ_tgid))
		return 0;
	e = reserve(&ring);
	if (!e)
		return 0;
	e->kind = KTAPE_KIND_TCP_RETRANSMIT;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->skaddr = key;
	e->newstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->error = err;
	e->has |= KTAPE_TCP_HAS_ERROR;
	fill_addrs(e, sk, family);
	fill_owner(e, info);
	ktape_submit(ring, e);
	return 0;
}
