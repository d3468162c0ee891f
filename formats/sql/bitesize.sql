-- bitesize: log2 histogram of block I/O sizes in KiB (bytes / 1024, integer
-- division as bcc divides), one histogram per submitting command name, as
-- bcc's bitesize prints them ("Process Name = dd", "Kbytes : count").
-- Slot i holds sizes with floor(log2(kbytes)) = i; sizes under 1 KiB fall in
-- slot 0 (bcc's rule). Reads the view `bio` with ts as int64 ns (see
-- README.md).
--
-- LOG2 is corrected by exact powers of two: Spark computes it as
-- ln(x) / ln(2), which can land just below a whole number for x = 2^k, and
-- I/O sizes are mostly exact powers of two.
SELECT comm,
       slot,
       CAST(CASE WHEN slot = 0 THEN 0 ELSE POWER(2, slot) END AS BIGINT) AS low_kb,
       CAST(POWER(2, slot + 1) - 1 AS BIGINT) AS high_kb,
       COUNT(*) AS count
FROM (
  SELECT comm,
         CASE WHEN kb < 1 THEN 0
              ELSE guess
                   - CASE WHEN POWER(2, guess) > kb THEN 1 ELSE 0 END
                   + CASE WHEN POWER(2, guess + 1) <= kb THEN 1 ELSE 0 END
         END AS slot
  FROM (
    SELECT comm,
           FLOOR(bytes / 1024) AS kb,
           CASE WHEN bytes < 1024 THEN 0
                ELSE CAST(FLOOR(LOG2(FLOOR(bytes / 1024))) AS INT) END AS guess
    FROM bio
  ) AS sized
) AS slotted
GROUP BY comm, slot
ORDER BY comm, slot
