//! The columns of the `exec` and `exit` tables.

use super::*;

/// Columns of the `exec` table, in column order.
#[derive(Default)]
pub(super) struct ExecColumns {
    pub(super) ts: TsCol,
    pub(super) cpu: I32Col,
    pub(super) pid: I32Col,
    pub(super) tgid: I32Col,
    pub(super) ppid: I32Col,
    pub(super) uid: I64Col,
    pub(super) comm: CommDict,
    pub(super) filename: TextCol,
    pub(super) args: TextListCol,
    pub(super) truncated: BoolCol,
    pub(super) ret: I32Col,
    pub(super) cgroup_id: I64Col,
}

impl ExecColumns {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            self.ts.finish(),
            self.cpu.finish(),
            self.pid.finish(),
            self.tgid.finish(),
            self.ppid.finish(),
            self.uid.finish(),
            self.comm.finish(),
            self.filename.finish(),
            self.args.finish(),
            self.truncated.finish(),
            self.ret.finish(),
            self.cgroup_id.finish(),
        ];
        RecordBatch::try_new(EXEC_TABLE.schema(), cols).expect("exec columns match the exec table")
    }
}

/// Columns of the `exit` table, in column order.
#[derive(Default)]
pub(super) struct ExitColumns {
    pub(super) ts: TsCol,
    pub(super) cpu: I32Col,
    pub(super) pid: I32Col,
    pub(super) tgid: I32Col,
    pub(super) ppid: I32Col,
    pub(super) comm: CommDict,
    pub(super) exit_code: I32Col,
    pub(super) signal: I32Col,
    pub(super) core_dumped: BoolCol,
    pub(super) lifetime_ns: I64Col,
    pub(super) cgroup_id: I64Col,
}

impl ExitColumns {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            self.ts.finish(),
            self.cpu.finish(),
            self.pid.finish(),
            self.tgid.finish(),
            self.ppid.finish(),
            self.comm.finish(),
            self.exit_code.finish(),
            self.signal.finish(),
            self.core_dumped.finish(),
            self.lifetime_ns.finish(),
            self.cgroup_id.finish(),
        ];
        RecordBatch::try_new(EXIT_TABLE.schema(), cols).expect("exit columns match the exit table")
    }
}
