-- biosnoop --min-latency 1ms: block requests whose device latency was at
-- least the threshold in `params` (1 ms here; change that one number), in
-- completion order, with bcc's biosnoop columns. Reads the view `bio` with
-- ts as int64 ns (see README.md).
WITH params AS (SELECT 1000000 AS min_latency_ns)
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
FROM bio CROSS JOIN params
WHERE latency_ns >= params.min_latency_ns
ORDER BY ts, sector
