"""mount, stat and sync end to end: a child process mounts and unmounts a
tmpfs, stats a missing path, calls sync, fsync and fdatasync while the
recorder runs; the rows of that child (by pid and unique paths, as other
recorders and builds share the machine) must be exactly what it did. A
stat storm checks the rate the stat family keeps up with, and that
--stat-failed-only drops successful calls in the kernel."""

import ctypes
import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

MOUNTS = 3
FAILED_STATS = 41
SYNCS = 7

VFS_CHILD = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
mnt, missing, data = sys.argv[1], sys.argv[2], sys.argv[3]
sys.stdin.readline()                       # wait until the recorder runs
for _ in range({mounts}):
    if libc.mount(b"ktape-vfs", mnt.encode(), b"tmpfs", 0x6, b"size=1m") != 0:
        raise SystemExit("mount: errno %d" % ctypes.get_errno())
    if libc.umount2(mnt.encode(), 0) != 0:
        raise SystemExit("umount2: errno %d" % ctypes.get_errno())
for _ in range({stats}):
    try:
        os.stat(missing)
    except FileNotFoundError:
        pass
    else:
        raise SystemExit("the missing path exists")
for _ in range({syncs}):
    os.sync()
fd = os.open(data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"ktape")
os.fsync(fd)
os.fdatasync(fd)
print(fd, flush=True)
os.close(fd)
"""


@pytest.fixture(scope="module")
def vfs_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("vfs")
    mnt = work / "mnt"
    mnt.mkdir()
    missing = str(work / "no-such-file-ktape-vfs")
    data = work / "data.bin"
    out = work / "out.parquet"
    child = subprocess.Popen(
        [sys.executable, "-c",
         VFS_CHILD.format(mounts=MOUNTS, stats=FAILED_STATS, syncs=SYNCS),
         str(mnt), missing, str(data)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rec = Recorder(out, "mount,stat,sync")
    child.stdin.write("go\n")
    child.stdin.flush()
    fd = int(child.stdout.readline())
    assert child.wait(timeout=60) == 0
    time.sleep(0.3)
    rec.stop()
    return out, child.pid, str(mnt), missing, fd


def test_mounts_are_six_rows_of_the_child(vfs_run):
    out, pid, mnt, _, _ = vfs_run
    t = pq.read_table(out / "mount").to_pandas()
    mine = t[t["tgid"] == pid]
    assert len(mine) == 2 * MOUNTS, mine
    assert list(mine["call"].astype(str)) == ["mount", "umount"] * MOUNTS
    assert (mine["ret"] == 0).all() and (mine["target"].astype(str) == mnt).all()
    m = mine[mine["call"].astype(str) == "mount"]
    assert (m["source"].astype(str) == "ktape-vfs").all()
    assert (m["fstype"].astype(str) == "tmpfs").all()
    assert (m["data"].astype(str) == "size=1m").all()
    assert (m["flags"] == 0x6).all()
    ns = os.stat(f"/proc/{os.getpid()}/ns/mnt").st_ino
    assert (mine["mntns"] == ns).all()
    assert (mine["latency_ns"] > 0).all()


def test_mountsnoop_shows_the_calls_like_bcc(vfs_run):
    out, pid, mnt, _, _ = vfs_run
    lines = analyze("mountsnoop", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["COMM", "PID", "TID", "MNT_NS", "CALL"]
    rows = lines[1:]
    assert len(rows) == 2 * MOUNTS, lines
    assert rows[0].endswith(
        f'mount("ktape-vfs", "{mnt}", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") = 0')
    assert rows[1].endswith(f'umount("{mnt}", 0x0) = 0')
    assert all(int(r.split()[1]) == pid for r in rows)
    j = analyze_json("mountsnoop", "-p", pid, out)
    assert len(j["rows"]) == 2 * MOUNTS and j["loss"]["total"] == 0


def test_failed_stats_are_41_rows(vfs_run):
    out, pid, _, missing, _ = vfs_run
    t = pq.read_table(out / "stat").to_pandas()
    mine = t[t["path"].astype(str) == missing]
    assert len(mine) == FAILED_STATS, mine
    assert (mine["tgid"] == pid).all() and (mine["errno"] == 2).all()
    # Python's os.stat is newfstatat(AT_FDCWD, path) or statx on glibc.
    assert set(mine["call"].astype(str)) <= {"newstat", "newfstatat", "statx"}
    assert (mine["dfd"] == -100).all()


def test_statsnoop_failed_only(vfs_run):
    out, pid, _, missing, _ = vfs_run
    lines = analyze("statsnoop", "-x", out).stdout.splitlines()
    assert lines[0].split() == ["PID", "COMM", "FD", "ERR", "PATH"]
    ours = [l.split() for l in lines[1:] if l.endswith(" " + missing)]
    assert len(ours) == FAILED_STATS
    assert all(int(f[0]) == pid and f[2] == "-1" and f[3] == "2" for f in ours)
    assert all(not l.split()[3] == "0" for l in lines[1:]), "-x prints failed calls only"
    t = analyze("statsnoop", "-t", "-p", pid, out).stdout.splitlines()
    assert t[0].split()[0] == "TIME(s)"
    assert sum(l.endswith(" " + missing) for l in t) == FAILED_STATS


def test_syncs_are_seven_rows_and_fsyncs_named(vfs_run):
    out, pid, _, _, fd = vfs_run
    t = pq.read_table(out / "sync").to_pandas()
    mine = t[t["tgid"] == pid]
    calls = list(mine["call"].astype(str))
    assert calls == ["sync"] * SYNCS + ["fsync", "fdatasync"], mine
    assert list(mine["fd"]) == [-1] * SYNCS + [fd, fd]
    lines = analyze("syncsnoop", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["TIME(s)", "PID", "COMM", "CALL"]
    assert [l.split()[-1] for l in lines[1:]] == ["sync()"] * SYNCS + [f"fsync({fd})", f"fdatasync({fd})"]
    j = analyze_json("syncsnoop", "-p", pid, out)
    assert [r["call"] for r in j["rows"]] == calls and j["loss"]["total"] == 0


# ---- a stat storm ------------------------------------------------------------

STORM = 300_000

STORM_CHILD = r"""
import os, sys, time
missing, present = sys.argv[1], sys.argv[2]
sys.stdin.readline()
t0 = time.perf_counter()
for _ in range({n}):
    try:
        os.stat(missing)
    except FileNotFoundError:
        pass
