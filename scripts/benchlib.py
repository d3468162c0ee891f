"""What both halves of `make bench` (bench.py's per-family figures and
bench_peer.py's side-by-side run) measure with: the sched load, a
process's CPU time, and waiting until a recorder holds its hooks."""

import os
import subprocess
import sys
import time
from pathlib import Path


def pipe_load(loops):
    """`perf bench sched pipe` pinned to each of the first two CPUs: two
    tasks per CPU ping-pong through a pipe, a context switch and a wakeup
    per message."""
    procs = [subprocess.Popen(["taskset", "-c", str(cpu), "perf", "bench", "sched", "pipe",
                               "-l", str(loops)], stdout=subprocess.DEVNULL)
             for cpu in range(min(2, os.cpu_count() or 1))]
    for p in procs:
        p.wait()


def cpu_ns(pid):
    """CPU time of every thread of a process so far, in ns (schedstat is
    exact, unlike the 10 ms ticks of /proc/PID/stat)."""
    total = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((t / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total


def wait_holding(proc, what, timeout=30):
    """Waits until the process holds a file descriptor whose link names
    `what` (`bpf_link`: its hooks are attached; `perf_event`: perf is
    counting), then a little more for the first events to flow."""
    name = Path(proc.args[0]).name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited early with {proc.returncode}")
        try:
            if any(what in os.readlink(fd) for fd in Path(f"/proc/{proc.pid}/fd").iterdir()):
                time.sleep(0.3)
                return
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit(f"{name} did not start recording")
