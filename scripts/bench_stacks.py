#!/usr/bin/env python3
"""Cost of complete stacks: `-e profile` at several rates, dwarf vs fp.

Two CPU-bound programs built without frame pointers run pinned one per
CPU (Debian's python3 in a recursive function, and xz -9 on random data);
ktape-record samples them for --secs at each rate with each call-graph
mode. Per sample it prints the recorder's own CPU (user + system, all its
threads, from wait4's rusage: unwinding and symbolization included), the
bytes on disk (profile and stacks tables), and the share of samples whose
user stack reaches libc's __libc_start_call_main (i.e. main)."""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("KTAPE_BIN", ROOT / "target" / "release"))

RECURSE = """
import sys, time
sys.setrecursionlimit(10000)
def f(n):
    if n == 0:
        return sum(range(2000))
    return f(n - 1)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    f(200)
"""


def tree_bytes(d):
    return sum(p.stat().st_size for p in Path(d).rglob("*.parquet"))


def one(tmp, hz, mode, secs):
    script = tmp / "recurse.py"
    script.write_text(RECURSE)
    data = tmp / "random.bin"
    if not data.exists():
        data.write_bytes(os.urandom(64 << 20))
    loads = [
        subprocess.Popen(["taskset", "-c", "0", "/usr/bin/python3", str(script), str(secs + 5)]),
        subprocess.Popen(["taskset", "-c", "1", "xz", "-9", "-T1", "-c", str(data)],
                         stdout=subprocess.DEVNULL),
    ]
    out = tmp / f"p{hz}{mode}.parquet"
    time.sleep(0.5)
    rec = subprocess.Popen([str(BIN / "ktape-record"), "-e", "profile", "-F", str(hz),
                            "--call-graph", mode, "-d", str(secs), "-q", "--force", str(out)])
    _, status, ru = os.wait4(rec.pid, 0)
    for p in loads:
        p.kill()
        p.wait()
    if status != 0:
        sys.exit(f"ktape-record exited {status}")
    cpu = ru.ru_utime + ru.ru_stime
    folded = subprocess.run([str(BIN / "ktape-analyze"), "profile", "-f", str(out)],
                            capture_output=True, text=True, check=True).stdout
    rows = main = 0
    for line in folded.splitlines():
        stack, n = line.rsplit(" ", 1)
        if stack.startswith(("python3;", "xz;")):
            rows += int(n)
            main += int(n) if ";__libc_start_call_main;" in stack else 0
    total = sum(int(l.rsplit(" ", 1)[1]) for l in folded.splitlines() if l.strip())
    disk = tree_bytes(out / "profile") + tree_bytes(out / "stacks")
    return total, cpu, disk, main / max(rows, 1)


def run(secs, rates):
    """One row per (rate, mode): (hz, mode, samples, µs CPU/sample, bytes/sample, share to main)."""
    rows = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as t:
        for hz in rates:
            for mode in ("dwarf", "fp"):
                n, cpu, disk, share = one(Path(t), hz, mode, secs)
                rows.append((hz, mode, n, cpu / n * 1e6, disk / n, share))
    return rows


def print_table(rows):
    print("profile stacks (python3 + xz, no frame pointers, one per CPU):")
    print(f"{'Hz':>5} {'mode':>6} {'samples':>8} {'µs CPU/sample':>14} {'bytes/sample':>13} {'to main':>8}")
    for hz, mode, n, us, b, share in rows:
        print(f"{hz:>5} {mode:>6} {n:>8} {us:>14.1f} {b:>13.1f} {share:>8.1%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--rates", default="49,499,999")
    a = ap.parse_args()
    print_table(run(a.secs, [int(r) for r in a.rates.split(",")]))


if __name__ == "__main__":
    main()
