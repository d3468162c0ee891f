"""Block I/O end to end: record real O_DIRECT writes, then check what the
recording, ktape-analyze, DuckDB and pandas see."""

import os
import subprocess
import time
from xml.etree import ElementTree

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json, on_root_disk

WRITES = 3000
BLOCK = 4096
# This kernel sometimes runs no BPF program for a burst of block
# completions that its tracepoint does report (see bpf/bio.bpf.c,
# track_insert). Such a request cannot become a row, but it must never
# vanish: the recorder counts it as `unpaired` loss. Every write is
# therefore a row or an unpaired loss, exactly; and the loss stays rare.
MAX_UNPAIRED = 30


def unpaired_loss(out):
    """Requests of the bio family counted as `unpaired` in the loss table."""
    if not (out / "loss").exists():
        return 0
    loss = pq.read_table(out / "loss").to_pandas()
    sel = (loss["family"].astype(str) == "bio") & (loss["reason"].astype(str) == "unpaired")
    return int(loss[sel]["lost"].sum())


@pytest.fixture(scope="module")
def dd_run(tmp_path_factory):
    """Records `-e bio` while dd issues exactly WRITES synchronous 4 KiB
    O_DIRECT writes; returns (recording path, dd's pid)."""
    work = on_root_disk(tmp_path_factory, "bio")
    target = work / "ddtarget"
    # Allocate and write the file first, so that the measured writes only
    # overwrite blocks in place: no allocation, no extra metadata I/O by dd.
    with open(target, "wb") as f:
        f.write(b"\1" * BLOCK * WRITES)
        f.flush()
        os.fsync(f.fileno())
    # Run dd once before recording so that exec reads of the dd binary are
    # page-cache hits and do not show up as dd's reads, and write back
    # everything dirty, so that no writeback request sits in the scheduler
    # next to dd's sectors (the block layer may merge a direct write into
    # such a request, and then it is not a request of dd's).
    subprocess.run(["dd", "--version"], check=True, capture_output=True)
    os.sync()
    out = work / "out.parquet"
    rec = Recorder(out, "bio")
    dd = subprocess.Popen(["dd", "if=/dev/zero", f"of={target}", f"bs={BLOCK}",
                           f"count={WRITES}", "oflag=direct", "conv=notrunc"],
                          stderr=subprocess.PIPE, text=True)
    _, err = dd.communicate(timeout=300)
    assert dd.returncode == 0, err
    time.sleep(0.5)
    log = rec.stop()
    target.unlink()
    return out, dd.pid, log


def test_exactly_the_writes_we_issued(dd_run):
    out, pid, _ = dd_run
    bio = pq.read_table(out / "bio").to_pandas()
    mine = bio[(bio["pid"] == pid) & bio["op"].astype(str).str.contains("W")]
    lo, hi = mine["sector"].min(), mine["sector"].max()
    near = bio[(bio["pid"] != pid) & (bio["sector"] >= lo) & (bio["sector"] <= hi)]
    unpaired = unpaired_loss(out)
    assert len(mine) + unpaired == WRITES, (
        unpaired, bio[bio["pid"] == pid]["op"].value_counts(),
        near[["pid", "comm", "op", "sector", "bytes"]])
    assert unpaired <= MAX_UNPAIRED
    # No write of dd's is counted twice.
    assert mine["sector"].is_unique
    assert (mine["bytes"] == BLOCK).all()
    assert (mine["tgid"] == pid).all()
    assert (mine["comm"].astype(str) == "dd").all()
    assert (mine["latency_ns"] > 0).all()
    assert (mine["error"] == 0).all()
    # O_DIRECT writes of one file: all on the root disk.
    assert mine["disk"].nunique() == 1


def test_pandas_sees_utc_nanosecond_timestamps(dd_run):
    out, pid, _ = dd_run
    bio = pd.read_parquet(out / "bio")
    assert str(bio["ts"].dtype) == "datetime64[ns, UTC]"
    # The writes happened just now: timestamps are wall-clock times.
    now = pd.Timestamp.now(tz="UTC")
    mine = bio[bio["pid"] == pid]
    assert (now - mine["ts"].min()) < pd.Timedelta(minutes=10)
    assert mine["ts"].max() <= now


def hist_counts(h):
    """{slot: count} from one histogram of ktape-analyze's JSON."""
    return {b["slot"]: b["count"] for b in h["buckets"] if b["count"]}


BUCKET_SQL = """
    SELECT CASE WHEN latency_ns // 1000 = 0 THEN 0
                ELSE floor(log2(latency_ns // 1000))::INTEGER END AS slot,
           count(*) AS n
    FROM read_parquet('{path}/bio/*.parquet') {where}
    GROUP BY ALL ORDER BY slot
"""


def test_biolatency_equals_duckdb(dd_run):
    out, _, _ = dd_run
    j = analyze_json("biolatency", out)
    [h] = j["histograms"]
    want = dict(duckdb.sql(BUCKET_SQL.format(path=out, where="")).fetchall())
    assert hist_counts(h) == want
    assert h["total"] == sum(want.values()) == pq.read_table(out / "bio").num_rows


