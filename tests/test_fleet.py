"""A fleet: three real recordings in hive-style host=NAME folders. Per-host
and combined histograms agree between ktape-analyze, DuckDB and Spark."""

import shutil
import subprocess
import time
from collections import Counter

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import REPO, Recorder, analyze_json, on_root_disk
from test_bio import unpaired_loss

SQL = (REPO / "formats" / "sql" / "biolatency_by_host.sql").read_text()
# Direct 4 KiB writes per host: each host's load differs, so a mix-up
# between hosts cannot go unnoticed.
HOSTS = {"web1": 100, "web2": 200, "web3": 300}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "fleet")
    root = work / "fleet"
    for host, writes in HOSTS.items():
        out = root / f"host={host}" / "out.parquet"
        out.parent.mkdir(parents=True)
        rec = Recorder(out, "bio")
        subprocess.run(["dd", "if=/dev/zero", f"of={work}/{host}.dat", "bs=4k",
                             f"count={writes}", "oflag=direct", "status=none"], check=True)
        time.sleep(0.3)
        rec.stop()
    return root


def ktape_by_host(root):
    got = {}
    for h in analyze_json("biolatency", "--by", "host", root)["histograms"]:
        for b in h["buckets"]:
            if b["count"]:
                got[(h["by"], b["slot"])] = b["count"]
    return got


def test_each_host_is_its_own_recording(fleet):
    j = analyze_json("biolatency", "--by", "host", fleet)
    assert j["by"] == "host"
    assert sorted(h["by"] for h in j["histograms"]) == sorted(HOSTS)
    for h in j["histograms"]:
        rows = pq.read_table(fleet / f"host={h['by']}" / "out.parquet" / "bio").num_rows
        assert h["total"] == rows
        # At least the writes we issued on that "host" (the disk may also
        # have served others' I/O during the recording); a completion the
        # kernel ran no program for is counted as unpaired (test_bio.py).
        unpaired = unpaired_loss(fleet / f"host={h['by']}" / "out.parquet")
        assert rows + unpaired >= HOSTS[h["by"]]


def test_combined_is_the_sum_of_the_hosts(fleet):
    whole = analyze_json("biolatency", fleet)
    [h] = whole["histograms"]
    per_host = Counter()
    for (_, slot), n in ktape_by_host(fleet).items():
        per_host[slot] += n
    assert {b["slot"]: b["count"] for b in h["buckets"] if b["count"]} == dict(per_host)


def test_duckdb_hive_partitions_agree(fleet):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW bio AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                f"FROM read_parquet('{fleet}/*/*/bio/*.parquet', hive_partitioning = true)")
    rows = con.execute(SQL).fetchall()
    got = {(host, slot): n for host, slot, _, _, n in rows}
    assert got == ktape_by_host(fleet)


def test_spark_agrees(fleet, spark):
    from pyspark.sql.functions import input_file_name, regexp_extract
    df = (spark.read.parquet(str(fleet / "*" / "*" / "bio"))
          .withColumn("host", regexp_extract(input_file_name(), "/host=([^/]+)/", 1)))
    assert dict(df.dtypes)["ts"] == "bigint"
    df.createOrReplaceTempView("bio")
    got = {(r["host"], r["slot"]): r["count"] for r in spark.sql(SQL).collect()}
    assert got == ktape_by_host(fleet)


def test_moving_the_fleet_changes_nothing(fleet, tmp_path):
    # A fleet is self-contained: copied elsewhere, it reads the same.
    copy = tmp_path / "elsewhere"
    shutil.copytree(fleet, copy)
    assert ktape_by_host(copy) == ktape_by_host(fleet)
