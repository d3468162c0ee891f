"""Shared helpers for ktape's end-to-end tests.

These tests record real kernel activity on this machine, so they need root
and a kernel that accepts BPF. They never skip: on a machine where BPF is
unavailable they fail and say why.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("KTAPE_BIN", REPO / "target" / "release"))
RECORD = BIN / "ktape-record"
ANALYZE = BIN / "ktape-analyze"


def bpf_programs(prefix="ktape_"):
    """Names of loaded BPF programs that start with `prefix`."""
    return [p["name"] for p in _progs() if p.get("name", "").startswith(prefix)]


def _progs():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out or "[]")


def prog_ids_alive(ids):
    """The subset of BPF program ids that are still loaded."""
    loaded = {p["id"] for p in _progs()}
    return sorted(set(ids) & loaded)


def bpf_fds(pid):
    """(program ids, number of attached links) held by a process's fds."""
    progs, links = set(), 0
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in list(fd_dir.iterdir()) if fd_dir.exists() else []:
        try:
            target = os.readlink(fd)
            if "bpf" not in target:
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        if "prog_id" in fields:
            progs.add(int(fields["prog_id"]))
        if "bpf_link" in target:
            links += 1
    return progs, links


@pytest.fixture(scope="session", autouse=True)
def bpf_available():
    """Fail loudly, once, when this machine cannot run the recorder."""
    for exe in (RECORD, ANALYZE):
        if not exe.exists():
            pytest.fail(f"{exe} is missing: run `make build` first")
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests record with BPF and must run as root")
    if not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.fail("no /sys/kernel/btf/vmlinux: this kernel has no BTF, BPF tests cannot run")


class Recorder:
    """A running `ktape-record`, started in the background."""

    def __init__(self, out, events="bio", extra=(), env=None):
        self.out = Path(out)
        self.log = self.out.parent / (self.out.name + ".stderr")
        self.prog_ids = set()
        self.args = [str(RECORD), "-e", events, *extra, str(self.out)]
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env)
        self._wait_attached()

    def _wait_attached(self, timeout=30.0):
        # The recorder says "recording ..." once every program is attached
        # and the kernel counters' first snapshot is taken: from then on
        # what happens is both recorded and counted. With -q it says
        # nothing, so then the first BPF link (of our own process: other
        # recorders on the machine stay out of it) and a pause stand in;
        # on a loaded machine the other links can take longer than that.
        quiet = "-q" in self.args or "--quiet" in self.args
        deadline = time.monotonic() + timeout
        progs = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ktape-record exited early ({self.proc.returncode}): {self.stderr()}")
            p, links = bpf_fds(self.proc.pid)
            progs |= p
            if not quiet and "ktape-record: recording " in self.stderr():
                self.prog_ids = progs | bpf_fds(self.proc.pid)[0]
                return
            if quiet and links:
                time.sleep(0.3)
                self.prog_ids = progs | bpf_fds(self.proc.pid)[0]
                return
            time.sleep(0.02)
        self.proc.kill()
        raise AssertionError(f"ktape-record did not attach within {timeout}s: {self.stderr()}")

    def stderr(self):
        if not self._log.closed:
            self._log.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGINT, timeout=60):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self._log.close()
        assert rc == 0, f"ktape-record exited {rc} after {sig!r}: {self.stderr()}"
        self.assert_nothing_left()
        return self.stderr()

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout=timeout)
        self._log.close()
        self.assert_nothing_left()
        return rc

    def assert_nothing_left(self):
        left = prog_ids_alive(self.prog_ids)
        assert not left, f"BPF programs {left} of ktape-record stay loaded after it exited"


def analyze(*args, check=True):
    """Runs ktape-analyze; returns the CompletedProcess."""
    p = subprocess.run([str(ANALYZE), *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"ktape-analyze {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}")
    return p


def analyze_json(*args):
    return json.loads(analyze(*args, "--json").stdout)


def on_root_disk(tmp_path_factory, name):
    """A scratch directory on the root filesystem (block I/O tests need a
    real disk, not tmpfs)."""
    d = tmp_path_factory.mktemp(name)
    if os.stat(d).st_dev != os.stat("/").st_dev:
        d = Path("/var/tmp") / f"ktape-{name}-{os.getpid()}"
        d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def spark():
    """A local Spark session, stopped at the end of the module that used it:
    a JVM left running made later loopback retransmit tests see no
    retransmits. `ts` is read as int64 ns, on purpose: see
    formats/sql/README.md."""
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
