-- opensnoop: open/openat/openat2 calls in time order, with bcc's opensnoop
-- columns (PID COMM FD ERR PATH; FLAGS MODE for -e, UID for -U). FD is -1
-- for a failed call, as bcc prints it. Set `failed` in `params` to 1 for
-- failed calls only (opensnoop -x). Reads the view `open` with ts as int64
-- ns (see README.md).
WITH params AS (SELECT 0 AS failed)
SELECT ts,
       tgid AS pid,
       comm,
       CASE WHEN errno = 0 THEN fd ELSE -1 END AS fd,
       errno,
       flags,
       mode,
       uid,
       path,
       latency_ns
FROM open CROSS JOIN params
WHERE errno <> 0 OR params.failed = 0
ORDER BY ts, tgid
