-- syscount: the 10 most frequent syscalls with their total time, as bcc's
-- syscount -L prints them (SYSCALL COUNT TIME), from the per-second
-- counters of the `syscall` table. Set `failed` in `params` to 1 for
-- failed calls only (syscount -x). Reads the view `syscall` with ts as
-- int64 ns (see README.md).
WITH params AS (SELECT 0 AS failed)
SELECT syscall,
       sum(count) AS count,
       sum(total_ns) AS total_ns
FROM syscall CROSS JOIN params
WHERE errno <> 0 OR params.failed = 0
GROUP BY syscall
ORDER BY count DESC, syscall
LIMIT 10
