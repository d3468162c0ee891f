//! The columns of the `exec`, `fork` and `exit` tables.

use super::*;
use crate::columns::table_columns;

table_columns! {
    /// Columns of the `exec` table, in column order.
    pub(super) struct ExecColumns for EXEC_TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    ppid: I32Col,
    uid: I64Col,
    comm: CommDict,
    filename: TextCol,
    args: TextListCol,
    truncated: BoolCol,
    ret: I32Col,
    cgroup_id: I64Col,
}


table_columns! {
    /// Columns of the `exit` table, in column order.
    pub(super) struct ExitColumns for EXIT_TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    ppid: I32Col,
    comm: CommDict,
    exit_code: I32Col,
    signal: I32Col,
    core_dumped: BoolCol,
    lifetime_ns: I64Col,
    cgroup_id: I64Col,
}

table_columns! {
    /// Columns of the `fork` table, in column order.
    pub(super) struct ForkColumns for FORK_TABLE;
    ts: TsCol,
    cpu: I32Col,
    pid: I32Col,
    tgid: I32Col,
    comm: CommDict,
    child_pid: I32Col,
    child_tgid: I32Col,
    thread: BoolCol,
    uid: I64Col,
    cgroup_id: I64Col,
}
