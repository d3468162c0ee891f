/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Definitions shared by every ktape BPF program and generated into Rust.
 *
 * The Rust side (every KTAPE_* define, every struct ktape_* as a repr(C)
 * twin) is generated from the part of this file before `#ifdef __BPF__` by
 * build/abi.rs, which accepts only fixed-width integer fields without
 * implicit padding: keep to that. The normalized codes that are ktape's
 * on-disk vocabulary (bio ops and flags, file ops, exec truncation bits)
 * are also defined in crates/format, which has no BPF; a unit test in
 * crates/record checks those against this file.
 *
 * Every family's object declares the same two shared maps (ktape_rings and
 * ktape_loss); user space creates them once and hands the same fds to each
 * object (reuse_fd), so all families share one set of per-CPU rings.
 */
#ifndef KTAPE_H
#define KTAPE_H

/* ---- record kinds: the first u32 of every ring record ---------------- */
#define KTAPE_KIND_BIO 1
#define KTAPE_KIND_EXEC 2
#define KTAPE_KIND_EXIT 3
#define KTAPE_KIND_FORK 4
#define KTAPE_KIND_SCHED_SWITCH 20
#define KTAPE_KIND_SCHED_WAKEUP 21
#define KTAPE_KIND_TCP_STATE 30
#define KTAPE_KIND_TCP_ACCEPT 31
#define KTAPE_KIND_TCP_RETRANSMIT 32
#define KTAPE_KIND_PROFILE 50
#define KTAPE_KIND_OFFCPU 51
#define KTAPE_KIND_RUNQLEN 22
#define KTAPE_KIND_OPEN 40
#define KTAPE_KIND_FILE_OP 41
#define KTAPE_KIND_SYSCALL_SLOW 60
#define KTAPE_KIND_MOUNT 72
#define KTAPE_KIND_STAT 73
#define KTAPE_KIND_SYNC 74
#define KTAPE_KIND_SIGNAL 70
#define KTAPE_KIND_OOM 71
#define KTAPE_KIND_WAKEUP 52

/* ---- families and loss reasons: index of the loss counter array ------ */
#define KTAPE_FAMILY_BIO 0
#define KTAPE_FAMILY_EXEC 1
#define KTAPE_FAMILY_SCHED 2
#define KTAPE_FAMILY_TCP 3
#define KTAPE_FAMILY_PROFILE 8
#define KTAPE_FAMILY_OFFCPU 9
#define KTAPE_FAMILY_RUNQLEN 4
#define KTAPE_FAMILY_OPEN 5
#define KTAPE_FAMILY_FILEIO 6
#define KTAPE_FAMILY_CACHE 7
#define KTAPE_FAMILY_SYSCALL 10
#define KTAPE_FAMILY_IRQ 16
#define KTAPE_FAMILY_MOUNT 13
#define KTAPE_FAMILY_STAT 14
#define KTAPE_FAMILY_SYNC 15
#define KTAPE_FAMILY_SIGNAL 11
#define KTAPE_FAMILY_OOM 12
#define KTAPE_FAMILY_WAKEUP 17
/* Numbers taken by families being added (issue 16), so that parallel work
 * does not collide: syscall 10, signal 11, oom 12, mount 13, stat 14,
 * sync 15, irq 16, wakeup 17; record kinds: fork 4, syscall 60-61,
 * signal 70, oom 71, mount 72, stat 73, sync 74, irq 80-81, wakeup 52. */
#define KTAPE_MAX_FAMILIES 32

#define KTAPE_LOSS_RINGBUF_FULL 0
#define KTAPE_LOSS_MAP_FULL 1
/* An operation was seen to start but its end never reached its program
 * (bio: a request issued to the driver whose struct was reused before any
 * completion hook saw it). */
#define KTAPE_LOSS_UNPAIRED 2
/* Stack references that were lost (the row itself is kept, with -1):
 * the stack map bucket held another stack or the map was full (-EEXIST),
 * or the kernel could not walk the stack at all. */
#define KTAPE_LOSS_STACK_COLLISION 3
#define KTAPE_LOSS_STACK_MISSING 4
#define KTAPE_LOSS_REASONS 5

/* ---- bio: normalized operations (ktape_format::bio::op) -------------- */
#define KTAPE_OP_READ 0
#define KTAPE_OP_WRITE 1
#define KTAPE_OP_FLUSH 2
#define KTAPE_OP_DISCARD 3
#define KTAPE_OP_SECURE_ERASE 4
#define KTAPE_OP_WRITE_ZEROES 5
#define KTAPE_OP_ZONE_OPEN 6
#define KTAPE_OP_ZONE_CLOSE 7
#define KTAPE_OP_ZONE_FINISH 8
#define KTAPE_OP_ZONE_APPEND 9
#define KTAPE_OP_ZONE_RESET 10
#define KTAPE_OP_ZONE_RESET_ALL 11
#define KTAPE_OP_DRV_IN 12
#define KTAPE_OP_DRV_OUT 13
#define KTAPE_OP_UNKNOWN 255

