//! The `tcp` family's tables: `tcp_state` (every TCP state transition),
//! `tcp_accept` (connections handed to a process by accept) and
//! `tcp_retransmit` (retransmitted segments).
//!
//! Passive opens, handshakes and closes by the peer run in softirq, where
//! the task on the CPU has nothing to do with the socket. So each row says
//! both who made the transition (`pid`/`tgid`/`comm`, only for transitions
//! that only a system call makes, null otherwise) and who owns the socket (`sk_pid`/`sk_tgid`/
//! `sk_comm`: the first task seen acting on it, e.g. the caller of
//! connect() or the accepter). Reports attribute connections to the owner.
//!
//! `uid` (the task's real user id) was added to `tcp_state` and
//! `tcp_accept` after their first release, as the last column: older files
//! lack it, and readers must treat a missing `uid` column as all nulls.
//!
//! States are the kernel's names without the `TCP_` prefix (`ESTABLISHED`,
//! `SYN_SENT` …), addresses are text (`127.0.0.1`, `::1`), ports are
//! host-order integers.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// The `tcp_state` table.
pub static STATE_TABLE: TableSpec = TableSpec {
    name: "tcp_state",
    family: "tcp",
    row: "one TCP state transition of one socket (sock:inet_sock_set_state)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the transition (UTC)." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the transition ran." },
        ColumnSpec { name: "skaddr", ty: Int64, unit: "-", nullable: false, doc: "Kernel address of the `struct sock`: identifies the socket until it is closed (addresses are reused afterwards)." },
        ColumnSpec { name: "ip", ty: Int32, unit: "-", nullable: false, doc: "IP version: 4 or 6 (an IPv6 socket talking IPv4 is 6, with `::ffff:` addresses)." },
        ColumnSpec { name: "saddr", ty: DictString, unit: "-", nullable: false, doc: "Local address as text." },
        ColumnSpec { name: "daddr", ty: DictString, unit: "-", nullable: false, doc: "Remote address as text." },
        ColumnSpec { name: "sport", ty: Int32, unit: "-", nullable: false, doc: "Local port: 0 on the CLOSE → SYN_SENT transition of a connect (the kernel picks the port right after; tcpconnect takes it from the next row); on the transition to CLOSE, the last port the socket had (the kernel releases it first)." },
        ColumnSpec { name: "dport", ty: Int32, unit: "-", nullable: false, doc: "Remote port." },
        ColumnSpec { name: "oldstate", ty: DictString, unit: "-", nullable: false, doc: "State before (`CLOSE`, `SYN_SENT`, `ESTABLISHED` …)." },
        ColumnSpec { name: "newstate", ty: DictString, unit: "-", nullable: false, doc: "State after." },
        ColumnSpec { name: "prev_ns", ty: Int64, unit: "ns", nullable: true, doc: "Time spent in `oldstate` (since the socket's previous transition); null for the first transition seen." },
        ColumnSpec { name: "lifetime_ns", ty: Int64, unit: "ns", nullable: true, doc: "On the transition to CLOSE: time since the socket entered SYN_SENT, SYN_RECV or ESTABLISHED (what tcplife shows); null otherwise or when that was not seen." },
        ColumnSpec { name: "rx_bytes", ty: Int64, unit: "bytes", nullable: true, doc: "On the transition to CLOSE: the kernel's `tcp_sock.bytes_received` (what bcc's tcplife reads): payload bytes received, plus 1 once the peer's FIN arrived; null otherwise." },
        ColumnSpec { name: "tx_bytes", ty: Int64, unit: "bytes", nullable: true, doc: "On the transition to CLOSE: the kernel's `tcp_sock.bytes_acked` (what bcc's tcplife reads): payload bytes the peer acknowledged, plus 1 for an acknowledged FIN and 1 for the SYN of an active open (a connect that sent N bytes and closed shows N + 2); null otherwise." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: true, doc: "Thread id of the task that made the transition, for transitions only a system call makes (CLOSE → SYN_SENT connect, CLOSE → LISTEN, LISTEN → CLOSE, ESTABLISHED or SYN_RECV → FIN_WAIT1, CLOSE_WAIT → LAST_ACK); null for the others, which may run in softirq on behalf of an unrelated task." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: true, doc: "Process id of that task; null when `pid` is." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: true, doc: "Thread name of that task; null when `pid` is." },
        ColumnSpec { name: "sk_pid", ty: Int32, unit: "-", nullable: true, doc: "Thread id of the socket's owner: the first task seen acting on it (the caller of connect() or listen(), the accepter, or the first to close it); null while none was seen." },
        ColumnSpec { name: "sk_tgid", ty: Int32, unit: "-", nullable: true, doc: "Process id of the socket's owner; null while unknown." },
        ColumnSpec { name: "sk_comm", ty: DictString, unit: "-", nullable: true, doc: "Thread name of the socket's owner; null while unknown." },
        ColumnSpec { name: "uid", ty: Int64, unit: "-", nullable: true, doc: "Real user id of the task that made the transition (what tcpconnect -U shows); null when `pid` is. Added after the first tcp recordings: files written before it lack the column, and readers take it as null." },
    ],
};

