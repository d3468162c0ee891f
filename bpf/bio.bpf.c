// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ktape `bio` family: one record per completed block request.
 *
 * The stages of a request (io_start in the submitter's context, insert
 * into the I/O scheduler, issue to the driver, completion) are paired here
 * by request pointer, so a busy disk costs one ring record per request
 * instead of four, and user space needs no pairing state.
 *
 * Each hook exists twice: tp_btf (typed arguments, preferred) and raw_tp
 * (fallback for kernels that refuse tp_btf). User space enables one set
 * with set_autoload before load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ktape.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* -p (targ_tgid, in ktape.h): only requests submitted by this process (0: all). */

#define REQ_OP_BITS 8
#define REQ_OP_MASK ((1U << REQ_OP_BITS) - 1)

struct bio_track {
	__u64 insert_ns;
	__u64 issue_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	char comm[KTAPE_COMM_LEN];
};

/*
 * Requests in flight, by request pointer. Entries are deleted at
 * completion; io_start replaces a stale entry left by a request whose
 * completion we never saw, since the kernel recycles request structs, and
 * the recorder sweeps entries issued long ago (and all at stop). Whoever
 * deletes an entry owns it: the completion emits a row, the others count
 * it as unpaired, so a request is never both.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bio_track);
} ktape_bio_rq SEC(".maps");

/* Kernels before 5.17 kept the disk in the request itself. */
struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(((struct request___old *)0)->rq_disk))
		disk = BPF_CORE_READ((struct request___old *)rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return 0;
	return (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

/*
 * The kernel's operation numbers moved between versions (and may move
 * again), so they are matched against the running kernel's `enum req_op`
 * through CO-RE enum relocations, never hard-coded.
 */
#define OP_CASE(kname, code)                                                   \
	if (bpf_core_enum_value_exists(enum req_op, kname) &&                 \
	    kop == bpf_core_enum_value(enum req_op, kname))                   \
		return code;

static __always_inline __u8 normalize_op(__u32 cmd_flags)
{
	__u32 kop = cmd_flags & REQ_OP_MASK;

	OP_CASE(REQ_OP_READ, KTAPE_OP_READ)
	OP_CASE(REQ_OP_WRITE, KTAPE_OP_WRITE)
	OP_CASE(REQ_OP_FLUSH, KTAPE_OP_FLUSH)
	OP_CASE(REQ_OP_DISCARD, KTAPE_OP_DISCARD)
	OP_CASE(REQ_OP_SECURE_ERASE, KTAPE_OP_SECURE_ERASE)
	OP_CASE(REQ_OP_WRITE_ZEROES, KTAPE_OP_WRITE_ZEROES)
	OP_CASE(REQ_OP_ZONE_OPEN, KTAPE_OP_ZONE_OPEN)
	OP_CASE(REQ_OP_ZONE_CLOSE, KTAPE_OP_ZONE_CLOSE)
	OP_CASE(REQ_OP_ZONE_FINISH, KTAPE_OP_ZONE_FINISH)
	OP_CASE(REQ_OP_ZONE_APPEND, KTAPE_OP_ZONE_APPEND)
	OP_CASE(REQ_OP_ZONE_RESET, KTAPE_OP_ZONE_RESET)
	OP_CASE(REQ_OP_ZONE_RESET_ALL, KTAPE_OP_ZONE_RESET_ALL)
	OP_CASE(REQ_OP_DRV_IN, KTAPE_OP_DRV_IN)
	OP_CASE(REQ_OP_DRV_OUT, KTAPE_OP_DRV_OUT)
	return KTAPE_OP_UNKNOWN;
}

/* Flag bit positions also moved; take them from `enum req_flag_bits`. */
#define FLAG_BIT(kbit, code)                                                   \
	if (bpf_core_enum_value_exists(enum req_flag_bits, kbit) &&           \
	    (cmd_flags & (1U << bpf_core_enum_value(enum req_flag_bits, kbit)))) \
		out |= code;

static __always_inline __u16 normalize_flags(__u32 cmd_flags)
{
	__u16 out = 0;

	FLAG_BIT(__REQ_SYNC, KTAPE_FLAG_SYNC)
	FLAG_BIT(__REQ_META, KTAPE_FLAG_META)
	FLAG_BIT(__REQ_PRIO, KTAPE_FLAG_PRIO)
	FLAG_BIT(__REQ_NOMERGE, KTAPE_FLAG_NOMERGE)
	FLAG_BIT(__REQ_IDLE, KTAPE_FLAG_IDLE)
	FLAG_BIT(__REQ_INTEGRITY, KTAPE_FLAG_INTEGRITY)
	FLAG_BIT(__REQ_FUA, KTAPE_FLAG_FUA)
	FLAG_BIT(__REQ_PREFLUSH, KTAPE_FLAG_PREFLUSH)
	FLAG_BIT(__REQ_RAHEAD, KTAPE_FLAG_RAHEAD)
	FLAG_BIT(__REQ_BACKGROUND, KTAPE_FLAG_BACKGROUND)
	FLAG_BIT(__REQ_NOWAIT, KTAPE_FLAG_NOWAIT)
	return out;
}

static __always_inline int track_insert(__u64 key, struct bio_track *t)
{
	struct bio_track *old;

	/*
	 * The common case is a fresh key; only an existing entry costs a
	 * lookup. An entry that was issued to the driver and is still here
	 * belonged to a request whose completion ran no program of ours:
	 * count it, so that this loss is never silent. On this 6.18 kernel
	 * that happens (about one dd run of 3000 writes in six under load, a
	 * burst of 1-17 consecutive completions): perf counts every
	 * block_rq_complete hit, yet the program's run_cnt falls short by
	 * exactly this count and recursion_misses stays 0; a second program
	 * on block_io_done, later on the same completion path, misses the
	 * same completions, so it cannot recover them.
	 */
	if (!bpf_map_update_elem(&ktape_bio_rq, &key, t, BPF_NOEXIST))
		return 0;
	old = bpf_map_lookup_elem(&ktape_bio_rq, &key);
	if (old && old->issue_ns && !bpf_map_delete_elem(&ktape_bio_rq, &key))
		ktape_count_loss(KTAPE_FAMILY_BIO, KTAPE_LOSS_UNPAIRED);
	if (bpf_map_update_elem(&ktape_bio_rq, &key, t, BPF_ANY)) {
		ktape_count_loss(KTAPE_FAMILY_BIO, KTAPE_LOSS_MAP_FULL);
		return -1;
	}
	return 0;
}

/* Runs in the submitting task: the only place its identity is known. */
static __always_inline int on_io_start(struct request *rq)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bio_track t = {};

	if (targ_tgid && (id >> 32) != targ_tgid) {
		/* A stale entry for this recycled request must not be
		 * attributed to the new one. */
		__u64 key = (__u64)rq;

		bpf_map_delete_elem(&ktape_bio_rq, &key);
		return 0;
	}
	t.pid = (__u32)id;
	t.tgid = id >> 32;
	t.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(t.comm, sizeof(t.comm));
	track_insert((__u64)rq, &t);
	return 0;
}

/*
 * insert and issue stamp their time into the request's entry, creating it
 * when io_start was not seen (flushes the block layer makes itself, or
 * requests submitted before recording started); the submitter then stays
 * unknown. With -p such requests can never match, so they are not tracked.
 */
static __always_inline int stamp(struct request *rq, bool issue)
{
	__u64 key = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();
	struct bio_track *t = bpf_map_lookup_elem(&ktape_bio_rq, &key);

	if (!t) {
		struct bio_track nt = {};

		if (targ_tgid)
			return 0;
		if (issue)
			nt.issue_ns = now;
		else
			nt.insert_ns = now;
		track_insert(key, &nt);
		return 0;
	}
	if (issue)
		t->issue_ns = now;
	else
		t->insert_ns = now;
	return 0;
}

/* One record per request, from (a copy of) its tracked entry. */
static __always_inline void emit(struct request *rq, const struct bio_track *t,
				 int error, unsigned int nr_bytes)
{
	__u64 now = bpf_ktime_get_ns();
	struct ktape_bio_event *e;
	__u32 cmd_flags;
	void *ring;

	/* Without an issue time there is no latency to report. */
	if (!t->issue_ns || (targ_tgid && t->tgid != targ_tgid))
		return;

	e = ktape_reserve(KTAPE_FAMILY_BIO, sizeof(*e), &ring);
	if (!e)
		return;
	cmd_flags = BPF_CORE_READ(rq, cmd_flags);
	e->kind = KTAPE_KIND_BIO;
	e->cpu = bpf_get_smp_processor_id();
	e->ts = now;
	e->sector = BPF_CORE_READ(rq, __sector);
	e->latency_ns = now - t->issue_ns;
	e->has = 0;
	if (t->insert_ns && t->insert_ns <= t->issue_ns) {
		e->queue_ns = t->issue_ns - t->insert_ns;
		e->has |= KTAPE_BIO_HAS_QUEUE;
	} else {
		e->queue_ns = 0;
	}
	if (t->tgid || t->pid)
		e->has |= KTAPE_BIO_HAS_SUBMITTER;
	e->cgroup_id = t->cgroup_id;
	e->dev = rq_dev(rq);
	e->bytes = nr_bytes;
	e->pid = t->pid;
	e->tgid = t->tgid;
	e->error = error;
	e->flags = normalize_flags(cmd_flags);
	e->op = normalize_op(cmd_flags);
	__builtin_memcpy(e->comm, t->comm, sizeof(e->comm));
	ktape_submit(ring, e);
}

/*
 * A request completed in parts (several block_rq_complete calls) is
 * reported at its first part, with that part's nr_bytes, as bcc's biosnoop
 * does; the later parts find no entry.
 */
static __always_inline int on_complete(struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct bio_track *t = bpf_map_lookup_elem(&ktape_bio_rq, &key);
	struct bio_track copy;

	if (!t) /* issued before recording started, or swept */
		return 0;
	/* A preallocated entry can be reused as soon as it is deleted, so
	 * read it before, and emit only if this delete is the one that
	 * removed it (the recorder's sweep may have, and counted it). */
	copy = *t;
	if (bpf_map_delete_elem(&ktape_bio_rq, &key))
		return 0;
	emit(rq, &copy, error, nr_bytes);
	return 0;
}

/* ---- tp_btf: typed arguments ------------------------------------------ */

SEC("tp_btf/block_io_start")
int BPF_PROG(ktape_bio_start, struct request *rq)
{
	return on_io_start(rq);
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(ktape_bio_insert, struct request *rq)
{
	return stamp(rq, false);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ktape_bio_issue, struct request *rq)
{
	return stamp(rq, true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(ktape_bio_done, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	return on_complete(rq, error, nr_bytes);
}

/* ---- raw_tp: the fallback --------------------------------------------- */

SEC("raw_tp/block_io_start")
int BPF_PROG(ktape_bio_start_raw, struct request *rq)
{
	return on_io_start(rq);
}

SEC("raw_tp/block_rq_insert")
int BPF_PROG(ktape_bio_insert_raw, struct request *rq)
{
	return stamp(rq, false);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(ktape_bio_issue_raw, struct request *rq)
{
	return stamp(rq, true);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(ktape_bio_done_raw, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	return on_complete(rq, error, nr_bytes);
}
