-- runqlat: run-queue latencies from a ktape recording, paired exactly as
-- `ktape-analyze runqlat` pairs them (see crates/analyze/src/runqlat.rs).
--
-- A thread is queued at a sched_wakeup row for it, or when it is switched
-- out still runnable (prev_state = 0 or preempt); its latency ends at its
-- next switch-in. The latest queue event since the previous switch-in
-- counts (as in bcc). The idle task (pid 0) is left out.
--
-- Reads the views `sched_switch` and `sched_wakeup` with ts as int64 ns
-- (see README.md): unchanged on DuckDB and Spark SQL.
-- One row per latency: pid, switch-in time (ns since the epoch), latency_ns.
-- For the histogram: GROUP BY floor(log2(greatest(latency_ns // 1000, 1))).
WITH ev AS (
    SELECT ts AS t, prev_pid AS pid, 0 AS kind
    FROM sched_switch
    WHERE prev_pid <> 0 AND (prev_state = 0 OR preempt)
    UNION ALL
    SELECT ts AS t, pid, 0 AS kind
    FROM sched_wakeup
    WHERE pid <> 0
    UNION ALL
    SELECT ts AS t, next_pid AS pid, 1 AS kind
    FROM sched_switch
    WHERE next_pid <> 0
),
lagged AS (
    SELECT pid, t, kind,
           lag(kind) OVER w AS prev_kind,
           lag(t) OVER w AS prev_t
    FROM ev
    WINDOW w AS (PARTITION BY pid ORDER BY t, kind)
)
SELECT pid, t AS switch_in_ns, t - prev_t AS latency_ns
FROM lagged
WHERE kind = 1 AND prev_kind = 0