for _ in range(5):
    os.stat(present)
print(time.perf_counter() - t0, flush=True)
"""


def storm(tmp_path_factory, name, extra):
    work = tmp_path_factory.mktemp(name)
    missing = str(work / "storm-missing-ktape")
    present = work / "storm-present-ktape"
    present.write_text("x")
    out = work / "out.parquet"
    child = subprocess.Popen(
        [sys.executable, "-c", STORM_CHILD.format(n=STORM), missing, str(present)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rec = Recorder(out, "stat", extra)
    child.stdin.write("go\n")
    child.stdin.flush()
    secs = float(child.stdout.readline())
    assert child.wait(timeout=300) == 0
    time.sleep(0.3)
    rec.stop()
    print(f"{name}: {STORM} stats in {secs:.2f}s = {STORM / secs:,.0f}/s")
    return out, child.pid, missing, str(present)


def stat_loss(out):
    loss = pq.read_table(out / "loss").to_pandas()
    return int(loss[loss["family"].astype(str) == "stat"]["lost"].sum())


def test_stat_storm_loses_nothing(tmp_path_factory):
    out, pid, missing, present = storm(tmp_path_factory, "storm", ())
    t = pq.read_table(out / "stat", columns=["tgid", "path", "errno"]).to_pandas()
    mine = t[t["tgid"] == pid]
    assert (mine["path"].astype(str) == missing).sum() == STORM
    assert (mine["path"].astype(str) == present).sum() == 5
    assert stat_loss(out) == 0


def test_stat_failed_only_drops_successes_in_the_kernel(tmp_path_factory):
    out, pid, missing, present = storm(tmp_path_factory, "storm_failed", ("--stat-failed-only",))
    t = pq.read_table(out / "stat", columns=["tgid", "path", "errno"]).to_pandas()
    assert (t["errno"] != 0).all(), "only failed calls are recorded"
    mine = t[t["tgid"] == pid]
    assert (mine["path"].astype(str) == missing).sum() == STORM
    assert (mine["path"].astype(str) == present).sum() == 0
    assert stat_loss(out) == 0
