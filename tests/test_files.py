"""open, fileio and cache end to end: record real opens, file operations
and page-cache activity of a child process, then check what the recording
and ktape-analyze (text and --json) show."""

import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

# ---- open ------------------------------------------------------------------

MISSING_OPENS = 20
MISSING = "/nonexistent-ktape-dir/no-such-file"

# Python's os.open adds O_CLOEXEC; everything else is what we pass.
OPEN_CHILD = """
import os, sys
sys.stdin.readline()                       # wait until the recorder runs
for _ in range({n}):
    try:
        os.open({missing!r}, os.O_RDONLY)
    except FileNotFoundError:
        pass
    else:
        raise SystemExit("the missing path exists")
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
print(fd, flush=True)
os.close(fd)
"""


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("open")
    out = work / "out.parquet"
    target = work / "created.txt"
    child = subprocess.Popen(
        [sys.executable, "-c", OPEN_CHILD.format(n=MISSING_OPENS, missing=MISSING), str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rec = Recorder(out, "open")
    child.stdin.write("go\n")
    child.stdin.flush()
    fd = int(child.stdout.readline())
    assert child.wait(timeout=30) == 0
    time.sleep(0.3)
    rec.stop()
    return out, child.pid, str(target), fd


def test_missing_path_is_twenty_enoent_rows(open_run):
    out, pid, _, _ = open_run
    t = pq.read_table(out / "open").to_pandas()
    mine = t[t["path"].astype(str) == MISSING]
    assert len(mine) == MISSING_OPENS, mine
    assert (mine["tgid"] == pid).all() and (mine["pid"] == pid).all()
    assert (mine["errno"] == 2).all()
    assert mine["fd"].isna().all()
    assert (mine["flags"] & 0o3 == os.O_RDONLY).all()
    assert (mine["latency_ns"] > 0).all()
    assert (mine["uid"] == os.getuid()).all()


def test_successful_open_has_flags_mode_and_fd(open_run):
    out, pid, target, fd = open_run
    t = pq.read_table(out / "open").to_pandas()
    ok = t[t["path"].astype(str) == target]
    assert len(ok) == 1, ok
    r = ok.iloc[0]
    assert r["tgid"] == pid and r["errno"] == 0 and r["fd"] == fd
    assert r["flags"] == os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    assert r["mode"] == 0o640
    assert str(r["comm"]) == os.path.basename(sys.executable)[:15]


def test_opensnoop_failed_only(open_run):
    out, pid, target, _ = open_run
    lines = analyze("opensnoop", "-x", out).stdout.splitlines()
    assert lines[0].split() == ["PID", "COMM", "FD", "ERR", "PATH"]
    ours = [l.split() for l in lines[1:] if l.endswith(" " + MISSING)]
    assert len(ours) == MISSING_OPENS
    assert all(int(f[0]) == pid and f[2] == "-1" and f[3] == "2" for f in ours)
    assert not any(l.endswith(target) for l in lines), "-x prints failed opens only"


def test_opensnoop_extended_shows_the_successful_open(open_run):
    out, pid, target, fd = open_run
    lines = analyze("opensnoop", "-e", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["PID", "COMM", "FD", "ERR", "FLAGS", "MODE", "PATH"]
    row = [l.split() for l in lines[1:] if l.endswith(" " + target)]
    assert len(row) == 1
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    assert row[0][2:6] == [str(fd), "0", f"{flags:08o}", "0640"]


def test_opensnoop_json(open_run):
    out, pid, target, fd = open_run
    j = analyze_json("opensnoop", "-p", pid, out)
    missing = [r for r in j["rows"] if r["path"] == MISSING]
    assert len(missing) == MISSING_OPENS
    assert all(r["errno"] == 2 and r["fd"] == -1 and r["pid"] == pid for r in missing)
    ok = [r for r in j["rows"] if r["path"] == target]
    assert len(ok) == 1 and ok[0]["fd"] == fd and ok[0]["mode"] == 0o640
    assert j["loss"]["total"] == 0
    x = analyze_json("opensnoop", "-x", "-p", pid, out)
    assert all(r["errno"] != 0 for r in x["rows"])
    assert sum(r["path"] == MISSING for r in x["rows"]) == MISSING_OPENS
