"""Scheduler events end to end: three busy threads pinned to one CPU,
recorded with `-e sched,runqlen`; then runqlat from ktape-analyze against
the same pairing done in DuckDB, and runqlen, cpudist and runqslower
against what the load must produce."""

import subprocess
import time
from datetime import datetime, timezone

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import REPO, Recorder, analyze, analyze_json

BUSY_CPU = 1
BUSY_SECONDS = 2.0

# The pairing of formats/sql/runqlat.sql, kept here too so that the test
# states what it checks: queue events (wakeup, or switch-out while still
# runnable) and switch-ins per thread; a switch-in whose previous event is
# a queue event is one latency.
RUNQLAT_SQL = """
WITH ev AS (
    SELECT epoch_ns(ts) AS t, prev_pid AS pid, 0 AS kind FROM sched_switch
    WHERE prev_pid <> 0 AND (prev_state = 0 OR preempt)
    UNION ALL
    SELECT epoch_ns(ts) AS t, pid, 0 AS kind FROM sched_wakeup WHERE pid <> 0
    UNION ALL
    SELECT epoch_ns(ts) AS t, next_pid AS pid, 1 AS kind FROM sched_switch
    WHERE next_pid <> 0
),
lagged AS (
    SELECT pid, t, kind, lag(kind) OVER w AS prev_kind, lag(t) OVER w AS prev_t
    FROM ev WINDOW w AS (PARTITION BY pid ORDER BY t, kind)
)
SELECT pid, t AS switch_in_ns, t - prev_t AS latency_ns
FROM lagged WHERE kind = 1 AND prev_kind = 0
"""


def duck(out):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW sched_switch AS SELECT * FROM '{out}/sched_switch/*.parquet'")
    con.execute(f"CREATE VIEW sched_wakeup AS SELECT * FROM '{out}/sched_wakeup/*.parquet'")
    return con


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    """Records `-e sched,runqlen` while three busy loops share one CPU for
    2 s; returns (recording, their tids, (from, to)): the window, in
    RFC 3339, in which all three surely ran (the recording is longer)."""
    out = tmp_path_factory.mktemp("sched") / "out.parquet"
    rec = Recorder(out, "sched,runqlen")
    # taskset execs sh, so each Popen pid is the busy thread's tid.
    busy = [subprocess.Popen(["taskset", "-c", str(BUSY_CPU), "sh", "-c", "while :; do :; done"])
            for _ in range(3)]
    # taskset pins itself, then execs sh: once all three are sh, all three
    # are pinned and the window starts.
    t0 = time.monotonic()
    while not all(open(f"/proc/{p.pid}/comm").read() == "sh\n" for p in busy):
        assert time.monotonic() - t0 < 10, "taskset did not exec sh"
        time.sleep(0.01)
    start = datetime.now(timezone.utc)
    time.sleep(BUSY_SECONDS - 0.2)
    end = datetime.now(timezone.utc)
    time.sleep(0.2)
    for p in busy:
        p.kill()
    for p in busy:
        p.wait()
    time.sleep(0.2)
    log = rec.stop()
    assert "lost events: 0" in log, log
    return out, [p.pid for p in busy], (start.isoformat(), end.isoformat())


def test_rows_describe_the_busy_threads(pinned):
    out, tids, _ = pinned
    sw = pq.read_table(out / "sched_switch").to_pandas()
    mine = sw[sw["next_pid"].isin(tids)]
    assert set(mine["next_pid"]) == set(tids)
    # Before taskset set the affinity and exec'd sh, each was a python fork.
    assert (mine["next_comm"].astype(str) == "sh").mean() > 0.95
    mine = mine[mine["next_comm"].astype(str) == "sh"]
    assert (mine["cpu"] == BUSY_CPU).all()
    assert (mine["next_tgid"] == mine["next_pid"]).all()
    assert (mine["next_prio"] == 120).all()
    # Busy loops never sleep: every switch-out of theirs leaves them runnable.
    outs = sw[sw["prev_pid"].isin(tids) & (sw["prev_comm"].astype(str) == "sh")]
    assert len(outs) > 100
    assert ((outs["prev_state"] == 0) | outs["preempt"]).mean() > 0.95
    wk = pq.read_table(out / "sched_wakeup").to_pandas()
    assert wk["new"].any(), "the forks of taskset/sh show as sched_wakeup_new"


def test_runqlat_shows_each_thread_waiting_milliseconds(pinned):
    out, tids, _ = pinned
    r = analyze_json("runqlat", "-L", out)
    by_tid = {h["tid"]: h for h in r["histograms"]}
    for tid in tids:
        h = by_tid[tid]
        assert h["comm"] == "sh"
        assert h["total"] > 50, h
        # Three CPU hogs share the CPU: each waits about two slices (ms).
        ms = sum(b["count"] for b in h["buckets"] if b["low"] >= 1024)
        assert ms / h["total"] > 0.5, h
    assert r["lost_events"] == 0


def test_runqlat_counts_exactly_the_pairs_duckdb_finds(pinned):
    out, tids, _ = pinned
    con = duck(out)
    n_sql = con.execute(f"SELECT count(*) FROM ({RUNQLAT_SQL})").fetchone()[0]
    n_file = len(runqlat_sql_duckdb(out))
    r = analyze_json("runqlat", out)
    n_ktape = sum(h["total"] for h in r["histograms"])
    assert n_sql > 300
    assert n_ktape == n_sql == n_file
    # And per busy thread, the same histogram (bcc's µs slots).
    per = analyze_json("runqlat", "-L", out)
    for tid in tids:
        rows = con.execute(
            f"SELECT floor(log2(greatest(latency_ns // 1000, 1)))::int AS slot, count(*) "
            f"FROM ({RUNQLAT_SQL}) WHERE pid = {tid} GROUP BY 1").fetchall()
        h = next(h for h in per["histograms"] if h["tid"] == tid)
        assert {b["slot"]: b["count"] for b in h["buckets"] if b["count"]} == dict(rows)


