"""The SQL form of each report (formats/sql/) runs unchanged on DuckDB and
Spark SQL and gives the same numbers as ktape-analyze --json."""

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, Recorder, analyze_json, on_root_disk

SQL = REPO / "formats" / "sql"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Block I/O of several sizes, so that latencies spread over many
    buckets and some requests take over a millisecond."""
    work = on_root_disk(tmp_path_factory, "sql")
    out = work / "out.parquet"
    rec = Recorder(out, "bio")
    for bs, count in (("4k", 500), ("64k", 100), ("1M", 20)):
        subprocess.run(["dd", "if=/dev/zero", f"of={work}/f{bs}", f"bs={bs}", f"count={count}",
                        "oflag=direct", "conv=fsync", "status=none"], check=True)
        subprocess.run(["dd", f"if={work}/f{bs}", "of=/dev/null", f"bs={bs}",
                        "iflag=direct", "status=none"], check=True)
    time.sleep(0.3)
    rec.stop()
    return out


def duckdb_run(recording, sql):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW bio AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                f"FROM read_parquet('{recording}/bio/*.parquet')")
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    s = (SparkSession.builder.master("local[2]").appName("ktape-tests")
         .config("spark.sql.legacy.parquet.nanosAsLong", "true")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def spark_run(spark, recording, sql):
    df = spark.read.parquet(str(recording / "bio"))
    assert dict(df.dtypes)["ts"] == "bigint", "nanosAsLong should read ts as int64 ns"
    df.createOrReplaceTempView("bio")
    return [r.asDict() for r in spark.sql(sql).collect()]


ENGINES = ["duckdb", "spark"]


def run(engine, request, recording, name, params=None):
    sql = (SQL / name).read_text()
    for old, new in (params or {}).items():
        assert old in sql, f"{name} has no parameter {old!r}"
        sql = sql.replace(old, new)
    if engine == "duckdb":
        return duckdb_run(recording, sql)
    return spark_run(request.getfixturevalue("spark"), recording, sql)


@pytest.mark.parametrize("engine", ENGINES)
def test_biolatency_sql(engine, request, recording):
    rows = run(engine, request, recording, "biolatency.sql")
    got = {(r["disk"], r["slot"]): r["count"] for r in rows}
    want = {}
    for h in analyze_json("biolatency", "-D", recording)["histograms"]:
        for b in h["buckets"]:
            if b["count"]:
                want[(h["disk"], b["slot"])] = b["count"]
                # The bucket bounds agree too.
                r = next(r for r in rows if (r["disk"], r["slot"]) == (h["disk"], b["slot"]))
                assert (r["low_us"], r["high_us"]) == (b["low"], b["high"])
    assert got == want
    assert len(got) >= 3, "the load should spread over several buckets"


@pytest.mark.parametrize("engine", ENGINES)
def test_biosnoop_slow_sql(engine, request, recording):
    # A threshold that splits this recording: the 90th percentile latency,
    # in whole microseconds, set through the file's one parameter.
    [(p90,)] = duckdb.sql(f"SELECT quantile_disc(latency_ns, 0.9) // 1000 "
                          f"FROM read_parquet('{recording}/bio/*.parquet')").fetchall()
    rows = run(engine, request, recording, "biosnoop_slow.sql",
               {"1000000 AS min_latency_ns": f"{p90 * 1000} AS min_latency_ns"})
    got = Counter((r["sector"], r["bytes"], r["latency_ns"]) for r in rows)
    want = Counter((r["sector"], r["bytes"], r["latency_ns"])
                   for r in analyze_json("biosnoop", "--min-latency", f"{p90}us", recording)["rows"])
    assert got == want
    assert sum(want.values()) > 0
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts) and all(isinstance(t, int) for t in ts)


@pytest.fixture(scope="module")
def profile_recording(tmp_path_factory):
    """A CPU profile of a spinning C program with frame pointers."""
    from test_stacks import SPIN_C, build
    work = tmp_path_factory.mktemp("profile_sql")
    spin = build(work, "spinner", SPIN_C)
    prog = subprocess.Popen([str(spin), "3.5"])
    out = work / "cpu.parquet"
    rec = Recorder(out, "profile", extra=["-d", "2", "-q"])
    assert rec.wait() == 0
    prog.wait(timeout=30)
    return out, prog.pid


@pytest.mark.parametrize("engine", ENGINES)
def test_profile_folded_sql(engine, request, profile_recording):
    out, pid = profile_recording
    sql = (SQL / "profile_folded.sql").read_text()
    if engine == "duckdb":
        con = duckdb.connect()
        con.execute("CREATE MACRO array_join(l, s) AS array_to_string(l, s)")
        con.execute("CREATE MACRO reverse(l) AS list_reverse(l)")
        for t in ("profile", "stacks"):
            con.execute(f"CREATE VIEW {t} AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                        f"FROM read_parquet('{out}/{t}/*.parquet')")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    else:
        spark = request.getfixturevalue("spark")
        for t in ("profile", "stacks"):
            spark.read.parquet(str(out / t)).createOrReplaceTempView(t)
        rows = [r.asDict() for r in spark.sql(sql).collect()]
    got = Counter()
    for r in rows:
        got[(r["pid"], r["stack"])] += r["samples"]
    want = Counter()
    for s in analyze_json("profile", out)["stacks"]:
        frames = [s["comm"], *reversed(s["user"]), *reversed(s["kernel"])]
        want[(s["pid"], ";".join(frames))] += s["value"]
    assert got == want
    assert any(pid == p and "outer;middle;inner" in st for p, st in got), got