/* ---- bio: normalized flag bits (ktape_format::bio::flag) ------------- */
#define KTAPE_FLAG_SYNC (1 << 0)
#define KTAPE_FLAG_META (1 << 1)
#define KTAPE_FLAG_PRIO (1 << 2)
#define KTAPE_FLAG_NOMERGE (1 << 3)
#define KTAPE_FLAG_IDLE (1 << 4)
#define KTAPE_FLAG_INTEGRITY (1 << 5)
#define KTAPE_FLAG_FUA (1 << 6)
#define KTAPE_FLAG_PREFLUSH (1 << 7)
#define KTAPE_FLAG_RAHEAD (1 << 8)
#define KTAPE_FLAG_BACKGROUND (1 << 9)
#define KTAPE_FLAG_NOWAIT (1 << 10)

/* bio_event.has_queue: insert was seen, so queue_ns is meaningful. */
#define KTAPE_BIO_HAS_QUEUE 1
/* bio_event.has_queue: the submitter (io_start) was seen. */
#define KTAPE_BIO_HAS_SUBMITTER 2

#define KTAPE_COMM_LEN 16

/*
 * One completed block request. Fields are ordered by size so that there
 * is no padding on any ABI (build/abi.rs refuses a struct that needs any).
 */
struct ktape_bio_event {
	__u32 kind;        /* KTAPE_KIND_BIO */
	__u32 cpu;         /* CPU the completion ran on */
	__u64 ts;          /* completion, CLOCK_MONOTONIC ns */
	__u64 sector;      /* first sector, 512-byte units */
	__u64 latency_ns;  /* issue -> complete */
	__u64 queue_ns;    /* insert -> issue; valid with KTAPE_BIO_HAS_QUEUE */
	__u64 cgroup_id;   /* submitter's cgroup v2 id, 0 if unknown */
	__u32 dev;         /* major << 20 | first_minor */
	__u32 bytes;       /* nr_bytes of the completion */
	__u32 pid;         /* submitter thread id, 0 if unknown */
	__u32 tgid;        /* submitter process id, 0 if unknown */
	__s32 error;       /* blk_status_t */
	__u16 flags;       /* KTAPE_FLAG_* */
	__u8 op;           /* KTAPE_OP_* */
	__u8 has;          /* KTAPE_BIO_HAS_* bits */
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_BIO_EVENT_SIZE 88

/* ---- exec: one execve/execveat, at its return ------------------------ */
/* Bytes of argv kept per exec (NUL-separated strings), and per argument. */
#define KTAPE_EXEC_ARGS_BUF 8192
#define KTAPE_EXEC_ARG_LEN 256
/* Most arguments --max-args may ask for. */
#define KTAPE_EXEC_MAX_ARGS 128
#define KTAPE_EXEC_FILENAME_LEN 256
/* ktape_exec_event.truncated: more arguments than --max-args. */
#define KTAPE_EXEC_MORE_ARGS 1
/* ktape_exec_event.truncated: an argument or the filename was cut short,
 * or the buffer was full. */
#define KTAPE_EXEC_CUT 2

/*
 * One exec. Variable length: the record ends after args_size bytes of
 * args (the ring holds KTAPE_EXEC_EVENT_HDR + args_size bytes).
 */
struct ktape_exec_event {
	__u32 kind;        /* KTAPE_KIND_EXEC */
	__u32 cpu;
	__u64 ts;          /* return from exec, CLOCK_MONOTONIC ns */
	__u64 cgroup_id;
	__u32 pid;         /* thread id after exec */
	__u32 tgid;
	__u32 ppid;        /* real parent's tgid */
	__u32 uid;
	__s32 ret;         /* 0 or -errno */
	__u32 args_size;   /* bytes used in args */
	__u16 args_count;  /* strings in args */
	__u8 truncated;    /* KTAPE_EXEC_MORE_ARGS | KTAPE_EXEC_CUT */
	__u8 pad;
	__u32 old_pid;     /* thread id at entry (differs when a thread execs) */
	char comm[KTAPE_COMM_LEN];
	char filename[KTAPE_EXEC_FILENAME_LEN];
	char args[KTAPE_EXEC_ARGS_BUF];
};
#define KTAPE_EXEC_EVENT_HDR 328
#define KTAPE_EXEC_EVENT_SIZE 8520

/* One task exit. */
struct ktape_exit_event {
	__u32 kind;        /* KTAPE_KIND_EXIT */
	__u32 cpu;
	__u64 ts;          /* exit, CLOCK_MONOTONIC ns */
	__u64 start_ns;    /* task start, CLOCK_MONOTONIC ns */
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 exit_code;   /* task->exit_code: (code << 8) | signal | 0x80 core */
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_EXIT_EVENT_SIZE 64

/*
 * One new task (fork, vfork or clone), at sched_process_fork in the
 * parent's context. The child starts with the parent's comm, so one comm
 * serves both; a new thread is told from a new process by its tgid.
 */
struct ktape_fork_event {
	__u32 kind;        /* KTAPE_KIND_FORK */
	__u32 cpu;
	__u64 ts;          /* fork, CLOCK_MONOTONIC ns */
	__u64 cgroup_id;   /* the parent's (the child starts in it) */
	__u32 pid;         /* parent thread */
	__u32 tgid;        /* parent process */
	__u32 child_pid;
	__u32 child_tgid;  /* == tgid for a new thread */
	__u32 uid;
	__u32 pad;
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_FORK_EVENT_SIZE 64

/*
 * One sched_switch. The hot path (hundreds of thousands a second), so it
 * is kept to 72 bytes: pids and prios narrowed to what the kernel can
 * hold, the CPU in the record rather than implied by the ring (the drain
 * callback does not know which ring a record came from).
 */
struct ktape_sched_switch_event {
	__u32 kind;        /* KTAPE_KIND_SCHED_SWITCH */
	__u32 prev_state;  /* prev's raw task state (__state); 0 = runnable */
	__u64 ts;          /* CLOCK_MONOTONIC ns */
	__u32 prev_pid;
	__u32 prev_tgid;
	__u32 next_pid;
	__u32 next_tgid;
	__s16 prev_prio;   /* task_struct->prio, 0..139 (-1 for deadline) */
	__s16 next_prio;
	__u16 cpu;
	__u8 preempt;      /* the tracepoint's preempt argument */
	__u8 pad;
	char prev_comm[KTAPE_COMM_LEN];
	char next_comm[KTAPE_COMM_LEN];
};
#define KTAPE_SCHED_SWITCH_EVENT_SIZE 72

/* One sched_wakeup or sched_wakeup_new. */
struct ktape_sched_wakeup_event {
	__u32 kind;        /* KTAPE_KIND_SCHED_WAKEUP */
	__u32 pid;         /* woken thread */
	__u64 ts;          /* CLOCK_MONOTONIC ns */
	__u32 tgid;
	__u32 waker_pid;   /* current task where the wakeup ran (0: idle/irq on idle) */
	__u32 waker_tgid;
	__s32 target_cpu;  /* CPU the woken task will run on */
	__s16 prio;
	__u16 cpu;         /* CPU the wakeup ran on */
	__u8 new_task;     /* 1 for sched_wakeup_new */
	__u8 pad[3];
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_SCHED_WAKEUP_EVENT_SIZE 56

/*
 * ktape_tcp_event.has, what the optional fields hold: TASK pid/tgid/uid/comm
 * (the event ran in a task's context), OWNER sk_pid/sk_tgid/sk_comm,
 * PREV prev_ns (time in the old state), LIFETIME lifetime_ns, BYTES
 * rx_bytes/tx_bytes, ERROR error (the kernel reported a result).
 */
#define KTAPE_TCP_HAS_TASK 1
#define KTAPE_TCP_HAS_OWNER 2
#define KTAPE_TCP_HAS_PREV 4
#define KTAPE_TCP_HAS_LIFETIME 8
#define KTAPE_TCP_HAS_BYTES 16
#define KTAPE_TCP_HAS_ERROR 32

/*
 * One TCP record: a state transition (KTAPE_KIND_TCP_STATE), an accepted
 * connection (KTAPE_KIND_TCP_ACCEPT) or a retransmitted segment
 * (KTAPE_KIND_TCP_RETRANSMIT); fields a kind does not use are zero.
 */
struct ktape_tcp_event {
	__u32 kind;
	__u32 cpu;
	__u64 ts;          /* CLOCK_MONOTONIC ns */
	__u64 skaddr;      /* struct sock pointer: identifies the socket */
	__u64 prev_ns;     /* time spent in oldstate */
	__u64 lifetime_ns; /* first transition -> CLOSE */
	__u64 rx_bytes;    /* tcp_sock.bytes_received at CLOSE */
	__u64 tx_bytes;    /* tcp_sock.bytes_acked at CLOSE */
	__u32 pid;         /* current task (HAS_TASK) */
	__u32 tgid;
	__u32 uid;         /* its real uid */
	__u32 sk_pid;      /* socket owner (HAS_OWNER) */
	__u32 sk_tgid;
	__s32 error;       /* retransmit result (HAS_ERROR) */
	__u16 family;      /* AF_INET or AF_INET6 */
	__u16 sport;       /* local port, host order */
	__u16 dport;       /* remote port, host order */
	__u8 oldstate;     /* TCP_* (state for retransmits) */
	__u8 newstate;
	__u8 has;          /* KTAPE_TCP_HAS_* bits */
	__u8 pad[7];
	__u8 saddr[16];    /* local address (IPv4 in the first 4 bytes) */
	__u8 daddr[16];    /* remote address */
	char comm[KTAPE_COMM_LEN];
	char sk_comm[KTAPE_COMM_LEN];
};
#define KTAPE_TCP_EVENT_SIZE 160

/*
 * Frames kept per stack: the kernel's PERF_MAX_STACK_DEPTH. A stack map
 * value is this many u64 addresses, leaf first, zero-padded.
 */
#define KTAPE_STACK_DEPTH 127

/*
 * One CPU sample (family profile). Variable length: the header is followed
 * by kframes kernel return addresses, then uframes user ones (the frame
 * pointer walk, --call-graph fp), then stack_len bytes of the user stack
 * copied from sp upwards (--call-graph dwarf), which user space unwinds
 * with the modules' CFI while the process lives. Taking the stacks into
 * the record rather than a stack map means no stack is ever refused for a
 * full or colliding map; user space deduplicates them.
 */
struct ktape_profile_event {
	__u32 kind;        /* KTAPE_KIND_PROFILE */
	__u32 cpu;
	__u64 ts;          /* CLOCK_MONOTONIC ns */
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	__u64 mm;          /* task->mm: the address space, new at every exec */
	__u64 ip;          /* user registers at the sample (the task's saved */
	__u64 sp;          /* user registers when it was in the kernel) */
	__u64 bp;
	__u32 stack_len;   /* bytes of user stack after the frames */
	__u16 kframes;
	__u16 uframes;
	__u8 flags;        /* KTAPE_PROF_* */
	__u8 pad[7];
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_PROFILE_EVENT_SIZE 96
/* ktape_profile_event.flags: which stacks the sample has, and which of
 * them the kernel failed to take (the row keeps a "lost" stack id). */
#define KTAPE_PROF_KSTACK 1
#define KTAPE_PROF_USTACK 2
#define KTAPE_PROF_KLOST 4
#define KTAPE_PROF_ULOST 8
/* Most user stack bytes a sample can carry (--stack-size). */
#define KTAPE_STACK_COPY_MAX 32768
/* --call-graph: how user stacks are taken. */
#define KTAPE_CALL_GRAPH_FP 0
#define KTAPE_CALL_GRAPH_DWARF 1

/*
 * One off-CPU episode (family offcpu), emitted at switch-in; the stacks
 * were taken at switch-out.
 */
struct ktape_offcpu_event {
	__u32 kind;        /* KTAPE_KIND_OFFCPU */
	__u32 state;       /* raw __state at switch-out */
	__u64 ts;          /* switch-in, CLOCK_MONOTONIC ns */
	__u64 duration_ns; /* switch-out -> switch-in */
	__u32 pid;
	__u32 tgid;
	__s32 kstack;
	__s32 ustack;
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_OFFCPU_EVENT_SIZE 56

/*
 * One run-queue length sample of one CPU (perf_event timer on that CPU).
 */
struct ktape_runqlen_event {
	__u32 kind;        /* KTAPE_KIND_RUNQLEN */
	__u32 cpu;
	__u64 ts;          /* CLOCK_MONOTONIC ns */
	__u32 len;         /* rq->nr_running minus the running task */
	__u32 idle;        /* 1: the CPU ran its idle task (nothing running) */
};
#define KTAPE_RUNQLEN_EVENT_SIZE 24

/* ---- open: one open/openat/openat2, at its return -------------------- */
#define KTAPE_OPEN_PATH_LEN 256

/* One open. */
struct ktape_open_event {
	__u32 kind;        /* KTAPE_KIND_OPEN */
	__u32 cpu;         /* CPU the call returned on */
	__u64 ts;          /* return, CLOCK_MONOTONIC ns (entry while in flight) */
	__u64 latency_ns;  /* entry -> return */
	__u64 flags;       /* O_* flags as passed */
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u32 mode;        /* mode as passed (meaningful with O_CREAT/O_TMPFILE) */
	__s32 ret;         /* fd, or -errno */
	__u32 pad;
	char comm[KTAPE_COMM_LEN];
	char path[KTAPE_OPEN_PATH_LEN];
};
#define KTAPE_OPEN_EVENT_SIZE 328

/* ---- fileio: one read/write/.../fsync on a regular file, at its return - */
/* Operations (ktape_format::fileio::OPS, in this order). */
#define KTAPE_FOP_READ 0
#define KTAPE_FOP_WRITE 1
#define KTAPE_FOP_PREAD64 2
#define KTAPE_FOP_PWRITE64 3
#define KTAPE_FOP_READV 4
#define KTAPE_FOP_WRITEV 5
#define KTAPE_FOP_FSYNC 6
#define KTAPE_FOP_FDATASYNC 7
#define KTAPE_FILE_FS_LEN 16
#define KTAPE_FILE_NAME_LEN 256

/* One file operation. */
struct ktape_file_op_event {
	__u32 kind;        /* KTAPE_KIND_FILE_OP */
	__u32 cpu;         /* CPU the call returned on */
	__u64 ts;          /* return, CLOCK_MONOTONIC ns */
	__u64 latency_ns;  /* entry -> return */
	__u64 cgroup_id;
	__u64 inode;       /* inode->i_ino */
	__s64 offset;      /* file offset the operation started at (0: fsync) */
	__s64 ret;         /* bytes done, or -errno */
	__u32 pid;
	__u32 tgid;
	__u32 dev;         /* inode->i_sb->s_dev: major << 20 | minor */
	__u8 op;           /* KTAPE_FOP_* */
	__u8 pad[3];
	char comm[KTAPE_COMM_LEN];
	char fs[KTAPE_FILE_FS_LEN];     /* i_sb->s_type->name, e.g. "ext4" */
	char name[KTAPE_FILE_NAME_LEN]; /* f_path.dentry->d_name */
};
#define KTAPE_FILE_OP_EVENT_SIZE 360

/* ---- cache: per-CPU page-cache counters, summed by user space -------- */
/* One CPU's page-cache counters. */
struct ktape_cache_counters {
	__u64 added_pages;   /* pages added to the page cache (misses) */
	__u64 dirtied_pages; /* pages dirtied */
	__u64 read_pages;    /* pages asked for by buffered reads (estimate) */
	__u64 mapped_pages;  /* pages mapped by mmap faults (estimate) */
};
#define KTAPE_CACHE_COUNTERS_SIZE 32

/* ---- syscall: every syscall, counted per second in the kernel -------- */
/* Slots of a syscall aggregate's latency histogram: slot i counts calls of
 * [2^i, 2^(i+1)) µs (slot 0 also holds < 1 µs); the last slot holds every
 * longer call. */
#define KTAPE_SYSCALL_SLOTS 32
/* What ktape_syscall_agg counts, one map entry each. */
struct ktape_syscall_key {
	__u32 sec;         /* CLOCK_MONOTONIC second the calls returned in */
	__u32 tgid;        /* calling process */
	__u32 nr;          /* syscall number (the architecture's table) */
	__u32 err;         /* errno the calls failed with, 0 for success */
};
#define KTAPE_SYSCALL_KEY_SIZE 16

/* Calls of one key. Every CPU updates it: the counts are atomic adds; the
 * maximum is not (two CPUs racing on one key may keep the smaller). */
struct ktape_syscall_agg {
	__u64 count;       /* calls */
	__u64 total_ns;    /* sum of entry -> return */
	__u64 max_ns;      /* slowest call */
	__u32 hist[KTAPE_SYSCALL_SLOTS]; /* latency, log2 µs slots */
	char comm[KTAPE_COMM_LEN];       /* caller's thread name, first call */
};
#define KTAPE_SYSCALL_AGG_SIZE 168

/* One call slower than --syscall-slow (also counted in the aggregates). */
struct ktape_syscall_event {
	__u32 kind;        /* KTAPE_KIND_SYSCALL_SLOW */
	__u32 cpu;         /* CPU the call returned on */
	__u64 ts;          /* return, CLOCK_MONOTONIC ns */
	__u64 latency_ns;  /* entry -> return */
	__s64 ret;         /* return value (-errno on failure) */
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	__u32 nr;          /* syscall number */
	__u32 pad;
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_SYSCALL_EVENT_SIZE 72

/* ---- irq: handler runs counted in the kernel per second x CPU x IRQ -- */
#define KTAPE_IRQ_HARD 0   /* a hard IRQ handler (irq_handler_entry/exit) */
#define KTAPE_IRQ_SOFT 1   /* a softirq vector (softirq_entry/exit) */
/* Slots of both histograms: slot i counts runs of [2^i, 2^(i+1)) units
 * (slot 0 also holds 0); the last slot every longer run. */
#define KTAPE_IRQ_SLOTS 32
#define KTAPE_IRQ_NAME_LEN 32
/* What ktape_irq_agg counts, one map entry each. The CPU is in the key, so
 * only that CPU ever updates an entry: plain adds, exact maximum. */
struct ktape_irq_key {
	__u32 sec;         /* CLOCK_MONOTONIC second the runs ended in */
	__u32 cpu;
	__u32 kind;        /* KTAPE_IRQ_HARD or KTAPE_IRQ_SOFT */
	__u32 irq;         /* IRQ number, or softirq vector */
	__u64 handler;     /* hard: the struct irqaction (shared lines have
			    * several); soft: 0 */
};
#define KTAPE_IRQ_KEY_SIZE 24

struct ktape_irq_agg {
	__u64 count;       /* handler runs */
	__u64 total_ns;    /* sum of entry -> exit */
	__u64 max_ns;      /* longest run */
	__u32 ns_hist[KTAPE_IRQ_SLOTS]; /* run time, log2 ns slots */
	__u32 us_hist[KTAPE_IRQ_SLOTS]; /* run time, log2 µs slots (bcc's -d) */
	char name[KTAPE_IRQ_NAME_LEN];  /* hard: the handler's name (irqaction) */
};
#define KTAPE_IRQ_AGG_SIZE 312
/* ---- mount: one mount/umount/fsopen/fsconfig/fsmount/move_mount ----- */
/* Calls (ktape_format::mount::CALLS, in this order). */
#define KTAPE_MOUNT_CALL_MOUNT 0
#define KTAPE_MOUNT_CALL_UMOUNT 1
#define KTAPE_MOUNT_CALL_FSOPEN 2
#define KTAPE_MOUNT_CALL_FSCONFIG 3
#define KTAPE_MOUNT_CALL_FSMOUNT 4
#define KTAPE_MOUNT_CALL_MOVE_MOUNT 5
#define KTAPE_MOUNT_PATH_LEN 256
#define KTAPE_MOUNT_FS_LEN 64
#define KTAPE_MOUNT_DATA_LEN 256

/*
 * One mount-related call, at its return. The four strings are generic
 * slots filled at entry, each call using those its arguments need:
 * source (mount's source, move_mount's from path), target (mount's and
 * umount's target, move_mount's to path), fstype (mount's type, fsopen's
 * fs name, fsconfig's key), data (mount's data, fsconfig's string value).
 */
struct ktape_mount_event {
	__u32 kind;        /* KTAPE_KIND_MOUNT */
	__u32 cpu;         /* CPU the call returned on */
	__u64 ts;          /* return, CLOCK_MONOTONIC ns (entry while in flight) */
	__u64 latency_ns;  /* entry -> return */
	__u64 flags;       /* the call's flags argument (0 for fsconfig) */
	__s64 ret;         /* return value: 0, an fd, or -errno */
	__u32 pid;
	__u32 tgid;
	__u32 mnt_ns;      /* caller's mount namespace inode number */
	__u32 attr_flags;  /* fsmount: MOUNT_ATTR_* */
	__s32 fd;          /* fsconfig fd, fsmount fs_fd, move_mount from_dfd; else -1 */
	__s32 to_fd;       /* move_mount to_dfd; else -1 */
	__s32 cmd;         /* fsconfig: FSCONFIG_* command; else -1 */
	__s32 aux;         /* fsconfig: aux argument; else 0 */
	__u8 call;         /* KTAPE_MOUNT_CALL_* */
	__u8 pad[7];
	char comm[KTAPE_COMM_LEN];
	char source[KTAPE_MOUNT_PATH_LEN];
	char target[KTAPE_MOUNT_PATH_LEN];
	char fstype[KTAPE_MOUNT_FS_LEN];
	char data[KTAPE_MOUNT_DATA_LEN];
};
#define KTAPE_MOUNT_EVENT_SIZE 928

/* ---- stat: one stat-family call, at its return ----------------------- */
/* Calls (ktape_format::stat::CALLS, in this order). */
#define KTAPE_STAT_CALL_STATFS 0
#define KTAPE_STAT_CALL_NEWSTAT 1
#define KTAPE_STAT_CALL_NEWLSTAT 2
#define KTAPE_STAT_CALL_NEWFSTAT 3
#define KTAPE_STAT_CALL_NEWFSTATAT 4
#define KTAPE_STAT_CALL_STATX 5
#define KTAPE_STAT_PATH_LEN 256

/*
 * One stat. Variable length, as stats come by the hundred thousand a
 * second: the record ends after the path's path_len bytes and its NUL
 * (the ring holds KTAPE_STAT_EVENT_HDR + path_len + 1 bytes).
 */
struct ktape_stat_event {
	__u32 kind;        /* KTAPE_KIND_STAT */
	__u32 cpu;         /* CPU the call returned on */
	__u64 ts;          /* return, CLOCK_MONOTONIC ns */
	__u64 latency_ns;  /* entry -> return */
	__u32 pid;
	__u32 tgid;
	__s32 ret;         /* 0 or -errno */
	__s32 dfd;         /* directory fd, AT_FDCWD (-100) for calls with none;
			    * newfstat: the file's fd */
	__u16 path_len;    /* bytes of path before its NUL */
	__u8 call;         /* KTAPE_STAT_CALL_* */
	__u8 pad[5];
	char comm[KTAPE_COMM_LEN];
	char path[KTAPE_STAT_PATH_LEN];
};
#define KTAPE_STAT_EVENT_HDR 64
#define KTAPE_STAT_EVENT_SIZE 320

/* ---- sync: one sync-family call, at its entry ------------------------ */
/* Calls (ktape_format::sync::CALLS, in this order). */
#define KTAPE_SYNC_CALL_SYNC 0
#define KTAPE_SYNC_CALL_FSYNC 1
#define KTAPE_SYNC_CALL_FDATASYNC 2
#define KTAPE_SYNC_CALL_MSYNC 3
#define KTAPE_SYNC_CALL_SYNC_FILE_RANGE 4
#define KTAPE_SYNC_CALL_SYNCFS 5

/* One sync call, at its entry (what bcc's syncsnoop shows). */
struct ktape_sync_event {
	__u32 kind;        /* KTAPE_KIND_SYNC */
	__u32 cpu;
	__u64 ts;          /* entry, CLOCK_MONOTONIC ns */
	__u64 offset;      /* sync_file_range: offset; msync: address; else 0 */
	__u64 nbytes;      /* sync_file_range: nbytes; msync: length; else 0 */
	__u32 pid;
	__u32 tgid;
	__s32 fd;          /* fsync, fdatasync, sync_file_range, syncfs; else -1 */
	__u32 flags;       /* msync: MS_*; sync_file_range: SYNC_FILE_RANGE_*; else 0 */
	__u8 call;         /* KTAPE_SYNC_CALL_* */
	__u8 pad[7];
	char comm[KTAPE_COMM_LEN];
};
#define KTAPE_SYNC_EVENT_SIZE 72
/* ---- signal: kill/tkill/tgkill calls, and signals the kernel sends ---- */
/* ktape_signal_event.source (ktape_format::signal::SOURCES, in this order). */
#define KTAPE_SIGNAL_KERNEL 0
#define KTAPE_SIGNAL_KILL 1
#define KTAPE_SIGNAL_TKILL 2
#define KTAPE_SIGNAL_TGKILL 3
/* ktape_signal_event.has: target_tgid, target_comm, code and result are
 * those of the (first) signal the kernel generated (signal_generate). */
#define KTAPE_SIGNAL_HAS_GEN 1
/* ktape_signal_event.has: target_tgid is tgkill's tgid argument. */
#define KTAPE_SIGNAL_HAS_TGID 2

/*
 * One signal: a kill/tkill/tgkill call at its return (with what the
 * kernel generated during it), or a signal the kernel generated outside
 * such a call (source KTAPE_SIGNAL_KERNEL).
 */
struct ktape_signal_event {
	__u32 kind;        /* KTAPE_KIND_SIGNAL */
	__u32 cpu;
	__u64 ts;          /* return of the call / generation, CLOCK_MONOTONIC ns */
	__u64 cgroup_id;   /* current task's cgroup v2 id */
	__u32 pid;         /* current task (the sender) */
	__u32 tgid;
	__u32 uid;
	__s32 sig;
	__s32 target;      /* the id the call named (kill: pid argument as
			    * passed; tkill/tgkill: tid); kernel: target tid */
	__s32 target_tgid; /* with HAS_GEN or HAS_TGID */
	__s32 ret;         /* the call's return (0 or -errno); 0 for kernel */
	__s32 code;        /* si_code (with HAS_GEN) */
	__u32 generated;   /* signals generated during the call (1 for kernel) */
	__u8 source;       /* KTAPE_SIGNAL_* */
	__u8 result;       /* enum trace_sig_result of the first generation */
	__u8 has;          /* KTAPE_SIGNAL_HAS_* bits */
	__u8 pad;
	char comm[KTAPE_COMM_LEN];
	char target_comm[KTAPE_COMM_LEN]; /* with HAS_GEN */
};
#define KTAPE_SIGNAL_EVENT_SIZE 96

/* ---- oom: one OOM kill (oom:mark_victim) ------------------------------ */
/* Sizes are in pages as the kernel counts them (mm counters): user space
 * knows the host's page size and turns them into bytes. */
struct ktape_oom_event {
	__u32 kind;        /* KTAPE_KIND_OOM */
	__u32 cpu;
	__u64 ts;          /* mark_victim, CLOCK_MONOTONIC ns */
	__u64 cgroup_id;   /* triggering (current) task's cgroup v2 id */
	__u64 victim_cgroup_id; /* victim's cgroup v2 id */
	__u64 total_vm;    /* victim's mm->total_vm, pages */
	__u64 anon_rss;    /* victim's resident anonymous pages */
	__u64 file_rss;    /* resident file pages */
	__u64 shmem_rss;   /* resident shared-memory pages */
	__u64 pgtables;    /* page tables, bytes (mm->pgtables_bytes) */
	__u32 pid;         /* current task: the one whose allocation triggered it */
	__u32 tgid;
	__u32 victim_pid;  /* victim thread id (the tracepoint's pid) */
	__u32 victim_tgid;
	__u32 victim_uid;  /* the tracepoint's uid */
	__s16 oom_score_adj;
	__u16 pad;
	char comm[KTAPE_COMM_LEN];
	char victim_comm[KTAPE_COMM_LEN];
};
#define KTAPE_OOM_EVENT_SIZE 128
/* ---- wakeup: one wakeup of a blocked task, with both sides' stacks ---- */
/* ktape_wakeup_event.flags: the woken task is a kernel thread. */
#define KTAPE_WAKEUP_KTHREAD 1
/* ktape_wakeup_event.flags: the waker (current task) is a kernel thread. */
#define KTAPE_WAKEUP_WAKER_KTHREAD 2

/*
 * One wakeup (sched_waking) of a task that had blocked at least
 * --wakeup-min-block: the waker's stacks taken in its own context, the
 * woken task's taken when it switched out.
 */
struct ktape_wakeup_event {
	__u32 kind;        /* KTAPE_KIND_WAKEUP */
	__u32 cpu;         /* CPU the wakeup ran on */
	__u64 ts;          /* wakeup, CLOCK_MONOTONIC ns */
	__u64 blocked_ns;  /* woken task's switch-out -> this wakeup */
	__u32 waker_pid;   /* current task where the wakeup ran */
	__u32 waker_tgid;
	__u32 pid;         /* woken thread */
	__u32 tgid;
	__s32 waker_kstack; /* stack map ids; -1 none, -2 lost */
	__s32 waker_ustack;
	__s32 kstack;      /* woken task's stacks at switch-out */
	__s32 ustack;
	__u32 state;       /* woken task's raw __state at switch-out */
	__u8 flags;        /* KTAPE_WAKEUP_* bits */
	__u8 pad[3];
	char waker_comm[KTAPE_COMM_LEN];
	char comm[KTAPE_COMM_LEN]; /* woken task's, at switch-out */
};
#define KTAPE_WAKEUP_EVENT_SIZE 96

#ifdef __BPF__
/* Only the BPF side sees what follows (vmlinux.h and libbpf headers). */

_Static_assert(__builtin_offsetof(struct ktape_exec_event, args) == KTAPE_EXEC_EVENT_HDR,
	       "struct ktape_exec_event header changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_exec_event) == KTAPE_EXEC_EVENT_SIZE,
	       "struct ktape_exec_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_exit_event) == KTAPE_EXIT_EVENT_SIZE,
	       "struct ktape_exit_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_fork_event) == KTAPE_FORK_EVENT_SIZE,
	       "struct ktape_fork_event changed size: update its _SIZE define");

_Static_assert(sizeof(struct ktape_bio_event) == KTAPE_BIO_EVENT_SIZE,
	       "struct ktape_bio_event changed size: update KTAPE_BIO_EVENT_SIZE and bio.rs");
_Static_assert(sizeof(struct ktape_sched_switch_event) == KTAPE_SCHED_SWITCH_EVENT_SIZE,
	       "struct ktape_sched_switch_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_sched_wakeup_event) == KTAPE_SCHED_WAKEUP_EVENT_SIZE,
	       "struct ktape_sched_wakeup_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_profile_event) == KTAPE_PROFILE_EVENT_SIZE,
	       "struct ktape_profile_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_offcpu_event) == KTAPE_OFFCPU_EVENT_SIZE,
	       "struct ktape_offcpu_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_runqlen_event) == KTAPE_RUNQLEN_EVENT_SIZE,
	       "struct ktape_runqlen_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_tcp_event) == KTAPE_TCP_EVENT_SIZE,
	       "struct ktape_tcp_event changed size: update KTAPE_TCP_EVENT_SIZE and tcp.rs");

_Static_assert(sizeof(struct ktape_open_event) == KTAPE_OPEN_EVENT_SIZE,
	       "struct ktape_open_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_cache_counters) == KTAPE_CACHE_COUNTERS_SIZE,
	       "struct ktape_cache_counters changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_file_op_event) == KTAPE_FILE_OP_EVENT_SIZE,
	       "struct ktape_file_op_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_syscall_key) == KTAPE_SYSCALL_KEY_SIZE,
	       "struct ktape_syscall_key changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_syscall_agg) == KTAPE_SYSCALL_AGG_SIZE,
	       "struct ktape_syscall_agg changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_syscall_event) == KTAPE_SYSCALL_EVENT_SIZE,
	       "struct ktape_syscall_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_irq_key) == KTAPE_IRQ_KEY_SIZE,
	       "struct ktape_irq_key changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_irq_agg) == KTAPE_IRQ_AGG_SIZE,
	       "struct ktape_irq_agg changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_mount_event) == KTAPE_MOUNT_EVENT_SIZE,
	       "struct ktape_mount_event changed size: update its _SIZE define");
_Static_assert(__builtin_offsetof(struct ktape_stat_event, path) == KTAPE_STAT_EVENT_HDR,
	       "struct ktape_stat_event header changed size: update its _HDR define");
_Static_assert(sizeof(struct ktape_stat_event) == KTAPE_STAT_EVENT_SIZE,
	       "struct ktape_stat_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_sync_event) == KTAPE_SYNC_EVENT_SIZE,
	       "struct ktape_sync_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_signal_event) == KTAPE_SIGNAL_EVENT_SIZE,
	       "struct ktape_signal_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_oom_event) == KTAPE_OOM_EVENT_SIZE,
	       "struct ktape_oom_event changed size: update its _SIZE define");
_Static_assert(sizeof(struct ktape_wakeup_event) == KTAPE_WAKEUP_EVENT_SIZE,
	       "struct ktape_wakeup_event changed size: update its _SIZE define");

/*
 * The inner map type of ktape_rings. User space creates one ring per
 * possible CPU with its own size and sets the outer map's inner-map
 * template to the first of them, so the size declared here does not
 * matter.
 */
struct ktape_ring_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

/* Per-CPU rings, indexed by bpf_get_smp_processor_id(). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__array(values, struct ktape_ring_inner);
} ktape_rings SEC(".maps");

/* Lost records per (family, reason), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KTAPE_MAX_FAMILIES * KTAPE_LOSS_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} ktape_loss SEC(".maps");

static __always_inline void ktape_count_loss(__u32 family, __u32 reason)
{
	__u32 key = family * KTAPE_LOSS_REASONS + reason;
	__u64 *n = bpf_map_lookup_elem(&ktape_loss, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Reserves a record on this CPU's ring; counts the failure as lost.
 * Returns the ring in *ring for ktape_submit().
 */
static __always_inline void *ktape_reserve(__u32 family, __u64 size, void **ring)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *rb = bpf_map_lookup_elem(&ktape_rings, &cpu);
	void *rec;

