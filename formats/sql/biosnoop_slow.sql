-- biosnoop --min-latency 1ms: block requests whose device latency was at
-- least 1 ms, in completion order, with bcc's biosnoop columns. Change the
-- threshold in the WHERE clause. Reads the view `bio` with ts as int64 ns
-- (see README.md).
SELECT ts,
       comm,
       tgid AS pid,
       disk,
       op AS t,
       sector,
       bytes,
       queue_ns,
       latency_ns,
       latency_ns / 1000000.0 AS lat_ms
FROM bio
WHERE latency_ns >= 1000000
ORDER BY ts, sector
