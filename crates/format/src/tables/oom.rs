//! The `oom` table: one row per task the kernel's OOM killer chose (the
//! `oom:mark_victim` tracepoint), what bcc's oomkill prints and the
//! victim's memory besides.
//!
//! The tracepoint fires in the context of the task whose allocation ran
//! the OOM killer, so `pid`/`comm` are bcc's "triggered by". bcc's
//! "pages" (the size of the memory the OOM happened in, a memory
//! cgroup's limit or all of RAM and swap) is no tracepoint's argument
//! and is not recorded; `total_vm` is the victim's size.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `oom` table.
pub static TABLE: TableSpec = TableSpec {
    name: "oom",
    family: "oom",
    row: "one task chosen by the OOM killer (oom:mark_victim), with the task whose allocation triggered it",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the victim was marked (UTC), from the kernel's monotonic clock; its SIGKILL follows at once." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the OOM killer ran." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the task whose allocation (or memory cgroup charge) ran the OOM killer: bcc's \"triggered by\"." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of that task." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of that task." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of that task (0 when the host has no cgroup v2 hierarchy)." },
        ColumnSpec { name: "victim_pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the victim, the tracepoint's pid (the whole process is killed)." },
        ColumnSpec { name: "victim_tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the victim." },
        ColumnSpec { name: "victim_comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the victim." },
        ColumnSpec { name: "victim_uid", ty: Int64, unit: "-", nullable: false, doc: "User id of the victim's owner (the tracepoint's uid)." },
        ColumnSpec { name: "victim_cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the victim (0 when the host has no cgroup v2 hierarchy)." },
        ColumnSpec { name: "oom_score_adj", ty: Int32, unit: "-", nullable: false, doc: "The victim's /proc/PID/oom_score_adj, -1000 to 1000." },
        ColumnSpec { name: "total_vm", ty: Int64, unit: "bytes", nullable: false, doc: "The victim's virtual memory size (mm->total_vm pages times the page size)." },
        ColumnSpec { name: "anon_rss", ty: Int64, unit: "bytes", nullable: false, doc: "The victim's resident anonymous memory, as the tracepoint counts it." },
        ColumnSpec { name: "file_rss", ty: Int64, unit: "bytes", nullable: false, doc: "The victim's resident file-backed memory." },
        ColumnSpec { name: "shmem_rss", ty: Int64, unit: "bytes", nullable: false, doc: "The victim's resident shared memory." },
        ColumnSpec { name: "pgtables", ty: Int64, unit: "bytes", nullable: false, doc: "The victim's page tables." },
        ColumnSpec { name: "page_size", ty: Int32, unit: "bytes", nullable: false, doc: "The recording host's page size, for sizes in pages as bcc prints them." },
        ColumnSpec { name: "loadavg", ty: Text, unit: "-", nullable: false, doc: "The host's /proc/loadavg, read by the recorder when it received the row (within a drain cycle of the kill), as bcc's oomkill reads it when it prints; empty when it could not be read." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
