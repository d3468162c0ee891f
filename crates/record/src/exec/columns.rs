//! The builders of the `exec` and `exit` tables.

use super::*;

/// Builders of the `exec` table, in column order.
pub(super) struct ExecColumns {
    pub(super) ts: TimestampNanosecondBuilder,
    pub(super) cpu: Int32Builder,
    pub(super) pid: Int32Builder,
    pub(super) tgid: Int32Builder,
    pub(super) ppid: Int32Builder,
    pub(super) uid: Int64Builder,
    pub(super) comm: StringDictionaryBuilder<Int32Type>,
    pub(super) filename: StringBuilder,
    pub(super) args: ListBuilder<StringBuilder>,
    pub(super) truncated: BooleanBuilder,
    pub(super) ret: Int32Builder,
    pub(super) cgroup_id: Int64Builder,
}

impl ExecColumns {
    pub(super) fn new() -> Self {
        ExecColumns {
            ts: TimestampNanosecondBuilder::new().with_timezone(UTC),
            cpu: Int32Builder::new(),
            pid: Int32Builder::new(),
            tgid: Int32Builder::new(),
            ppid: Int32Builder::new(),
            uid: Int64Builder::new(),
            comm: StringDictionaryBuilder::new(),
            filename: StringBuilder::new(),
            args: ListBuilder::new(StringBuilder::new())
                .with_field(Arc::new(Field::new_list_field(DataType::Utf8, false))),
            truncated: BooleanBuilder::new(),
            ret: Int32Builder::new(),
            cgroup_id: Int64Builder::new(),
        }
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.cpu.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tgid.finish()),
            Arc::new(self.ppid.finish()),
            Arc::new(self.uid.finish()),
            Arc::new(self.comm.finish()),
            Arc::new(self.filename.finish()),
            Arc::new(self.args.finish()),
            Arc::new(self.truncated.finish()),
            Arc::new(self.ret.finish()),
            Arc::new(self.cgroup_id.finish()),
        ];
        RecordBatch::try_new(EXEC_TABLE.schema(), cols).expect("exec builders match the exec table")
    }
}

/// Builders of the `exit` table, in column order.
pub(super) struct ExitColumns {
    pub(super) ts: TimestampNanosecondBuilder,
    pub(super) cpu: Int32Builder,
    pub(super) pid: Int32Builder,
    pub(super) tgid: Int32Builder,
    pub(super) ppid: Int32Builder,
    pub(super) comm: StringDictionaryBuilder<Int32Type>,
    pub(super) exit_code: Int32Builder,
    pub(super) signal: Int32Builder,
    pub(super) core_dumped: BooleanBuilder,
    pub(super) lifetime_ns: Int64Builder,
    pub(super) cgroup_id: Int64Builder,
}

impl ExitColumns {
    pub(super) fn new() -> Self {
        ExitColumns {
            ts: TimestampNanosecondBuilder::new().with_timezone(UTC),
            cpu: Int32Builder::new(),
            pid: Int32Builder::new(),
            tgid: Int32Builder::new(),
            ppid: Int32Builder::new(),
            comm: StringDictionaryBuilder::new(),
            exit_code: Int32Builder::new(),
            signal: Int32Builder::new(),
            core_dumped: BooleanBuilder::new(),
            lifetime_ns: Int64Builder::new(),
            cgroup_id: Int64Builder::new(),
        }
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.cpu.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tgid.finish()),
            Arc::new(self.ppid.finish()),
            Arc::new(self.comm.finish()),
            Arc::new(self.exit_code.finish()),
            Arc::new(self.signal.finish()),
            Arc::new(self.core_dumped.finish()),
            Arc::new(self.lifetime_ns.finish()),
            Arc::new(self.cgroup_id.finish()),
        ];
        RecordBatch::try_new(EXIT_TABLE.schema(), cols).expect("exit builders match the exit table")
    }
}