/// The `tcp_accept` table.
pub static ACCEPT_TABLE: TableSpec = TableSpec {
    name: "tcp_accept",
    family: "tcp",
    row: "one TCP connection returned by accept() or accept4()",
    columns: &[
        ColumnSpec {
            name: "ts",
            ty: Timestamp,
            unit: "ns",
            nullable: false,
            doc: "Return from accept (UTC).",
        },
        ColumnSpec {
            name: "cpu",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "CPU on which accept returned.",
        },
        ColumnSpec {
            name: "skaddr",
            ty: Int64,
            unit: "-",
            nullable: false,
            doc: "Kernel address of the new connection's `struct sock` (joins `tcp_state.skaddr`).",
        },
        ColumnSpec {
            name: "ip",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "IP version: 4 or 6.",
        },
        ColumnSpec {
            name: "saddr",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "Local address as text (bcc's LADDR).",
        },
        ColumnSpec {
            name: "daddr",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "Remote address as text (bcc's RADDR).",
        },
        ColumnSpec {
            name: "sport",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Local port (bcc's LPORT).",
        },
        ColumnSpec {
            name: "dport",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Remote port (bcc's RPORT).",
        },
        ColumnSpec {
            name: "state",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "State of the connection when accept returned (usually `ESTABLISHED`).",
        },
        ColumnSpec {
            name: "pid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Thread id of the accepting task.",
        },
        ColumnSpec {
            name: "tgid",
            ty: Int32,
            unit: "-",
            nullable: false,
            doc: "Process id of the accepting task.",
        },
        ColumnSpec {
            name: "comm",
            ty: DictString,
            unit: "-",
            nullable: false,
            doc: "Thread name of the accepting task.",
        },
        ColumnSpec {
            name: "uid",
            ty: Int64,
            unit: "-",
            nullable: true,
            doc: "Real user id of the accepting task. Added after the first tcp recordings: files written before it lack the column, and readers take it as null.",
        },
    ],
};

/// The `tcp_retransmit` table.
pub static RETRANSMIT_TABLE: TableSpec = TableSpec {
    name: "tcp_retransmit",
    family: "tcp",
    row: "one retransmitted TCP segment (tcp:tcp_retransmit_skb)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "Time of the retransmission (UTC)." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which it ran." },
        ColumnSpec { name: "skaddr", ty: Int64, unit: "-", nullable: false, doc: "Kernel address of the socket's `struct sock` (joins `tcp_state.skaddr`)." },
        ColumnSpec { name: "ip", ty: Int32, unit: "-", nullable: false, doc: "IP version: 4 or 6." },
        ColumnSpec { name: "saddr", ty: DictString, unit: "-", nullable: false, doc: "Local address as text." },
        ColumnSpec { name: "daddr", ty: DictString, unit: "-", nullable: false, doc: "Remote address as text." },
        ColumnSpec { name: "sport", ty: Int32, unit: "-", nullable: false, doc: "Local port." },
        ColumnSpec { name: "dport", ty: Int32, unit: "-", nullable: false, doc: "Remote port." },
        ColumnSpec { name: "state", ty: DictString, unit: "-", nullable: false, doc: "State of the socket (`ESTABLISHED`, `SYN_SENT` …)." },
        ColumnSpec { name: "error", ty: Int32, unit: "-", nullable: true, doc: "Result of the retransmit as the kernel's tracepoint reports it (0 sent, negative errno: failed, nothing reached the wire); null on kernels whose tracepoint has no result." },
        ColumnSpec { name: "sk_pid", ty: Int32, unit: "-", nullable: true, doc: "Thread id of the socket's owner (see `tcp_state.sk_pid`); null when unknown." },
        ColumnSpec { name: "sk_tgid", ty: Int32, unit: "-", nullable: true, doc: "Process id of the socket's owner; null when unknown." },
        ColumnSpec { name: "sk_comm", ty: DictString, unit: "-", nullable: true, doc: "Thread name of the socket's owner; null when unknown." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&STATE_TABLE, &ACCEPT_TABLE, &RETRANSMIT_TABLE];

/// The kernel's TCP state names (`include/net/tcp_states.h`) without the
/// `TCP_` prefix, as bcc prints them; codes outside the table print as
/// `UNKNOWN`.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        13 => "BOUND_INACTIVE",
        _ => "UNKNOWN",
    }
}

/// An address as text: IPv4 dotted quad from the first four bytes when
/// `ip` is 4, else IPv6 in its canonical (RFC 5952) form.
pub fn addr_text(ip: i32, bytes: &[u8; 16]) -> String {
    if ip == 4 {
        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
    } else {
        std::net::Ipv6Addr::from(*bytes).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_addresses() {
        assert_eq!(state_name(1), "ESTABLISHED");
        assert_eq!(state_name(7), "CLOSE");
        assert_eq!(state_name(99), "UNKNOWN");
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(addr_text(4, &b), "127.0.0.1");
        let mut b6 = [0u8; 16];
        b6[15] = 1;
        assert_eq!(addr_text(6, &b6), "::1");
        let mut m = [0u8; 16];
        m[10] = 0xff;
        m[11] = 0xff;
        m[12..].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(addr_text(6, &m), "::ffff:10.0.0.2");
    }
}
