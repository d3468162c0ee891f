-- profile_folded: folded CPU stacks from a ktape recording, as
-- `ktape-analyze profile -f` prints them (one line per process, comm and
-- stack: `comm;user frames root->leaf;kernel frames root->leaf`), with the
-- process id and the sample count. Feed `stack || ' ' || samples` to any
-- flame graph tool.
--
-- Needs views `profile` and `stacks` over ONE recording (stack ids are
-- per recording; across a fleet, add the host partition column to both
-- joins). Frames are stored leaf first, hence reverse().
-- Spark has array_join and reverse for arrays; DuckDB needs two macros:
--   CREATE MACRO array_join(l, s) AS array_to_string(l, s);
--   CREATE MACRO reverse(l) AS list_reverse(l);
-- A stack id of -1 means "no such stack" (left out), -2 "lost" (shown as
-- bcc does).
SELECT
    p.tgid AS pid,
    p.comm AS comm,
    concat_ws(';',
        p.comm,
        CASE WHEN p.ustack_id = -2 THEN '[Missed User Stack]'
             ELSE array_join(reverse(u.function), ';') END,
        CASE WHEN p.kstack_id = -2 THEN '[Missed Kernel Stack]'
             ELSE array_join(reverse(k.function), ';') END
    ) AS stack,
    count(*) AS samples
FROM profile p
LEFT JOIN stacks u ON u.id = p.ustack_id
LEFT JOIN stacks k ON k.id = p.kstack_id
GROUP BY p.tgid, p.comm, 3
ORDER BY samples, stack
