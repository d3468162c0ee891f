-- tcpconnect -c: connects (CLOSE -> SYN_SENT transitions, made by the
-- caller of connect()) counted per local address, remote address and
-- remote port, most frequent first. Reads the view `tcp_state` with ts as
-- int64 ns (see README.md).
SELECT saddr AS laddr,
       daddr AS raddr,
       dport AS rport,
       COUNT(*) AS connects
FROM tcp_state
WHERE oldstate = 'CLOSE' AND newstate = 'SYN_SENT'
GROUP BY saddr, daddr, dport
ORDER BY connects DESC, laddr, raddr, rport
