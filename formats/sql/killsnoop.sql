-- killsnoop: signals in time order, with bcc's killsnoop columns (PID
-- COMM SIG TPID RESULT); RESULT is the call's return (0 or -errno), null
-- for a signal the kernel sent outside kill/tkill/tgkill (source
-- `kernel`, shown as `kernel` by ktape-analyze). Set `failed` in `params`
-- to 1 for failed calls only (killsnoop -x), `kernel` to 0 to hide the
-- kernel's own signals (--no-kernel, bcc's output). Reads the view
-- `signal` with ts as int64 ns (see README.md).
WITH params AS (SELECT 0 AS failed, 1 AS kernel)
SELECT ts,
       tgid AS pid,
       comm,
       sig,
       target AS tpid,
       ret AS result,
       source
FROM signal CROSS JOIN params
WHERE (params.failed = 0 OR ret < 0)
  AND (params.kernel = 1 OR source <> 'kernel')
ORDER BY ts, tgid
