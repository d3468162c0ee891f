"""oom end to end: a child in a 32 MiB memory cgroup (v2 when the host
has the memory controller there, else v1) allocates until the OOM killer
kills it; the `oom` table must hold exactly one row naming it, and
oomkill one line. Also the runqlen `idle` column and cpuunclaimed on a
real recording: one CPU kept busy by two pinned spinners while the other
idles must show unclaimed idle time."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

LIMIT = 32 << 20

# Allocates and touches 8 MiB at a time until killed.
HOG = """
import sys
print("ready", flush=True)
sys.stdin.readline()
keep = []
while True:
    b = bytearray(8 << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1
    keep.append(b)
"""


def _v2_root():
    """The cgroup v2 mount where the memory controller can be enabled."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup2":
            root = Path(f[1])
            if "memory" in (root / "cgroup.controllers").read_text().split():
                return root
    return None


def _v1_root():
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup" and "memory" in f[3].split(","):
            return Path(f[1])
    return None


class MemCgroup:
    """A memory cgroup of LIMIT bytes with no swap, v2 or v1."""

    def __init__(self, name):
        v2 = _v2_root()
        if v2 is not None:
            ctl = v2 / "cgroup.subtree_control"
            if "memory" not in ctl.read_text().split():
                ctl.write_text("+memory")
            self.path = v2 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "memory.max").write_text(str(LIMIT))
            swap = self.path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
            self.version = 2
        else:
            v1 = _v1_root()
            assert v1 is not None, "no memory cgroup controller (v1 or v2) on this host"
            self.path = v1 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "memory.limit_in_bytes").write_text(str(LIMIT))
            memsw = self.path / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(str(LIMIT))
            self.version = 1

    def add(self, pid):
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


@pytest.fixture(scope="module")
def oom_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("oom") / "out.parquet"
    cg = MemCgroup(f"ktape-oom-test-{os.getpid()}")
    try:
        # The child joins the cgroup before it execs, so that every page
        # it ever touched is charged there (a task moved in later keeps
        # its earlier pages charged outside, and its rss exceeds LIMIT).
        hog = subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: cg.add(os.getpid()))
        assert hog.stdout.readline().strip() == "ready"
        rec = Recorder(out, "oom")
        hog.stdin.write("go\n")
        hog.stdin.flush()
        assert hog.wait(timeout=60) == -signal.SIGKILL, "the OOM killer did not kill the hog"
        time.sleep(0.5)
        rec.stop()
    finally:
        cg.remove()
    return out, hog.pid


def test_one_row_names_the_victim(oom_run):
    out, hog = oom_run
    t = pq.read_table(out / "oom").to_pandas()
    mine = t[t["victim_tgid"] == hog]
    assert len(mine) == 1, t
    row = mine.iloc[0]
    assert str(row["victim_comm"]).startswith("python")
    # A memcg OOM runs in the charging task: the hog triggered its own kill.
    assert row["tgid"] == hog
    assert row["page_size"] == os.sysconf("SC_PAGESIZE")
    # It was killed near its limit: most of LIMIT is resident anon memory.
    assert LIMIT // 2 < row["anon_rss"] <= LIMIT, row
    assert row["total_vm"] >= row["anon_rss"]
    assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+", row["loadavg"]), row["loadavg"]


def test_oomkill_prints_one_line(oom_run):
    out, hog = oom_run
    text = analyze("oomkill", "-p", str(hog), str(out)).stdout
    lines = [l for l in text.splitlines() if l]
    assert len(lines) == 1, text
    m = re.fullmatch(
        r'\d\d:\d\d:\d\d Triggered by PID (\d+) \("(.+)"\), OOM kill of PID (\d+) \("(.+)"\), '
        r"(\d+) pages, loadavg: (.+)", lines[0])
    assert m, lines[0]
    assert int(m.group(1)) == hog and int(m.group(3)) == hog
    assert m.group(4).startswith("python")
    t = pq.read_table(out / "oom").to_pandas()
    row = t[t["victim_tgid"] == hog].iloc[0]
    assert int(m.group(5)) == row["total_vm"] // row["page_size"]
    j = analyze_json("oomkill", "-p", str(hog), str(out))
    assert len(j["rows"]) == 1 and j["rows"][0]["victim_pid"] == hog
    assert j["rows"][0]["anon_rss"] == row["anon_rss"]
    assert j["loss"]["total"] == 0


SPIN = "import time\nend = time.time() + {secs}\nwhile time.time() < end: pass\n"


@pytest.fixture(scope="module")
def unclaimed_run(tmp_path_factory):
    """Two spinners pinned to CPU 0, nothing else to run on CPU 1: the
    spinner waiting on CPU 0 is unclaimed by idle CPU 1."""
    if os.cpu_count() < 2:
        pytest.fail("cpuunclaimed's test needs two CPUs")
    out = tmp_path_factory.mktemp("runq") / "out.parquet"
    rec = Recorder(out, "runqlen")
    spin = [subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", SPIN.format(secs=3)])
            for _ in range(2)]
    for s in spin:
        assert s.wait(timeout=30) == 0
    rec.stop()
    return out


def test_runqlen_records_idle(unclaimed_run):
    t = pq.read_table(unclaimed_run / "runqlen").to_pandas()
    assert t["idle"].dtype == bool
    # An idle CPU never counts a running task: its len is what is queued.
    assert t["idle"].any() and (~t["idle"]).any()
    busy = t[(t["cpu"] == 0) & ~t["idle"]]
    assert (busy["len"] >= 1).mean() > 0.5, "CPU 0 runs one spinner while the other waits"


def test_cpuunclaimed_sees_the_waiting_spinner(unclaimed_run):
    j = analyze_json("cpuunclaimed", str(unclaimed_run))
    lines = [l for l in j["lines"] if l["groups"] > 0]
    assert lines, j
    assert j["recordings"][0]["cpus"] == os.cpu_count()
    # 99 Hz: about 1 s / 10.1 ms groups per second.
    assert abs(j["recordings"][0]["period_ns"] - 1e9 / 99) < 1e6, j["recordings"]
    total = sum(l["groups"] + l["skipped_groups"] for l in j["lines"])
    skipped = sum(l["skipped_groups"] for l in j["lines"])
    assert skipped <= total * 0.05, (skipped, total)
    # In the spinning seconds CPU 0 runs one spinner, the other waits,
    # CPU 1 is idle (but for this test's own work): close to a half of the
    # CPU-samples are unclaimed idle, and %CPU is close to a half too.
    peak = max(lines, key=lambda l: l["unclaimed_pct"])
    assert peak["unclaimed_pct"] > 30, lines
    assert 40 < peak["cpu_pct"] < 80, peak
    text = analyze("cpuunclaimed", str(unclaimed_run)).stdout
    assert re.search(r"^%CPU +\d+\.\d\d%, unclaimed idle \d+\.\d\d%$", text, re.M), text
