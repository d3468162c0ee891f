-- tcpretrans -c: retransmitted segments counted per flow (local
-- address:port, remote address:port), most frequent first. Failed
-- retransmits (error < 0: nothing reached the wire) count too, as in
-- ktape-analyze; add `WHERE error IS NULL OR error = 0` to leave them out.
-- Reads the view `tcp_retransmit` with ts as int64 ns (see README.md).
SELECT saddr AS laddr,
       sport AS lport,
       daddr AS raddr,
       dport AS rport,
       COUNT(*) AS retransmits
FROM tcp_retransmit
GROUP BY saddr, sport, daddr, dport
ORDER BY retransmits DESC, laddr, lport, raddr, rport
