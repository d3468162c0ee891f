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