def runqlat_sql_duckdb(out):
    """formats/sql/runqlat.sql on DuckDB, over views with ts as int64 ns."""
    con = duckdb.connect()
    for t in ("sched_switch", "sched_wakeup"):
        con.execute(f"CREATE VIEW {t} AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                    f"FROM '{out}/{t}/*.parquet'")
    return con.execute((REPO / "formats/sql/runqlat.sql").read_text()).fetchall()


def test_runqlat_sql_runs_unchanged_on_spark(pinned, spark):
    out, _, _ = pinned
    for t in ("sched_switch", "sched_wakeup"):
        spark.read.parquet(str(out / t)).createOrReplaceTempView(t)
    rows = spark.sql((REPO / "formats/sql/runqlat.sql").read_text()).collect()
    got = sorted((r["pid"], r["switch_in_ns"], r["latency_ns"]) for r in rows)
    assert got == sorted(runqlat_sql_duckdb(out))
    r = analyze_json("runqlat", out)
    assert len(got) == sum(h["total"] for h in r["histograms"])


def online_cpus():
    cpus = set()
    for part in open("/sys/devices/system/cpu/online").read().strip().split(","):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus


def test_runqlen_reports_every_cpu_and_the_busy_queue(pinned):
    out, _, (start, end) = pinned
    r = analyze_json("runqlen", "-C", out)
    by_cpu = {h["cpu"]: h for h in r["histograms"]}
    assert set(by_cpu) == online_cpus()
    for h in by_cpu.values():
        # 99 Hz for the whole recording (> 2 s) on every CPU, idle or not.
        assert h["samples"] > 150, h
    # While all three CPU hogs share the CPU, one runs and two (at least)
    # wait; outside that window the queue is shorter.
    during = analyze_json("runqlen", "-C", "--from", start, "--to", end, out)
    busy = {h["cpu"]: h for h in during["histograms"]}[BUSY_CPU]
    assert busy["samples"] > 100, busy
    assert busy["mean"] >= 2, busy
    assert busy["occupancy"] == 1.0, busy
    assert by_cpu[BUSY_CPU]["mean"] > 1, by_cpu[BUSY_CPU]
    # The text form prints one `cpu = N` histogram per CPU.
    text = analyze("runqlen", "-C", out).stdout
    for cpu in online_cpus():
        assert f"cpu = {cpu}\n     runqlen       : count     distribution" in text


def test_cpudist_slices_fit_in_the_recording(pinned):
    out, tids, _ = pinned
    r = analyze_json("cpudist", out)
    span_ns = (pd.Timestamp(r["to"]) - pd.Timestamp(r["from"])).value
    busy = {c["cpu"]: c["ns"] for c in r["cpu_busy_ns"]}
    assert busy, r
    for cpu, ns in busy.items():
        assert 0 < ns <= span_ns, (cpu, ns, span_ns)
    # The hogs kept their CPU busy for the 2 s they ran.
    assert busy[BUSY_CPU] >= 0.9 * BUSY_SECONDS * 1e9, busy
    per = analyze_json("cpudist", "-L", out)
    by_tid = {h["tid"]: h for h in per["histograms"]}
    for tid in tids:
        # Each hog ran in many slices of (mostly) milliseconds.
        h = by_tid[tid]
        assert h["total"] > 50, h
        assert sum(b["count"] for b in h["buckets"] if b["low"] >= 512) / h["total"] > 0.5, h
    # Off-CPU: each hog is off the CPU while the two others run.
    off = {h["tid"]: h for h in analyze_json("cpudist", "-O", "-L", out)["histograms"]}
    for tid in tids:
        assert off[tid]["total"] > 50, off[tid]


def test_runqslower_lists_the_pinned_threads(pinned):
    out, tids, (start, end) = pinned
    # In the window all three are pinned; before it a hog may still wait as
    # a python child or taskset, on any CPU.
    r = analyze_json("runqslower", "-P", "--min-latency", "1ms", "--from", start, "--to", end, out)
    rows = [x for x in r["rows"] if x["tid"] in tids]
    assert {x["tid"] for x in rows} == set(tids)
    assert all(x["latency_ns"] > 1_000_000 and x["cpu"] == BUSY_CPU for x in rows)
    # The previous task is the one the switch-in row itself switched out,
    # on that CPU.
    con = duck(out)
    for x in rows:
        got = con.execute("SELECT cpu, prev_pid FROM sched_switch WHERE epoch_ns(ts) = ? AND next_pid = ?",
                          [x["ts"], x["tid"]]).fetchall()
        assert got == [(x["cpu"], x["prev_tid"])], (x, got)
    # Hogs wait for each other (how often depends on what else shares the
    # CPU: 36 % to 80 % seen, under a concurrent build or not).
    assert any(x["prev_tid"] in tids for x in rows)
    # Every slow wait of the recording is one of runqlat's pairs above the
    # threshold.
    n = con.execute(f"SELECT count(*) FROM ({RUNQLAT_SQL}) WHERE latency_ns > 1000000").fetchone()[0]
    assert len(analyze_json("runqslower", "--min-latency", "1ms", out)["rows"]) == n
