//! The `exec`, `fork` and `exit` tables: processes starting programs,
//! tasks being created and tasks ending, what bcc's execsnoop, pidpersec
//! and exitsnoop show.
//!
//! The kernel copies an exec's filename and arguments at the syscall's
//! entry (they live in memory the exec replaces) and hands over one record
//! at its return, failed execs included; a thread that is not the leader
//! and execs is paired across its change of id. One `exit` row is written
//! per task (thread) that ends; the process's exit is the row whose `pid`
//! equals its `tgid`.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `exec` table.
pub static EXEC_TABLE: TableSpec = TableSpec {
    name: "exec",
    family: "exec",
    row: "one execve or execveat call, at its return (failed calls too)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id after the call (a thread other than the leader that execs takes the process id)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id." },
        ColumnSpec { name: "ppid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the real parent." },
        ColumnSpec { name: "uid", ty: Int64, unit: "-", nullable: false, doc: "Real user id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name after the call: the new program's on success, the caller's on failure." },
        ColumnSpec { name: "filename", ty: Text, unit: "-", nullable: false, doc: "The path passed to execve (execveat: relative to its directory fd), at most 255 bytes." },
        ColumnSpec { name: "args", ty: TextList, unit: "-", nullable: false, doc: "argv, argv[0] first, at most `--max-args` strings (default 20) of at most 255 bytes each, 8 KiB in all." },
        ColumnSpec { name: "truncated", ty: Bool, unit: "-", nullable: false, doc: "Whether `args` or `filename` is incomplete: more arguments than `--max-args`, or a string or the 8 KiB buffer was cut." },
        ColumnSpec { name: "ret", ty: Int32, unit: "-", nullable: false, doc: "Return value: 0 on success, a negative errno on failure (-2 is ENOENT)." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the caller." },
    ],
};

/// The `exit` table.
pub static EXIT_TABLE: TableSpec = TableSpec {
    name: "exit",
    family: "exec",
    row: "one task (thread) that ended",
    columns: &[
        ColumnSpec {
            name: "ts",
            ty: Timestamp,
            unit: "ns",
            nullable: false,
            doc: "When the task exited (UTC), from the kernel's monotonic clock.",
        },
        ColumnSpec {
            name: "cpu",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "CPU on which the task exited.",
        },
        ColumnSpec {
            name: "pid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Thread id; equal to `tgid` for the process's leader.",
        },
        ColumnSpec {
            name: "tgid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Process id.",
        },
        ColumnSpec {
            name: "ppid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Process id of the real parent at exit.",
        },
        ColumnSpec {
            name: "comm",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "Command name of the thread.",
        },
        ColumnSpec {
            name: "exit_code",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Exit status passed to exit (0 to 255); 0 when a signal ended the task.",
        },
        ColumnSpec {
            name: "signal",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Signal that ended the task, 0 if none.",
        },
        ColumnSpec {
            name: "core_dumped",
            ty: Bool,
            unit: "-",
            nullable: false,
            doc: "Whether the signal dumped core.",
        },
        ColumnSpec {
            name: "lifetime_ns",
            ty: Int64,
            unit: "ns",
            nullable: false,
            doc: "Task start (fork or clone) → exit, as exitsnoop's AGE.",
        },
        ColumnSpec {
            name: "cgroup_id",
            ty: Int64,
            unit: "-",
            nullable: false,
            doc: "cgroup v2 id of the task.",
        },
    ],
};

/// The `fork` table.
pub static FORK_TABLE: TableSpec = TableSpec {
    name: "fork",
    family: "exec",
    row: "one new task (fork, vfork or clone: a process or a thread), in its parent's context",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the task was created (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU the parent ran on." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the parent (the thread that called fork or clone)." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the parent." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the parent, which the child starts with." },
        ColumnSpec { name: "child_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the new task." },
        ColumnSpec { name: "child_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the new task: `child_pid` for a new process, `tgid` for a new thread." },
        ColumnSpec { name: "thread", ty: Bool, unit: "-", nullable: false, doc: "Whether the new task is a thread of the parent's process (CLONE_THREAD) rather than a new process." },
        ColumnSpec { name: "uid", ty: Int64, unit: "-", nullable: false, doc: "Real user id of the parent." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the parent, where the child starts." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&EXEC_TABLE, &FORK_TABLE, &EXIT_TABLE];

/// `exec.truncated` bits as the BPF side writes them.
pub mod truncated {
    /// More arguments than `--max-args`.
    pub const MORE_ARGS: u8 = 1;
    /// A string, or the argument buffer, was cut short.
    pub const CUT: u8 = 2;
}

/// Default of `--max-args`, as bcc's execsnoop.
pub const DEFAULT_MAX_ARGS: u32 = 20;
/// Largest `--max-args` the kernel side accepts.
pub const MAX_ARGS: u32 = 128;

/// The kernel's `task->exit_code` split into (status, signal, core
/// dumped), as wait(2) and exitsnoop read it.
pub fn split_exit_code(raw: u32) -> (i32, i32, bool) {
    (
        ((raw >> 8) & 0xff) as i32,
        (raw & 0x7f) as i32,
        raw & 0x80 != 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_split_like_wait() {
        assert_eq!(split_exit_code(0), (0, 0, false));
        assert_eq!(split_exit_code(3 << 8), (3, 0, false));
        assert_eq!(split_exit_code(9), (0, 9, false));
        assert_eq!(split_exit_code(11 | 0x80), (0, 11, true));
    }
}
