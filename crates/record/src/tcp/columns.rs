//! The columns of the three tcp tables. They share their leading
//! columns ([`Head`]) and, for accept and state, the socket owner's
//! ([`Owner`]), so the tables line up column for column.

use super::*;

pub(super) fn ip(e: &TcpEvent) -> i32 {
    if e.family == AF_INET {
        4
    } else {
        6
    }
}

/// Columns every tcp table starts with: ts, cpu, skaddr, ip, saddr, daddr,
/// sport, dport.
#[derive(Default)]
pub(super) struct Head {
    pub(super) ts: TsCol,
    pub(super) cpu: I32Col,
    pub(super) skaddr: I64Col,
    pub(super) ip: I32Col,
    pub(super) saddr: DictCol,
    pub(super) daddr: DictCol,
    pub(super) sport: I32Col,
    pub(super) dport: I32Col,
}

impl Head {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn append(&mut self, e: &TcpEvent, offset_ns: i64) {
        let v = ip(e);
        self.ts.append_value(e.ts as i64 + offset_ns);
        self.cpu.append_value(e.cpu as i32);
        self.skaddr.append_value(e.skaddr as i64);
        self.ip.append_value(v);
        self.saddr.append_value(addr_text(v, &e.saddr));
        self.daddr.append_value(addr_text(v, &e.daddr));
        self.sport.append_value(e.sport as i32);
        self.dport.append_value(e.dport as i32);
    }

    pub(super) fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            self.ts.finish(),
            self.cpu.finish(),
            self.skaddr.finish(),
            self.ip.finish(),
            self.saddr.finish(),
            self.daddr.finish(),
            self.sport.finish(),
            self.dport.finish(),
        ]
    }
}

/// sk_pid, sk_tgid, sk_comm: null while the owner is unknown.
#[derive(Default)]
pub(super) struct Owner {
    pub(super) pid: OptI32Col,
    pub(super) tgid: OptI32Col,
    pub(super) comm: CommDict,
}

impl Owner {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn append(&mut self, e: &TcpEvent) {
        if e.has & HAS_OWNER != 0 {
            self.pid.append_value(e.sk_pid as i32);
            self.tgid.append_value(e.sk_tgid as i32);
            self.comm.append_value(&e.sk_comm);
        } else {
            self.pid.append_null();
            self.tgid.append_null();
            self.comm.append_null();
        }
    }

    pub(super) fn finish(&mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(self.pid.finish());
        cols.push(self.tgid.finish());
        cols.push(self.comm.finish());
    }
}

pub(super) fn opt64(b: &mut OptI64Col, has: bool, v: u64) {
    if has {
        b.append_value(v as i64);
    } else {
        b.append_null();
    }
}

/// Columns of `tcp_state`.
pub(super) struct StateCols {
    pub(super) head: Head,
    pub(super) oldstate: DictCol,
    pub(super) newstate: DictCol,
    pub(super) prev_ns: OptI64Col,
    pub(super) lifetime_ns: OptI64Col,
    pub(super) rx_bytes: OptI64Col,
    pub(super) tx_bytes: OptI64Col,
    pub(super) pid: OptI32Col,
    pub(super) tgid: OptI32Col,
    pub(super) comm: CommDict,
    pub(super) owner: Owner,
    pub(super) uid: OptI64Col,
    pub(super) rows: usize,
}

impl StateCols {
    pub(super) fn new() -> Self {
        StateCols {
            head: Head::new(),
            oldstate: DictCol::new(),
            newstate: DictCol::new(),
            prev_ns: OptI64Col::new(),
            lifetime_ns: OptI64Col::new(),
            rx_bytes: OptI64Col::new(),
            tx_bytes: OptI64Col::new(),
            pid: OptI32Col::new(),
            tgid: OptI32Col::new(),
            comm: CommDict::new(),
            owner: Owner::new(),
            uid: OptI64Col::new(),
            rows: 0,
        }
    }

