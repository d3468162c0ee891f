-- runqslower --min-latency 10ms: run-queue waits longer than the threshold
-- in `params` (10 ms here; change that one number), paired exactly as
-- `ktape-analyze runqslower` and runqlat pair them (see runqlat.sql and
-- crates/analyze/src/runqlat.rs), with bcc's columns and the task switched
-- out for the waiter (prev_comm, prev_tid) on that CPU.
--
-- Reads the views `sched_switch` and `sched_wakeup` with ts as int64 ns
-- (see README.md), so it runs unchanged on DuckDB and Spark SQL.
-- One row per slow wait, in switch-in order.
WITH params AS (SELECT 10000000 AS min_latency_ns),
ev AS (
    SELECT ts, prev_pid AS pid, 0 AS kind
    FROM sched_switch
    WHERE prev_pid <> 0 AND (prev_state = 0 OR preempt)
    UNION ALL
    SELECT ts, pid, 0 AS kind
    FROM sched_wakeup
    WHERE pid <> 0
    UNION ALL
    SELECT ts, next_pid AS pid, 1 AS kind
    FROM sched_switch
    WHERE next_pid <> 0
),
lagged AS (
    SELECT pid, ts, kind,
           lag(kind) OVER w AS prev_kind,
           lag(ts) OVER w AS prev_ts
    FROM ev
    WINDOW w AS (PARTITION BY pid ORDER BY ts, kind)
),
slow AS (
    SELECT pid, ts, ts - prev_ts AS latency_ns
    FROM lagged CROSS JOIN params
    WHERE kind = 1 AND prev_kind = 0 AND ts - prev_ts > params.min_latency_ns
)
SELECT s.ts,
       w.cpu,
       w.next_comm AS comm,
       s.pid AS tid,
       w.next_tgid AS pid,
       s.latency_ns,
       CAST(FLOOR(s.latency_ns / 1000) AS BIGINT) AS lat_us,
       w.prev_comm,
       w.prev_pid AS prev_tid
FROM slow s
JOIN sched_switch w ON w.ts = s.ts AND w.next_pid = s.pid
ORDER BY s.ts, s.pid