def test_biolatency_per_disk_equals_duckdb(dd_run):
    out, _, _ = dd_run
    j = analyze_json("biolatency", "-D", out)
    disks = [r[0] for r in duckdb.sql(
        f"SELECT DISTINCT disk FROM read_parquet('{out}/bio/*.parquet')").fetchall()]
    assert sorted(h["disk"] for h in j["histograms"]) == sorted(disks)
    for h in j["histograms"]:
        want = dict(duckdb.sql(BUCKET_SQL.format(
            path=out, where=f"WHERE disk = '{h['disk']}'")).fetchall())
        assert hist_counts(h) == want, h["disk"]


HEATMAP_SQL = """
    SELECT (epoch_ns(ts) - {start}) // {step} AS col,
           CASE WHEN latency_ns // 1000 = 0 THEN 0
                ELSE floor(log2(latency_ns // 1000))::INTEGER END AS slot,
           count(*) AS n
    FROM read_parquet('{path}/bio/*.parquet')
    GROUP BY ALL
"""


def test_heatmap_cells_equal_duckdb(dd_run, tmp_path):
    """Every cell of the heat map is DuckDB's count of the bio rows in its
    time step and log2 bucket, and the cells add up to the rows."""
    out, _, _ = dd_run
    j = analyze_json("heatmap", "-s", "250ms", out)
    assert j["of"] == "bio" and j["step_ns"] == 250_000_000
    start = pd.Timestamp(j["from"]).value
    got = {}
    for c in j["maps"][0]["cells"]:
        col = (pd.Timestamp(c["time"]).value - start) // j["step_ns"]
        assert c["low"] == (0 if c["slot"] == 0 else 2 ** c["slot"])
        got[(col, c["slot"])] = c["count"]
    want = {(col, slot): n for col, slot, n in duckdb.sql(
        HEATMAP_SQL.format(path=out, start=start, step=j["step_ns"])).fetchall()}
    assert got == want
    rows = pq.read_table(out / "bio").num_rows
    assert sum(got.values()) == j["maps"][0]["total"] == rows
    # The SVG is well-formed XML with one titled cell per JSON cell.
    svg = tmp_path / "bio.svg"
    p = analyze("heatmap", "-s", "250ms", "-o", svg, out)
    assert "wrote" in p.stderr
    root = ElementTree.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    cells = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None
             and " -> " in r.find(f"{ns}title").text and "lost" not in r.find(f"{ns}title").text]
    assert len(cells) == len(got)
    assert sum(int(r.find(f"{ns}title").text.rsplit(": ", 1)[1]) for r in cells) == rows


def test_heatmap_linear_rows_equal_duckdb(dd_run):
    """--linear 50: rows of 50 µs from 0, the 64th taking the rest; every
    cell is DuckDB's count per (250 ms, least(latency_us // 50, 63))."""
    out, _, _ = dd_run
    j = analyze_json("heatmap", "-s", "250ms", "--linear", "50", out)
    assert j["scale"] == "linear"
    start = pd.Timestamp(j["from"]).value
    got = {}
    for c in j["maps"][0]["cells"]:
        col = (pd.Timestamp(c["time"]).value - start) // j["step_ns"]
        assert c["low"] == 50 * c["slot"]
        assert c["high"] == (None if c["slot"] == 63 else 50 * c["slot"] + 49)
        got[(col, c["slot"])] = c["count"]
    want = {(col, slot): n for col, slot, n in duckdb.sql(f"""
        SELECT (epoch_ns(ts) - {start}) // {j["step_ns"]} AS col,
               least(latency_ns // 1000 // 50, 63) AS slot, count(*)
        FROM read_parquet('{out}/bio/*.parquet') GROUP BY ALL""").fetchall()}
    assert got == want
    assert sum(got.values()) == pq.read_table(out / "bio").num_rows


def test_biolatency_text_total_matches(dd_run):
    out, _, _ = dd_run
    text = analyze("biolatency", out).stdout
    assert "usecs" in text and "distribution" in text
    rows = [line for line in text.splitlines() if "->" in line]
    total = sum(int(line.split(":")[1].split("|")[0]) for line in rows)
    assert total == pq.read_table(out / "bio").num_rows


def test_biosnoop_lists_the_writes(dd_run):
    out, pid, _ = dd_run
    bio = pq.read_table(out / "bio").to_pandas()
    recorded = len(bio[(bio["pid"] == pid) & bio["op"].astype(str).str.contains("W")])
    rows = [r for r in analyze_json("biosnoop", "-p", pid, out)["rows"] if "W" in r["op"]]
    assert len(rows) == recorded == WRITES - unpaired_loss(out)
    assert all(r["bytes"] == BLOCK for r in rows)
    text = analyze("biosnoop", "-p", pid, out).stdout.splitlines()
    assert text[0].split()[:7] == ["TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES"]
    assert sum(1 for line in text[1:] if line.split()[4].startswith("W")) == recorded


def test_summary_counts_rows(dd_run):
    out, _, _ = dd_run
    s = analyze_json("summary", out)
    tables = {t["name"]: t for t in s["tables"]}
    for name in ("bio", "loss", "process"):
        assert tables[name]["rows"] == pq.read_table(out / name).num_rows, name
    assert s["lost"] == unpaired_loss(out)
