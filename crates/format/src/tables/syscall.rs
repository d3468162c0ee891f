//! The `syscall` and `syscall_slow` tables: every system call, counted
//! per second in the kernel (what bcc's syscount sums), and the slow ones
//! one by one.
//!
//! Syscalls come by the million per second, so the kernel adds each call
//! to a counter keyed by second, process, syscall and errno, and the
//! recorder writes one `syscall` row per key once its second is over: the
//! rate never reaches the rings. Calls slower than `--syscall-slow`
//! (default 10 ms) also get a `syscall_slow` row of their own. Syscall
//! names are resolved when recording, from the recorder's architecture
//! (x86-64 here; elsewhere the name is `syscall_<nr>`), so readers need
//! no table. The recorder's own calls are left out (its drain thread
//! waits in epoll_wait on a 10 ms timer: the act of recording is not
//! what anyone records it for).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `syscall` table.
pub static AGG_TABLE: TableSpec = TableSpec {
    name: "syscall",
    family: "syscall",
    row: "the calls of one process to one syscall that returned in one second with one errno (0: success)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Start of the second (of the kernel's monotonic clock, as UTC) the calls returned in; the row covers [ts, ts + 1 s)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the thread whose call created the row (the first of the second)." },
        ColumnSpec { name: "nr", ty: Int32, unit: "-", nullable: false, doc: "Syscall number in the recording host's table." },
        ColumnSpec { name: "syscall", ty: DictString, unit: "-", nullable: false, doc: "Syscall name (`syscall_<nr>` when the recorder does not know it)." },
        ColumnSpec { name: "errno", ty: Int32, unit: "-", nullable: false, doc: "The positive errno these calls failed with; 0 for calls that succeeded." },
        ColumnSpec { name: "count", ty: Int64, unit: "calls", nullable: false, doc: "Calls." },
        ColumnSpec { name: "total_ns", ty: Int64, unit: "ns", nullable: false, doc: "Sum of the calls' times from entry to return." },
        ColumnSpec { name: "max_ns", ty: Int64, unit: "ns", nullable: false, doc: "The slowest call's time (two CPUs updating one row at the same instant may keep the smaller of their two)." },
        ColumnSpec { name: "latency_hist", ty: Int64List, unit: "calls", nullable: false, doc: "Calls per log2 latency slot: item i counts calls of [2^i, 2^(i+1)) µs (item 0 also holds those under 1 µs, the last item of 32 every longer call); trailing zeros are left out." },
    ],
};

