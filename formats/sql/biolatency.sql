-- biolatency -D: log2 histogram of block device latency (issue -> complete)
-- in microseconds, one histogram per disk. Slot i holds latencies with
-- floor(log2(usecs)) = i; latencies under 1 us fall in slot 0 (bcc's rule).
-- Reads the view `bio` with ts as int64 ns (see README.md).
SELECT disk,
       slot,
       CAST(CASE WHEN slot = 0 THEN 0 ELSE POWER(2, slot) END AS BIGINT) AS low_us,
       CAST(POWER(2, slot + 1) - 1 AS BIGINT) AS high_us,
       COUNT(*) AS count
FROM (
  SELECT disk,
         CASE WHEN FLOOR(latency_ns / 1000) < 1 THEN 0
              ELSE CAST(FLOOR(LOG2(FLOOR(latency_ns / 1000))) AS INT) END AS slot
  FROM bio
) AS slotted
GROUP BY disk, slot
ORDER BY disk, slot
