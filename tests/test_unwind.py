"""End to end: complete user stacks on binaries without frame pointers.

`-e profile` copies the top of each sampled user stack and unwinds it with
the binaries' .eh_frame while recording (`--call-graph dwarf`, the
default). These tests sample real programs built without frame pointers
(a C chain with a frameless leaf, Debian's own python3 and xz) and compare
with `perf record --call-graph dwarf` on the same run. Names of libc's
internal functions come from libc6-dbg's debug files, found by build id."""

import re
import shutil
import subprocess
from pathlib import Path

import duckdb

from conftest import RECORD, Recorder, analyze

CHAIN_C = r"""
#include <stdlib.h>
#include <time.h>
volatile unsigned long sink;
/* gamma is a leaf: at -O2 gcc gives it no frame, so a frame-pointer walk
 * from it skips beta. */
__attribute__((noinline)) void gamma_(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void beta(unsigned long n) { gamma_(n); sink++; }
__attribute__((noinline)) void alpha(unsigned long n) { beta(n); sink++; }
int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 3;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        alpha(1000000);
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < secs);
    return 0;
}
"""

RECURSE_PY = r"""
import sys, time
sys.setrecursionlimit(10000)
def f(n):
    if n == 0:
        t = 0
        for i in range(2000):
            t += i
        return t
    return f(n - 1)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    f(200)
"""

# Debian's python3 (built -O2 without frame pointers), not a pyenv build
# that may come first on PATH.
PYTHON = "/usr/bin/python3"


def folded(rec, pid):
    out = analyze("profile", "-f", "-p", pid, rec).stdout
    return [(s, int(n)) for s, n in (l.rsplit(" ", 1) for l in out.splitlines() if l.strip())]


def share(lines, pattern):
    total = sum(n for _, n in lines)
    return sum(n for s, n in lines if re.search(pattern, s)) / total, total


def mean_depth(lines):
    # Frames below the comm, kernel ones included (as perf script lists).
    total = sum(n for _, n in lines)
    return sum(n * (s.count(";")) for s, n in lines) / total


def perf_script_stacks(data):
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    return [b.split("\n") for b in out.strip().split("\n\n") if b.strip()]


def record_with_perf(tmp_path, argv, hz, secs=3):
    """Samples one run of `argv` with ktape and perf at once; returns the
    recording, the pid, and perf's stacks."""
    prog = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    rec = tmp_path / "u.parquet"
    r = Recorder(rec, events="profile", extra=["-F", str(hz), "-p", str(prog.pid), "-q"])
    data = tmp_path / "perf.data"
    perf = subprocess.run(["perf", "record", "-q", "-F", str(hz), "--call-graph", "dwarf",
                           "-p", str(prog.pid), "-o", str(data), "--", "sleep", str(secs)],
                          capture_output=True, text=True)
    assert perf.returncode == 0, perf.stderr
    r.stop()
    prog.kill()
    prog.wait()
    return rec, prog.pid, perf_script_stacks(data)


def sample_chain(tmp_path, name, cflags, secs, extra):
    """Builds CHAIN_C as `name` with `cflags`, runs it for `secs` and
    records 2 s of its samples with `extra` options; returns the binary,
    the recording and the pid."""
    c = tmp_path / f"{name}.c"
    c.write_text(CHAIN_C)
    exe = tmp_path / name
    subprocess.run(["gcc", *cflags, "-o", str(exe), str(c)], check=True)
    prog = subprocess.Popen([str(exe), str(secs)])
    rec = tmp_path / f"{name}.parquet"
    r = Recorder(rec, events="profile", extra=[*extra, "-p", str(prog.pid), "-d", "2", "-q"])
    assert r.wait() == 0, r.stderr()
    prog.wait(timeout=30)
    return exe, rec, prog.pid


def test_frameless_leaf_keeps_its_caller(tmp_path):
    exe, rec, pid = sample_chain(tmp_path, "chain", ["-O2", "-fomit-frame-pointer"], 4, ["-F", "499"])
    exe.unlink()  # names were taken while recording
    lines = folded(rec, pid)
    got, total = share(lines, r";main;alpha;beta;gamma_( |;|$)")
    assert total >= 200, lines
    assert got >= 0.9, (got, sorted(lines, key=lambda l: -l[1])[:5])
    # And down to the C runtime, named from libc6-dbg.
    got, _ = share(lines, r"^chain;_start;__libc_start_main_impl;__libc_start_call_main;main;")
    assert got >= 0.9, got


