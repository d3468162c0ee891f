-- cpudist: on-CPU time per scheduling slice as bcc's log2 histogram (µs),
-- computed as `ktape-analyze cpudist` computes it (see
-- crates/analyze/src/cpudist.rs): a slice is the time between two
-- consecutive sched_switch rows of one CPU, belonging to the thread the
-- first switched in, which must be the one the second switched out (else
-- a row was lost in between and the slice is not counted). The idle task
-- (pid 0) has no slices.
--
-- Reads the view `sched_switch` with ts as int64 ns (see README.md), so it
-- runs unchanged on DuckDB and Spark SQL. One row per histogram slot:
-- slot, low_us, high_us (bcc's labels) and count.
WITH seq AS (
    SELECT next_pid AS pid,
           ts,
           lead(ts) OVER w AS end_ts,
           lead(prev_pid) OVER w AS end_prev
    FROM sched_switch
    WINDOW w AS (PARTITION BY cpu ORDER BY ts)
),
slices AS (
    SELECT FLOOR((end_ts - ts) / 1000) AS us
    FROM seq
    WHERE pid <> 0 AND end_prev = pid
),
slotted AS (
    SELECT CASE WHEN us < 1 THEN 0 ELSE CAST(FLOOR(LOG2(us)) AS INT) END AS slot
    FROM slices
)
SELECT slot,
       CAST(CASE WHEN slot = 0 THEN 0 ELSE POWER(2, slot) END AS BIGINT) AS low_us,
       CAST(POWER(2, slot + 1) - 1 AS BIGINT) AS high_us,
       COUNT(*) AS count
FROM slotted
GROUP BY slot
ORDER BY slot