    pub(super) fn append(&mut self, e: &TcpEvent, offset_ns: i64) {
        self.head.append(e, offset_ns);
        self.oldstate.append_value(state_name(e.oldstate));
        self.newstate.append_value(state_name(e.newstate));
        opt64(&mut self.prev_ns, e.has & HAS_PREV != 0, e.prev_ns);
        opt64(
            &mut self.lifetime_ns,
            e.has & HAS_LIFETIME != 0,
            e.lifetime_ns,
        );
        let bytes = e.has & HAS_BYTES != 0;
        opt64(&mut self.rx_bytes, bytes, e.rx_bytes);
        opt64(&mut self.tx_bytes, bytes, e.tx_bytes);
        let task = e.has & HAS_TASK != 0;
        if task {
            self.pid.append_value(e.pid as i32);
            self.tgid.append_value(e.tgid as i32);
            self.comm.append_value(&e.comm);
        } else {
            self.pid.append_null();
            self.tgid.append_null();
            self.comm.append_null();
        }
        self.owner.append(e);
        opt64(&mut self.uid, task, e.uid as u64);
        self.rows += 1;
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let mut cols = self.head.finish();
        cols.push(self.oldstate.finish());
        cols.push(self.newstate.finish());
        cols.push(self.prev_ns.finish());
        cols.push(self.lifetime_ns.finish());
        cols.push(self.rx_bytes.finish());
        cols.push(self.tx_bytes.finish());
        cols.push(self.pid.finish());
        cols.push(self.tgid.finish());
        cols.push(self.comm.finish());
        self.owner.finish(&mut cols);
        cols.push(self.uid.finish());
        self.rows = 0;
        RecordBatch::try_new(STATE_TABLE.schema(), cols).expect("tcp_state columns match")
    }
}

/// Columns of `tcp_accept`.
pub(super) struct AcceptCols {
    pub(super) head: Head,
    pub(super) state: DictCol,
    pub(super) pid: OptI32Col,
    pub(super) tgid: OptI32Col,
    pub(super) comm: CommDict,
    pub(super) uid: OptI64Col,
    pub(super) rows: usize,
}

impl AcceptCols {
    pub(super) fn new() -> Self {
        AcceptCols {
            head: Head::new(),
            state: DictCol::new(),
            pid: OptI32Col::new(),
            tgid: OptI32Col::new(),
            comm: CommDict::new(),
            uid: OptI64Col::new(),
            rows: 0,
        }
    }

    pub(super) fn append(&mut self, e: &TcpEvent, offset_ns: i64) {
        self.head.append(e, offset_ns);
        self.state.append_value(state_name(e.newstate));
        self.pid.append_value(e.pid as i32);
        self.tgid.append_value(e.tgid as i32);
        self.comm.append_value(&e.comm);
        self.uid.append_value(e.uid as i64);
        self.rows += 1;
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let mut cols = self.head.finish();
        cols.push(self.state.finish());
        cols.push(self.pid.finish());
        cols.push(self.tgid.finish());
        cols.push(self.comm.finish());
        cols.push(self.uid.finish());
        self.rows = 0;
        RecordBatch::try_new(ACCEPT_TABLE.schema(), cols).expect("tcp_accept columns match")
    }
}

/// Columns of `tcp_retransmit`.
pub(super) struct RetransCols {
    pub(super) head: Head,
    pub(super) state: DictCol,
    pub(super) error: OptI32Col,
    pub(super) owner: Owner,
    pub(super) rows: usize,
}

impl RetransCols {
    pub(super) fn new() -> Self {
        RetransCols {
            head: Head::new(),
            state: DictCol::new(),
            error: OptI32Col::new(),
            owner: Owner::new(),
            rows: 0,
        }
    }

    pub(super) fn append(&mut self, e: &TcpEvent, offset_ns: i64) {
        self.head.append(e, offset_ns);
        self.state.append_value(state_name(e.newstate));
        if e.has & HAS_ERROR != 0 {
            self.error.append_value(e.error);
        } else {
            self.error.append_null();
        }
        self.owner.append(e);
        self.rows += 1;
    }

    pub(super) fn finish(&mut self) -> RecordBatch {
        let mut cols = self.head.finish();
        cols.push(self.state.finish());
        cols.push(self.error.finish());
        self.owner.finish(&mut cols);
        self.rows = 0;
        RecordBatch::try_new(RETRANSMIT_TABLE.schema(), cols)
            .expect("tcp_retransmit columns match")
    }
}
