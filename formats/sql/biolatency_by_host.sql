-- biolatency --by host over a fleet: log2 histogram of block device latency
-- in microseconds, one histogram per host. Slot rule as in biolatency.sql.
-- Reads the view `bio` with ts as int64 ns and a `host` column taken from
-- the fleet's host=NAME folders (see README.md, "Fleets").
SELECT host,
       slot,
       CAST(CASE WHEN slot = 0 THEN 0 ELSE POWER(2, slot) END AS BIGINT) AS low_us,
       CAST(POWER(2, slot + 1) - 1 AS BIGINT) AS high_us,
       COUNT(*) AS count
FROM (
  SELECT host,
         CASE WHEN FLOOR(latency_ns / 1000) < 1 THEN 0
              ELSE CAST(FLOOR(LOG2(FLOOR(latency_ns / 1000))) AS INT) END AS slot
  FROM bio
) AS slotted
GROUP BY host, slot
ORDER BY host, slot
