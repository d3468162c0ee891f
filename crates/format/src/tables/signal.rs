//! The `signal` table: signals sent, by kill/tkill/tgkill calls (what
//! bcc's killsnoop shows, failed calls included) and by the kernel itself
//! (SIGSEGV, SIGPIPE, SIGCHLD, the OOM killer's SIGKILL ...), which
//! killsnoop never sees.
//!
//! A signal sent by a call is one row, the call's, not two: what the
//! kernel generated while the call ran is folded into the call's row (see
//! `formats/signal.md`).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `signal` table.
pub static TABLE: TableSpec = TableSpec {
    name: "signal",
    family: "signal",
    row: "one kill, tkill or tgkill call at its return (failed calls too), or one signal the kernel generated outside such a call",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned, or when the kernel generated the signal (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU it happened on." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the sender: the caller; for `kernel` rows the task that was running when the kernel generated the signal (the faulting task for SIGSEGV, the writer for SIGPIPE, the exiting child for SIGCHLD, the task whose allocation triggered an OOM kill; any task for a signal generated in interrupt context, such as a timer's)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the sender." },
        ColumnSpec { name: "uid", ty: Int64, unit: "-", nullable: false, doc: "Real user id of the sender." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the sending thread." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the sender." },
        ColumnSpec { name: "source", ty: DictString, unit: "-", nullable: false, doc: "`kill`, `tkill` or `tgkill` for a call; `kernel` for a signal generated outside those calls (by the kernel, or by another call such as rt_sigqueueinfo or pidfd_send_signal: `code` tells them apart)." },
        ColumnSpec { name: "sig", ty: Int32, unit: "-", nullable: false, doc: "Signal number (0 for a kill that only checks the target exists)." },
        ColumnSpec { name: "target", ty: Int32, unit: "-", nullable: false, doc: "What killsnoop shows as TPID: kill's pid argument as passed (0: the caller's process group, -1: every process it may signal, below -1: that process group), tkill's and tgkill's thread id; for `kernel` rows the thread id of the task the signal was generated for." },
        ColumnSpec { name: "target_tgid", ty: Int32, unit: "-", nullable: true, doc: "Process id of the task the (first) signal was generated for, or tgkill's tgid argument; null when the call generated none and is not a tgkill." },
        ColumnSpec { name: "target_comm", ty: DictString, unit: "-", nullable: true, doc: "Command name of the task the (first) signal was generated for; null when the call generated none (it failed, or sig was 0)." },
        ColumnSpec { name: "ret", ty: Int32, unit: "-", nullable: true, doc: "The call's return value: 0, or -errno (-3 is ESRCH, -1 EPERM); null for `kernel` rows." },
        ColumnSpec { name: "code", ty: Int32, unit: "-", nullable: true, doc: "si_code of the (first) generated signal: 0 SI_USER (kill, and some the kernel sends for a task, like SIGPIPE), -6 SI_TKILL, -1 SI_QUEUE, 128 SI_KERNEL, positive for faults (SEGV_MAPERR 1 ...) and SIGCHLD (CLD_EXITED 1, CLD_KILLED 2 ...); null when none was generated." },
        ColumnSpec { name: "result", ty: DictString, unit: "-", nullable: false, doc: "The kernel's verdict on the (first) generated signal: `delivered` (queued for the target), `ignored` (the target ignores it, or is exiting), `already_pending` (a non-realtime signal already pending is not queued twice), `overflow_fail` (the realtime signal queue was full), `lose_info` (queued without its siginfo); `none` when the call generated no signal." },
        ColumnSpec { name: "generated", ty: Int32, unit: "count", nullable: false, doc: "Signals the kernel generated during the call (more than 1 for kill of a process group or -1; 0 when it failed or sig was 0); 1 for `kernel` rows." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

/// `source` values, indexed by `KTAPE_SIGNAL_*` (`bpf/ktape.h`).
pub const SOURCES: [&str; 4] = ["kernel", "kill", "tkill", "tgkill"];
/// `source` of a signal generated outside kill, tkill and tgkill.
pub const SOURCE_KERNEL: &str = "kernel";

/// `result` values, indexed by the kernel's `enum trace_sig_result`.
pub const RESULTS: [&str; 5] = [
    "delivered",
    "ignored",
    "already_pending",
    "overflow_fail",
    "lose_info",
];
/// `result` of a call that generated no signal.
pub const RESULT_NONE: &str = "none";
