"""bitesize, biotop and fsdist end to end: known block I/O and fsyncs
recorded for real, and the reports must count exactly those."""

import os
import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json, on_root_disk

WRITES = 200
BLOCK = 64 * 1024
SYNCS = 23


def unpaired_loss(out):
    """Requests of the bio family counted as `unpaired` (see test_bio.py:
    this kernel sometimes runs no BPF program for a completion; such a
    request is counted as lost, never silently dropped)."""
    if not (out / "loss").exists():
        return 0
    loss = pq.read_table(out / "loss").to_pandas()
    sel = (loss["family"].astype(str) == "bio") & (loss["reason"].astype(str) == "unpaired")
    return int(loss[sel]["lost"].sum())


@pytest.fixture(scope="module")
def dd_run(tmp_path_factory):
    """Records `-e bio` while dd issues WRITES direct 64 KiB writes to a
    file on the root disk; returns (recording, dd's pid)."""
    work = on_root_disk(tmp_path_factory, "bitesize")
    target = work / "ddtarget"
    # Written and synced first, so that dd only overwrites blocks in place
    # (no allocation, no metadata I/O of dd's, nothing dirty to merge with).
    with open(target, "wb") as f:
        f.write(b"\1" * BLOCK * WRITES)
        f.flush()
        os.fsync(f.fileno())
    subprocess.run(["dd", "--version"], check=True, capture_output=True)
    os.sync()
    out = work / "out.parquet"
    rec = Recorder(out, "bio")
    dd = subprocess.Popen(["dd", "if=/dev/zero", f"of={target}", "bs=64k",
                           f"count={WRITES}", "oflag=direct", "conv=notrunc"],
                          stderr=subprocess.PIPE, text=True)
    _, err = dd.communicate(timeout=300)
    assert dd.returncode == 0, err
    time.sleep(0.5)
    rec.stop()
    target.unlink()
    return out, dd.pid


def dd_rows(out, pid):
    c = duckdb.connect()
    c.execute(f"CREATE VIEW bio AS SELECT * FROM read_parquet('{out}/bio/*.parquet')")
    return c, f"tgid = {pid}"


def test_bitesize_64k_bucket_holds_every_write(dd_run):
    out, pid = dd_run
    lost = unpaired_loss(out)
    assert lost <= 5, f"{lost} unpaired bio completions"
    j = analyze_json("bitesize", "-p", pid, out)
    [iv] = j["intervals"]
    [h] = iv["histograms"]
    assert h["comm"] == "dd"
    by_low = {b["low"]: b["count"] for b in h["buckets"] if b["count"]}
    # 64 KiB / 1024 = 64: every write in 64 -> 127, nothing elsewhere.
    assert by_low == {64: WRITES - lost}
    assert h["total"] == WRITES - lost
    # The text shows bcc's layout with the same count.
    text = analyze("bitesize", "-p", pid, out).stdout
    assert "Process Name = dd" in text
    assert "Kbytes" in text
    [line] = [l for l in text.splitlines() if l.strip().startswith("64 -> 127")]
    assert f": {WRITES - lost} " in line


def test_bitesize_interval_adds_up(dd_run):
    out, pid = dd_run
    j = analyze_json("bitesize", "-p", pid, "-i", "1", out)
    total = sum(h["total"] for iv in j["intervals"] for h in iv["histograms"])
    assert total == WRITES - unpaired_loss(out)
    assert len(j["intervals"]) >= 1