	if (!rb) {
		ktape_count_loss(family, KTAPE_LOSS_RINGBUF_FULL);
		return NULL;
	}
	rec = bpf_ringbuf_reserve(rb, size, 0);
	if (!rec) {
		ktape_count_loss(family, KTAPE_LOSS_RINGBUF_FULL);
		return NULL;
	}
	*ring = rb;
	return rec;
}

/*
 * Unread bytes above which a submit wakes the reader: half the ring. User
 * space sets it in every object's rodata before load (Rings::wakeup_bytes),
 * so the hot path asks the ring one question (its unread bytes) instead of
 * two (unread bytes and size): a helper call less per event. The default,
 * 0, would wake the reader at every event: correct, only slow.
 */
const volatile __u64 ktape_wakeup_bytes = 0;

/*
 * `-p`: the only process to record (0: all). Every object has it, set by
 * the recorder's one load path (bpf::Object), whether or not its programs
 * filter by process (runqlen samples CPUs, not tasks).
 */
const volatile __u32 targ_tgid = 0;

/*
 * The submit flag: no wakeup (a wakeup per event costs over a microsecond
 * on this CPU; the reader drains on a timer), unless the ring is more than
 * half full, when waiting for the timer risks losing records.
 */
static __always_inline __u64 ktape_wakeup_flag(void *ring)
{
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > ktape_wakeup_bytes
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

static __always_inline void ktape_submit(void *ring, void *rec)
{
	bpf_ringbuf_submit(rec, ktape_wakeup_flag(ring));
}

/*
 * Copies a record of variable length (at most max bytes, from a map
 * value) into this CPU's ring; counts the failure as lost.
 */
static __always_inline void ktape_output(__u32 family, void *rec, __u64 size)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *rb = bpf_map_lookup_elem(&ktape_rings, &cpu);

	if (!rb) {
		ktape_count_loss(family, KTAPE_LOSS_RINGBUF_FULL);
		return;
	}
	if (bpf_ringbuf_output(rb, rec, size, ktape_wakeup_flag(rb)))
		ktape_count_loss(family, KTAPE_LOSS_RINGBUF_FULL);
}

#endif /* __BPF__ */
#endif /* KTAPE_H */
