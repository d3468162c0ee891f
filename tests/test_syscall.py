"""syscall end to end: a child makes known syscalls while `-e syscall`
records; the kernel's per-second counters and the slow-call rows must
hold exactly those calls, and syscount/syscallslower must say so."""

import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

GETPRIORITY = 1234
FAILED_OPENS = 17
MISSING = "/nonexistent-ktape-syscall/none"
STORM = 300_000

# Waits for the go line (so every call falls inside the recording), then
# makes exactly the calls counted below; each Python call here is one
# syscall (os.getpriority -> getpriority, os.open -> openat).
CHILD = """
import os, sys, time
sys.stdin.readline()
for _ in range({n}):
    os.getpriority(os.PRIO_PROCESS, 0)
for _ in range({f}):
    try:
        os.open({missing!r}, os.O_RDONLY)
    except FileNotFoundError:
        pass
time.sleep(0.05)
print("done", flush=True)
"""

# A syscall storm: as many getppid calls as a process can make.
STORMER = """
import os, sys
sys.stdin.readline()
g = os.getppid
for _ in range({n}):
    g()
print("done", flush=True)
"""


def start(code):
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def go(children):
    for c in children:
        c.stdin.write("go\n")
        c.stdin.flush()
    for c in children:
        assert c.stdout.readline() == "done\n"
        assert c.wait(timeout=120) == 0


@pytest.fixture(scope="module")
def syscall_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("syscall") / "out.parquet"
    child = start(CHILD.format(n=GETPRIORITY, f=FAILED_OPENS, missing=MISSING))
    storm = [start(STORMER.format(n=STORM)) for _ in range(2)]
    rec = Recorder(out, "syscall")
    go([child])
    go(storm)
    time.sleep(0.3)
    rec.stop()
    return out, child.pid, [s.pid for s in storm]


def con(out):
    c = duckdb.connect()
    c.execute(f"CREATE VIEW syscall AS SELECT * FROM read_parquet('{out}/syscall/*.parquet')")
    c.execute(f"CREATE VIEW slow AS SELECT * FROM read_parquet('{out}/syscall_slow/*.parquet')")
    return c


def test_getpriority_calls_are_counted_exactly(syscall_run):
    out, pid, _ = syscall_run
    n = con(out).execute(
        "SELECT sum(count) FROM syscall WHERE tgid = ? AND syscall = 'getpriority' AND errno = 0",
        [pid]).fetchone()[0]
    assert n == GETPRIORITY
    lines = analyze_json("syscount", "-p", str(pid), out)["tables"][0]["lines"]
    assert {"syscall": "getpriority", "count": GETPRIORITY} == \
        {k: v for k, v in next(l for l in lines if l["syscall"] == "getpriority").items()
         if k in ("syscall", "count")}
    text = analyze("syscount", "-p", str(pid), out).stdout
    assert any(l.split() == ["getpriority", str(GETPRIORITY)] for l in text.splitlines()), text


def test_failed_opens_by_errno(syscall_run):
    out, pid, _ = syscall_run
    lines = analyze_json("syscount", "-e", "ENOENT", "-p", str(pid), out)["tables"][0]["lines"]
    assert [(l["syscall"], l["count"]) for l in lines if l["syscall"] == "openat"] == \
        [("openat", FAILED_OPENS)]
    by_proc = analyze_json("syscount", "-x", "-P", "-p", str(pid), out)["tables"][0]["lines"]
    assert by_proc[0]["pid"] == pid and by_proc[0]["count"] >= FAILED_OPENS


def test_storm_loses_nothing(syscall_run):
    out, _, storm = syscall_run
    c = con(out)
    for pid in storm:
        n = c.execute("SELECT sum(count) FROM syscall WHERE tgid = ? AND syscall = 'getppid'",
                      [pid]).fetchone()[0]
        assert n == STORM, pid
    lost = pq.read_table(out / "loss").to_pandas()
    assert lost[lost["family"].astype(str) == "syscall"]["lost"].sum() == 0


def test_histograms_add_up_to_the_counts(syscall_run):
    out, _, _ = syscall_run
    bad = con(out).execute(
        "SELECT count(*) FROM syscall WHERE list_sum(latency_hist) <> count "
        "OR max_ns * count < total_ns OR len(latency_hist) > 32").fetchone()[0]
    assert bad == 0


def test_the_sleep_is_a_slow_call(syscall_run):
    out, pid, _ = syscall_run
    rows = con(out).execute(
        "SELECT syscall, ret, latency_ns, pid FROM slow WHERE tgid = ?", [pid]).fetchall()
    assert len(rows) == 1, rows
    name, ret, lat, tid = rows[0]
    assert name == "clock_nanosleep" and ret == 0 and tid == pid
    assert 50_000_000 <= lat < 80_000_000
    listed = analyze_json("syscallslower", "-p", str(pid), out)["rows"]
    assert [(r["syscall"], r["latency_ns"]) for r in listed] == [(name, lat)]
    # The same call is counted among the aggregates, in its log2 slot.
    hist = con(out).execute(
        "SELECT latency_hist FROM syscall WHERE tgid = ? AND syscall = 'clock_nanosleep'",
        [pid]).fetchone()[0]
    assert hist[(lat // 1000).bit_length() - 1] == 1


def test_recorder_leaves_itself_out(syscall_run):
    out, _, _ = syscall_run
    comms = {r[0] for r in con(out).execute("SELECT DISTINCT comm FROM slow").fetchall()}
    assert "ktape-drain" not in comms and "ktape-record" not in comms
