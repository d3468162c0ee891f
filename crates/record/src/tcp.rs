//! The `tcp` family: TCP state transitions, accepts and retransmits.
//!
//! The kernel side (`bpf/tcp.bpf.c`) writes one [`TcpEvent`] layout for
//! three record kinds; here each kind becomes a row of its table
//! (`tcp_state`, `tcp_accept`, `tcp_retransmit`). Addresses become text and
//! states names once per distinct value (dictionary columns), so a busy
//! server costs no string formatting per row beyond the address.

use std::os::fd::AsFd;

use arrow_array::{ArrayRef, RecordBatch};
use ktape_bpf::tcp::{TcpSkel, TcpSkelBuilder};
use ktape_format::tcp::{addr_text, state_name, ACCEPT_TABLE, RETRANSMIT_TABLE, STATE_TABLE};
use ktape_format::TableSpec;
use libbpf_rs::ProgramMut;

use crate::abi::{self};
use crate::columns::{CommDict, DictCol, I32Col, I64Col, TsCol, OptI32Col, OptI64Col};
use crate::bpf::{self, BpfError, Flavour};
use crate::family::{
    Attached, DecodeCtx, DecodeError, Decoder, Family, LoadCtx, Loaded, Sink, Skeleton,
};

mod columns;

use columns::{AcceptCols, RetransCols, StateCols};

/// `TcpEvent::has`: pid/tgid/comm are the task the event ran in.
pub const HAS_TASK: u8 = abi::TCP_HAS_TASK as u8;
/// `TcpEvent::has`: sk_pid/sk_tgid/sk_comm are the socket's owner.
pub const HAS_OWNER: u8 = abi::TCP_HAS_OWNER as u8;
/// `TcpEvent::has`: prev_ns is the time spent in the old state.
pub const HAS_PREV: u8 = abi::TCP_HAS_PREV as u8;
/// `TcpEvent::has`: lifetime_ns is set.
pub const HAS_LIFETIME: u8 = abi::TCP_HAS_LIFETIME as u8;
/// `TcpEvent::has`: rx_bytes/tx_bytes are set.
pub const HAS_BYTES: u8 = abi::TCP_HAS_BYTES as u8;
/// `TcpEvent::has`: error is the kernel's retransmit result.
pub const HAS_ERROR: u8 = abi::TCP_HAS_ERROR as u8;

pub use ktape_bpf::abi::TcpEvent;

const AF_INET: u16 = 2;

/// The `tcp` family.
pub struct Tcp;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Tcp = Tcp;

/// It has no options of its own.
pub type Options = crate::family::NoOptions;

static TABLES: [&TableSpec; 3] = [&STATE_TABLE, &ACCEPT_TABLE, &RETRANSMIT_TABLE];

impl Family for Tcp {
    fn name(&self) -> &'static str {
        "tcp"
    }
    fn about(&self) -> &'static str {
        "TCP state transitions, accepts and retransmits"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_TCP
    }
    fn kinds(&self) -> &'static [u32] {
        &[
            abi::KIND_TCP_STATE,
            abi::KIND_TCP_ACCEPT,
            abi::KIND_TCP_RETRANSMIT,
        ]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }
    /// accept is hooked with classic syscall tracepoints.
    fn needs_tracefs(&self) -> bool {
        true
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        Ok(Box::new(load(ctx)?))
    }
    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        Box::new(TcpDecoder::new(ctx))
    }
}

/// The tcp hooks: tp_btf for the state and retransmit tracepoints
/// (typed socket pointers), classic syscall tracepoints for accept.
const HOOKS: &str = "tp_btf+tracepoint";

fn load(ctx: &LoadCtx) -> Result<Attached<TcpSkel<'static>>, BpfError> {
    let obj = bpf::Object {
        family: "tcp",
        hooks: HOOKS,
        flavour: Flavour::TpBtf,
        skip: &[],
        stacks: false,
    };
    obj.attached(ctx, TcpSkelBuilder::default(), |_| {})
}

