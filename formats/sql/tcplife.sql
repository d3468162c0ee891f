-- tcplife: one row per closed TCP connection, with libbpf-tools' tcplife
-- columns (PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS), in close
-- order. A connection is a transition to CLOSE whose lifetime was seen;
-- PID/COMM are the socket's owner, else the task that closed it (as
-- ktape-analyze tcplife attributes them). Reads the view `tcp_state` with
-- ts as int64 ns (see README.md).
SELECT ts,
       COALESCE(sk_tgid, tgid) AS pid,
       CASE WHEN sk_tgid IS NOT NULL THEN sk_comm ELSE comm END AS comm,
       saddr AS laddr,
       sport AS lport,
       daddr AS raddr,
       dport AS rport,
       tx_bytes,
       rx_bytes,
       tx_bytes / 1024.0 AS tx_kb,
       rx_bytes / 1024.0 AS rx_kb,
       lifetime_ns,
       lifetime_ns / 1000000.0 AS ms
FROM tcp_state
WHERE newstate = 'CLOSE' AND lifetime_ns IS NOT NULL
ORDER BY ts, skaddr