/// The `syscall_slow` table.
pub static SLOW_TABLE: TableSpec = TableSpec {
    name: "syscall_slow",
    family: "syscall",
    row: "one system call that took at least `--syscall-slow` (default 10 ms), at its return",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "nr", ty: Int32, unit: "-", nullable: false, doc: "Syscall number in the recording host's table." },
        ColumnSpec { name: "syscall", ty: DictString, unit: "-", nullable: false, doc: "Syscall name (`syscall_<nr>` when the recorder does not know it)." },
        ColumnSpec { name: "ret", ty: Int64, unit: "-", nullable: false, doc: "Return value; -errno when the call failed." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time from the call's entry to its return." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the caller." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&AGG_TABLE, &SLOW_TABLE];

/// Default of `--syscall-slow`, ms.
pub const DEFAULT_SLOW_MS: u64 = 10;
/// Slots of `latency_hist` the kernel keeps.
pub const SLOTS: usize = 32;

/// x86-64 syscall names by number (`arch/x86/entry/syscalls/syscall_64.tbl`;
/// "" where the table has a hole).
static X86_64: &[&str] = &[
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield", "mremap",
    "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2", "pause",
    "nanosleep", "getitimer", "alarm", "setitimer", "getpid", "sendfile", "socket", "connect",
    "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind", "listen",
    "getsockname", "getpeername", "socketpair", "setsockopt", "getsockopt", "clone", "fork",
    "vfork", "execve", "exit", "wait4", "kill", "uname", "semget", "semop", "semctl", "shmdt",
    "msgget", "msgsnd", "msgrcv", "msgctl", "fcntl", "flock", "fsync", "fdatasync", "truncate",
    "ftruncate", "getdents", "getcwd", "chdir", "fchdir", "rename", "mkdir", "rmdir", "creat",
    "link", "unlink", "symlink", "readlink", "chmod", "fchmod", "chown", "fchown", "lchown",
    "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "times", "ptrace", "getuid",
    "syslog", "getgid", "setuid", "setgid", "geteuid", "getegid", "setpgid", "getppid", "getpgrp",
    "setsid", "setreuid", "setregid", "getgroups", "setgroups", "setresuid", "getresuid",
    "setresgid", "getresgid", "getpgid", "setfsuid", "setfsgid", "getsid", "capget", "capset",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_sigsuspend", "sigaltstack", "utime",
    "mknod", "uselib", "personality", "ustat", "statfs", "fstatfs", "sysfs", "getpriority",
    "setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "mlock",
    "munlock", "mlockall", "munlockall", "vhangup", "modify_ldt", "pivot_root", "_sysctl", "prctl",
    "arch_prctl", "adjtimex", "setrlimit", "chroot", "sync", "acct", "settimeofday", "mount",
    "umount2", "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "iopl", "ioperm",
    "create_module", "init_module", "delete_module", "get_kernel_syms", "query_module", "quotactl",
    "nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security", "gettid",
    "readahead", "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr", "fgetxattr",
    "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    "tkill", "time", "futex", "sched_setaffinity", "sched_getaffinity", "set_thread_area",
    "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel", "get_thread_area",
    "lookup_dcookie", "epoll_create", "epoll_ctl_old", "epoll_wait_old", "remap_file_pages",
    "getdents64", "set_tid_address", "restart_syscall", "semtimedop", "fadvise64", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "clock_settime",
    "clock_gettime", "clock_getres", "clock_nanosleep", "exit_group", "epoll_wait", "epoll_ctl",
    "tgkill", "utimes", "vserver", "mbind", "set_mempolicy", "get_mempolicy", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr", "kexec_load",
    "waitid", "add_key", "request_key", "keyctl", "ioprio_set", "ioprio_get", "inotify_init",
    "inotify_add_watch", "inotify_rm_watch", "migrate_pages", "openat", "mkdirat", "mknodat",
    "fchownat", "futimesat", "newfstatat", "unlinkat", "renameat", "linkat", "symlinkat",
    "readlinkat", "fchmodat", "faccessat", "pselect6", "ppoll", "unshare", "set_robust_list",
    "get_robust_list", "splice", "tee", "sync_file_range", "vmsplice", "move_pages", "utimensat",
    "epoll_pwait", "signalfd", "timerfd_create", "eventfd", "fallocate", "timerfd_settime",
    "timerfd_gettime", "accept4", "signalfd4", "eventfd2", "epoll_create1", "dup3", "pipe2",
    "inotify_init1", "preadv", "pwritev", "rt_tgsigqueueinfo", "perf_event_open", "recvmmsg",
    "fanotify_init", "fanotify_mark", "prlimit64", "name_to_handle_at", "open_by_handle_at",
    "clock_adjtime", "syncfs", "sendmmsg", "setns", "getcpu", "process_vm_readv",
    "process_vm_writev", "kcmp", "finit_module", "sched_setattr", "sched_getattr", "renameat2",
    "seccomp", "getrandom", "memfd_create", "kexec_file_load", "bpf", "execveat", "userfaultfd",
    "membarrier", "mlock2", "copy_file_range", "preadv2", "pwritev2", "pkey_mprotect",
    "pkey_alloc", "pkey_free", "statx", "io_pgetevents", "rseq", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "pidfd_send_signal", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd", "faccessat2",
    "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease",
    "futex_waitv", "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack",
    "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount", "lsm_get_self_attr",
    "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
    "removexattrat", "open_tree_attr", "file_getattr", "file_setattr",
];

/// The name of syscall `nr` on the architecture the recorder runs on, if
/// it knows it.
pub fn name(nr: u32) -> Option<&'static str> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    X86_64.get(nr as usize).copied().filter(|n| !n.is_empty())
}

/// The name to write for syscall `nr`: [`name`], else `syscall_<nr>`.
pub fn display_name(nr: u32) -> String {
    name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn names_match_the_x86_64_table() {
        assert_eq!(name(0), Some("read"));
        assert_eq!(name(39), Some("getpid"));
        assert_eq!(name(110), Some("getppid"));
        assert_eq!(name(140), Some("getpriority"));
        assert_eq!(name(162), Some("sync"));
        assert_eq!(name(257), Some("openat"));
        assert_eq!(name(435), Some("clone3"));
        assert_eq!(name(350), None);
        assert_eq!(display_name(9999), "syscall_9999");
    }
}