def test_biotop_totals_equal_duckdb(dd_run):
    out, pid = dd_run
    c, mine = dd_rows(out, pid)
    want = c.execute(
        f"SELECT count(*), sum(bytes), sum(latency_ns + coalesce(queue_ns, 0)) "
        f"FROM bio WHERE {mine}").fetchone()
    j = analyze_json("biotop", "-p", pid, out)
    [iv] = j["intervals"]
    rows = iv["rows"]
    assert rows, j
    assert all(r["pid"] == pid and r["comm"] == "dd" and r["d"] == "W" for r in rows)
    got = (sum(r["io"] for r in rows), sum(r["bytes"] for r in rows),
           sum(r["time_ns"] for r in rows))
    assert got == want
    assert got[0] == WRITES - unpaired_loss(out)
    assert got[1] == got[0] * BLOCK
    # Per disk too: every row's I/O equals DuckDB's for its device.
    per_dev = dict(c.execute(
        f"SELECT dev, count(*) FROM bio WHERE {mine} GROUP BY dev").fetchall())
    assert {(r["major"] << 20) + r["minor"]: r["io"] for r in rows} == per_dev
    # Text: bcc's header and the dd row with its Kbytes.
    text = analyze("biotop", "-p", pid, out).stdout
    assert "PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms" in text
    assert any(l.split()[:2] == [str(pid), "dd"] and str(got[1] // 1024) in l.split()
               for l in text.splitlines())


# ---- fsdist ------------------------------------------------------------------

FSYNC_CHILD = """
import os, sys
sys.stdin.readline()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range({n}):
    os.write(fd, b"k" * 4096)
    os.fsync(fd)
os.close(fd)
print("done", flush=True)
"""


def root_fs_type():
    fstype = None
    for line in open("/proc/self/mounts"):
        f = line.split()
        if f[1] == "/":
            fstype = f[2]
    return fstype


@pytest.fixture(scope="module")
def fsync_run(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "fsdist")
    target = work / "synced.dat"
    child = subprocess.Popen(
        [sys.executable, "-c", FSYNC_CHILD.format(n=SYNCS), str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = work / "out.parquet"
    slow = work / "slow.parquet"
    rec = Recorder(out, "fileio", ["--min-latency", "0"])
    # The same child recorded with a kernel-side threshold: fsdist must say
    # its histograms miss the faster calls.
    rec_slow = Recorder(slow, "fileio", ["-p", str(child.pid), "--min-latency", "1s"])
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline() == "done\n"
    assert child.wait(timeout=60) == 0
    time.sleep(0.3)
    rec.stop()
    rec_slow.stop()
    target.unlink()
    return out, slow, child.pid


def fsync_hist(j):
    [iv] = j["intervals"]
    return {h["operation"]: h for h in iv["histograms"]}


def test_fsdist_counts_the_fsyncs(fsync_run):
    out, _, pid = fsync_run
    j = analyze_json("fsdist", "-p", pid, out)
    ops = fsync_hist(j)
    assert ops["fsync"]["total"] == SYNCS
    assert ops["write"]["total"] == SYNCS
    assert j["min_latency_ns"] == 0
    # The filesystem alias of the root disk sees the same fsyncs.
    fs = root_fs_type()
    if fs in ("ext4", "xfs", "btrfs"):
        ja = analyze_json(f"{fs}dist", "-p", pid, out)
        assert fsync_hist(ja)["fsync"]["total"] == SYNCS
    jt = analyze_json("fsdist", "-t", fs, "-p", pid, out)
    assert fsync_hist(jt)["fsync"]["total"] == SYNCS
    # -m: the same calls in ms buckets.
    jm = analyze_json("fsdist", "-m", "-p", pid, out)
    assert fsync_hist(jm)["fsync"]["total"] == SYNCS
    text = analyze("fsdist", "-p", pid, out)
    assert "operation = 'fsync'" in text.stdout
    assert "INCOMPLETE" not in text.stdout + text.stderr


def test_fsdist_says_when_recorded_with_min_latency(fsync_run):
    _, slow, pid = fsync_run
    p = analyze("fsdist", "-p", pid, slow)
    # Said on the report's second line, not only in the JSON.
    assert p.stdout.splitlines()[1].startswith(
        "INCOMPLETE: recorded with --min-latency 1.000s"), p.stdout
    j = analyze_json("fsdist", "-p", pid, slow)
    assert j["min_latency_ns"] == 1_000_000_000
