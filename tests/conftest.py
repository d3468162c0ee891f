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
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
                         capture_output=True, text=True).stdout
    return [p.get("name", "") for p in json.loads(out or "[]")
            if p.get("name", "").startswith(prefix)]


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
    leftovers = bpf_programs()
    if leftovers:
        pytest.fail(f"ktape BPF programs are already loaded before the tests: {leftovers}")


class Recorder:
    """A running `ktape-record`, started in the background."""

    def __init__(self, out, events="bio", extra=(), env=None):
        self.out = Path(out)
        self.log = self.out.parent / (self.out.name + ".stderr")
        self.args = [str(RECORD), "-e", events, *extra, str(self.out)]
        self._log = open(self.log, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env)
        self._wait_attached()

    def _wait_attached(self, timeout=30.0):
        # The recorder's programs are attached right after they are loaded;
        # once they show up (and a moment passes) events are being captured.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ktape-record exited early ({self.proc.returncode}): {self.stderr()}")
            if bpf_programs():
                time.sleep(0.3)
                return
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"ktape-record did not attach within {timeout}s: {self.stderr()}")

    def stderr(self):
        self._log.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGINT, timeout=60):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self._log.close()
        assert rc == 0, f"ktape-record exited {rc} after {sig!r}: {self.stderr()}"
        return self.stderr()


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