def test_frame_pointer_mode_still_walks_frame_pointers(tmp_path):
    _, rec, pid = sample_chain(tmp_path, "fp", ["-O0", "-fno-omit-frame-pointer"], 3,
                               ["--call-graph", "fp", "-F", "199"])
    got, total = share(folded(rec, pid), r"alpha;beta;gamma_")
    assert total >= 50 and got >= 0.8, (got, total)


def test_bad_call_graph_is_refused_with_the_choices():
    p = subprocess.run([str(RECORD),
                        "-e", "profile", "--call-graph", "lbr", "/tmp/never.parquet"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "fp, dwarf or dwarf,SIZE" in p.stderr, p.stderr
    assert not Path("/tmp/never.parquet").exists()


def test_python_unwinds_to_main_like_perf_dwarf(tmp_path):
    script = tmp_path / "recurse.py"
    script.write_text(RECURSE_PY)
    rec, pid, perf = record_with_perf(tmp_path, [PYTHON, str(script), "6"], 499, secs=4)
    lines = folded(rec, pid)
    got, total = share(lines, r";__libc_start_call_main;")
    assert total >= 500, total
    assert got >= 0.8, (got, sorted(lines, key=lambda l: -l[1])[:5])
    assert any("_PyEval_EvalFrameDefault" in s for s, _ in lines)
    perf_depth = sum(len(s) for s in perf) / len(perf)
    depth = mean_depth(lines)
    assert abs(depth - perf_depth) <= 0.1 * perf_depth, (depth, perf_depth)


def test_xz_loses_no_stack_at_999_hz(tmp_path):
    data = tmp_path / "random.bin"
    with open(data, "wb") as f:
        f.write(Path("/dev/urandom").open("rb").read(48 << 20))
    xz = shutil.which("xz")
    rec, pid, perf = record_with_perf(tmp_path, [xz, "-9", "-T1", "-c", str(data)], 999)
    rows = duckdb.sql(f"""
        SELECT count(*), count(*) FILTER (WHERE ustack_id < 0)
        FROM read_parquet('{rec}/profile/*.parquet') WHERE tgid = {pid}""").fetchall()[0]
    assert rows[0] >= 1500, rows
    assert rows[1] == 0, f"{rows[1]} of {rows[0]} samples have no user stack"
    lost = duckdb.sql(f"""
        SELECT coalesce(sum(lost), 0) FROM read_parquet('{rec}/loss/*.parquet')
        WHERE family = 'profile'""").fetchall()[0][0]
    assert lost == 0, lost
    lines = folded(rec, pid)
    got, _ = share(lines, r";__libc_start_call_main;")
    perf_got = sum(any("__libc_start_call_main" in f for f in s) for s in perf) / len(perf)
    assert got >= 0.9 and got >= perf_got - 0.05, (got, perf_got)


def test_frames_are_functions_never_data(tmp_path):
    script = tmp_path / "recurse.py"
    script.write_text(RECURSE_PY)
    prog = subprocess.Popen([PYTHON, str(script), "4"])
    rec = tmp_path / "py.parquet"
    # Frame pointers through a binary built without them: junk frames
    # that land in data must stay unnamed (module+offset).
    r = Recorder(rec, events="profile",
                 extra=["--call-graph", "fp", "-F", "499", "-p", str(prog.pid), "-d", "2", "-q"])
    assert r.wait() == 0, r.stderr()
    prog.wait(timeout=30)
    frames = duckdb.sql(f"""
        SELECT DISTINCT f.function, f.module FROM (
            SELECT unnest(function) AS function, unnest(module) AS module
            FROM read_parquet('{rec}/stacks/*.parquet') WHERE kind = 'user') f""").fetchall()
    assert frames
    for module in {m for _, m in frames if m}:
        syms = subprocess.run(["readelf", "-sW", "--dyn-syms", module],
                              capture_output=True, text=True).stdout
        objects = {l.split()[-1] for l in syms.splitlines() if " OBJECT " in l}
        funcs = {l.split()[-1] for l in syms.splitlines() if " FUNC " in l}
        named = {f for f, m in frames if m == module}
        bad = named & (objects - funcs)
        assert not bad, f"{module}: frames named after data symbols {bad}"
