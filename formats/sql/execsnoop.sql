-- execsnoop: successful execs in time order, with bcc's execsnoop columns
-- (PCOMM PID PPID RET ARGS; UID for -U). Set `failed` in `params` to 1 to
-- include failed execs too (execsnoop -x). Reads the view `exec` with ts as
-- int64 ns (see README.md); `args` is a list of strings on both engines.
WITH params AS (SELECT 0 AS failed)
SELECT ts,
       comm,
       tgid AS pid,
       ppid,
       uid,
       ret,
       filename,
       args,
       truncated
FROM exec CROSS JOIN params
WHERE ret >= 0 OR params.failed = 1
ORDER BY ts, tgid