impl Skeleton for TcpSkel<'static> {
    fn programs(&self, _: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        vec![
            &p.ktape_tcp_state,
            &p.ktape_tcp_accept,
            &p.ktape_tcp_accept4,
            &p.ktape_tcp_retrans,
        ]
    }

    fn own_maps(&self) -> Vec<u32> {
        [self.maps.ktape_tcp_sk.as_fd(), self.maps.rodata.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

/// Decodes tcp records into the three tables' batches.
pub struct TcpDecoder {
    offset_ns: i64,
    /// This drain cycle's events, sorted by time before they are appended.
    cycle: Vec<TcpEvent>,
    state: StateCols,
    accept: AcceptCols,
    retrans: RetransCols,
    batch_rows: usize,
}

impl TcpDecoder {
    /// A decoder for one recording.
    pub fn new(ctx: &DecodeCtx) -> Self {
        TcpDecoder {
            offset_ns: ctx.clock_offset_ns,
            cycle: Vec::with_capacity(4096),
            state: StateCols::new(),
            accept: AcceptCols::new(),
            retrans: RetransCols::new(),
            batch_rows: ctx.batch_rows,
        }
    }
}

impl Decoder for TcpDecoder {
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        let mut e = TcpEvent::default();
        plain::copy_from_bytes(&mut e, rec).map_err(|_| DecodeError::Short {
            family: "tcp",
            got: rec.len(),
            want: std::mem::size_of::<TcpEvent>(),
        })?;
        self.cycle.push(e);
        Ok(())
    }

    fn end_cycle(&mut self, sink: &mut Sink<'_>) {
        if self.cycle.is_empty() {
            return;
        }
        // Rows from different CPUs interleave; a socket's transitions must
        // stay in order for readers that follow a socket's life.
        let mut cycle = std::mem::take(&mut self.cycle);
        cycle.sort_by_key(|e| e.ts);
        for e in &cycle {
            match e.kind {
                abi::KIND_TCP_STATE => {
                    self.state.append(e, self.offset_ns);
                    if self.state.rows >= self.batch_rows {
                        sink(&STATE_TABLE, self.state.finish());
                    }
                }
                abi::KIND_TCP_ACCEPT => {
                    self.accept.append(e, self.offset_ns);
                    if self.accept.rows >= self.batch_rows {
                        sink(&ACCEPT_TABLE, self.accept.finish());
                    }
                }
                _ => {
                    self.retrans.append(e, self.offset_ns);
                    if self.retrans.rows >= self.batch_rows {
                        sink(&RETRANSMIT_TABLE, self.retrans.finish());
                    }
                }
            }
        }
        cycle.clear();
        self.cycle = cycle;
    }

    fn flush(&mut self, sink: &mut Sink<'_>) {
        if self.state.rows > 0 {
            sink(&STATE_TABLE, self.state.finish());
        }
        if self.accept.rows > 0 {
            sink(&ACCEPT_TABLE, self.accept.finish());
        }
        if self.retrans.rows > 0 {
            sink(&RETRANSMIT_TABLE, self.retrans.finish());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    fn ev(kind: u32, ts: u64) -> TcpEvent {
        let mut e = TcpEvent {
            kind,
            ts,
            skaddr: 0xffff_8880_0000_1000,
            family: AF_INET,
            sport: 40000,
            dport: 8080,
            oldstate: 7,
            newstate: 2,
            has: HAS_TASK | HAS_OWNER,
            pid: 42,
            tgid: 41,
            uid: 1000,
            sk_pid: 42,
            sk_tgid: 41,
            ..Default::default()
        };
        e.saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        e.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        e.comm[..4].copy_from_slice(b"curl");
        e.sk_comm[..4].copy_from_slice(b"curl");
        e
    }

    fn bytes_of(e: &TcpEvent) -> Vec<u8> {
        // SAFETY: TcpEvent is Plain.
        unsafe { plain::as_bytes(e) }.to_vec()
    }

    #[test]
    fn kinds_go_to_their_tables() {
        let ctx = DecodeCtx {
            clock_offset_ns: 1000,
            disks: Default::default(),
            batch_rows: 100,
        };
        let mut d = TcpDecoder::new(&ctx);
        let mut close = ev(abi::KIND_TCP_STATE, 20);
        close.oldstate = 1;
        close.newstate = 7;
        close.has = HAS_OWNER | HAS_PREV | HAS_LIFETIME | HAS_BYTES;
        close.prev_ns = 5;
        close.lifetime_ns = 9;
        close.rx_bytes = 100;
        close.tx_bytes = 10000;
        let mut v6 = ev(abi::KIND_TCP_RETRANSMIT, 15);
        v6.family = 10;
        v6.daddr = [0; 16];
        v6.daddr[15] = 1;
        v6.has = HAS_ERROR;
        v6.error = -16;
        for e in [
            close,
            ev(abi::KIND_TCP_STATE, 10),
            ev(abi::KIND_TCP_ACCEPT, 12),
            v6,
        ] {
            d.decode(&bytes_of(&e)).unwrap();
        }
        assert!(d.decode(&[30, 0, 0, 0]).is_err());
        let mut out = Vec::new();
        d.end_cycle(&mut |_, _| unreachable!());
        d.flush(&mut |t, b| out.push((t.name, b)));
        let names: Vec<_> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["tcp_state", "tcp_accept", "tcp_retransmit"]);
        let s = &out[0].1;
        assert_eq!(s.num_rows(), 2);
        let strs = |b: &RecordBatch, c: &str| -> Vec<Option<String>> {
            let d = b.column_by_name(c).unwrap().as_dictionary::<Int32Type>();
            let vals = d.values().as_string::<i32>();
            (0..d.len())
                .map(|i| {
                    d.keys()
                        .is_valid(i)
                        .then(|| vals.value(d.keys().value(i) as usize).to_string())
                })
                .collect()
        };
        assert_eq!(
            strs(s, "newstate"),
            [Some("SYN_SENT".into()), Some("CLOSE".into())]
        );
        assert_eq!(strs(s, "saddr")[0].as_deref(), Some("127.0.0.1"));
        assert_eq!(strs(s, "comm"), [Some("curl".into()), None]);
        // uid goes with the task: null where the task is.
        let uid = s
            .column_by_name("uid")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!((uid.value(0), uid.is_null(1)), (1000, true));
        let auid = out[1]
            .1
            .column_by_name("uid")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(auid.value(0), 1000);
        let tx = s
            .column_by_name("tx_bytes")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert!(tx.is_null(0));
        assert_eq!(tx.value(1), 10000);
        let r = &out[2].1;
        assert_eq!(strs(r, "daddr")[0].as_deref(), Some("::1"));
        assert_eq!(strs(r, "sk_comm"), [None]);
        let err = r
            .column_by_name("error")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(err.value(0), -16);
        assert_eq!(s.schema(), STATE_TABLE.schema());
        assert_eq!(out[1].1.schema(), ACCEPT_TABLE.schema());
    }
}
