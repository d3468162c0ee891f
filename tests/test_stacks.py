"""End to end: -e profile and -e offcpu on real processes, symbolized while
recording, analyzed after the processes are gone and the recording moved.

The test programs are C built here with frame pointers (-O0
-fno-omit-frame-pointer): offcpu's stacks are walked by the kernel with
them (profile's are unwound from .eh_frame: see test_unwind.py)."""

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from conftest import BIN, Recorder, analyze, analyze_json

SPIN_C = r"""
#include <stdlib.h>
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void inner(void) { for (unsigned long i = 0; i < 100000; i++) sink += i; }
__attribute__((noinline)) void middle(void) { inner(); }
__attribute__((noinline)) void outer(void) { middle(); }
int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 3;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (;;) {
        outer();
        clock_gettime(CLOCK_MONOTONIC, &b);
        if ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 > secs) break;
    }
    return 0;
}
"""

SLEEPER_C = r"""
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec ts = {0, 10 * 1000 * 1000}, a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 100; i++) nanosleep(&ts, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* The loop's wall time in µs: its off-CPU time cannot exceed it. */
    printf("%lld\n", (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000);
    return 0;
}
"""


def build(tmp_path, name, src):
    c = tmp_path / f"{name}.c"
    c.write_text(src)
    exe = tmp_path / name
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", str(exe), str(c)], check=True)
    return exe


def folded_lines(*args):
    out = analyze("profile", "-f", *args).stdout
    return [l.rsplit(" ", 1) for l in out.splitlines() if l.strip()]


def svg_names(path):
    root = ET.parse(path).getroot()  # fails on invalid XML
    return {t.text for t in root.iter("{http://www.w3.org/2000/svg}title") if t.text}


def test_profile_names_survive_exit_and_move(tmp_path):
    spin = build(tmp_path, "spinner", SPIN_C)
    prog = subprocess.Popen([str(spin), "4.5"])
    rec = tmp_path / "cpu.parquet"
    r = Recorder(rec, events="profile", extra=["-d", "3", "-q"])
    assert r.wait() == 0, r.stderr()
    assert "distinct stacks, each symbolized once" not in r.stderr()  # -q
    prog.wait(timeout=30)

    def check(recording):
        lines = folded_lines("-p", prog.pid, recording)
        assert lines, "no samples of the spinner"
        hot = [(s, int(n)) for s, n in lines if "outer;middle;inner" in s]
        assert hot, lines
        assert all(s.startswith("spinner;") for s, _ in hot)
        total = sum(int(n) for _, n in lines)
        # 3 s at 49 Hz of one busy thread is at most ~150 samples (fewer when
        # the shared machine's other work takes the CPU); nearly all in inner.
        assert 15 <= total <= 160, total
        assert sum(n for _, n in hot) >= 0.8 * total
        svg = tmp_path / "cpu.svg"
        analyze("flamegraph", "-o", svg, "-p", prog.pid, recording)
        names = " ".join(svg_names(svg))
        for f in ("outer", "middle", "inner", "spinner"):
            assert f in names, f
        title = ET.parse(svg).getroot().find(".//{http://www.w3.org/2000/svg}text[@id='title']")
        assert title is not None and "samples" in title.text and "lost" in title.text, title.text

    check(rec)
    # The FlameScope-style map counts each of the spinner's samples in its
    # second and 20 ms offset, as DuckDB does.
    j = analyze_json("heatmap", "--of", "profile", "-p", prog.pid, rec)
    assert j["scale"] == "offset" and j["step_ns"] == 10**9
    start = pd.Timestamp(j["from"]).value
    got = {((pd.Timestamp(c["time"]).value - start) // 10**9, c["slot"]): c["count"]
           for c in j["maps"][0]["cells"]}
    want = {(sec, row): n for sec, row, n in duckdb.sql(f"""
        SELECT (epoch_ns(ts) - {start}) // 1000000000 AS sec,
               ((epoch_ns(ts) - {start}) % 1000000000) // 20000000 AS row, count(*)
        FROM read_parquet('{rec}/profile/*.parquet') WHERE tgid = {prog.pid}
        GROUP BY ALL""").fetchall()}
    assert got == want and sum(got.values()) > 0
    svg = tmp_path / "scope.svg"
    analyze("heatmap", "--of", "profile", "-o", svg, rec)
    titles = [t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}title")]
    assert any("flamegraph --from +" in t for t in titles), titles[:5]
    # The process is gone and so is its binary; the recording moves away.
    spin.unlink()
    moved = tmp_path / "elsewhere" / "moved.parquet"
    moved.parent.mkdir()
    shutil.move(str(rec), str(moved))
    check(moved)


def test_offcputime_of_a_sleeper(tmp_path):
    sleeper = build(tmp_path, "sleeper", SLEEPER_C)
    rec = tmp_path / "off.parquet"
    r = Recorder(rec, events="offcpu", extra=["-q"])
    prog = subprocess.Popen([str(sleeper)], stdout=subprocess.PIPE, text=True)
    loop_us = int(prog.communicate(timeout=30)[0])
    assert prog.returncode == 0
    time.sleep(0.2)
    r.stop()
    js = analyze_json("offcputime", "-p", prog.pid, rec)
    through_schedule = [s for s in js["stacks"] if "schedule" in s["kernel"]]
    assert through_schedule, js["stacks"]
    sleeps = [s for s in through_schedule if any("nanosleep" in f for f in s["kernel"])]
    total_us = sum(s["value"] for s in sleeps)
    # 100 sleeps of at least 10 ms each, within the loop's wall time (more
    # than 1 s on a loaded machine: a woken sleeper waits for a CPU).
    assert 0.95e6 <= total_us <= loop_us, (total_us, loop_us, sleeps)
    # Every nanosleep episode is ~10 ms: -M 5000 (µs) leaves them all out,
    # -m 5000 keeps them.
    assert "do_nanosleep" not in analyze("offcputime", "-M", "5000", "-p", prog.pid, rec).stdout
    text = analyze("offcputime", "-K", "-m", "5000", "-p", prog.pid, rec).stdout
    assert "    schedule\n" in text and f"sleeper ({prog.pid})" in text, text
    assert "bpf_prog" not in text, "tracing frames are trimmed from the top"
    assert text.splitlines()[0].strip() == "__schedule", text
    folded = analyze("offcputime", "-f", "-p", prog.pid, rec).stdout
    assert any(l.startswith("sleeper;") and ";schedule" in l for l in folded.splitlines()), folded
    svg = tmp_path / "off.svg"
    analyze("flamegraph", "--type", "offcpu", "-o", svg, "-p", prog.pid, rec)
    assert "schedule" in " ".join(svg_names(svg))
    # The off-CPU heat map holds every episode of the sleeper's, and (as
    # above, an episode may be lost to the stack map) its 100 sleeps of 10 ms
    # and a little more in the 8192 -> 16383 and 16384 -> 32767 µs rows.
    j = analyze_json("heatmap", "--of", "offcpu", "-p", prog.pid, rec)
    rows = pq.read_table(rec / "offcpu").to_pandas()
    assert j["maps"][0]["total"] == int((rows["tgid"] == prog.pid).sum())
    assert sum(c["count"] for c in j["maps"][0]["cells"] if c["slot"] in (13, 14)) >= 95


def top_leaf(folded, comm):
    best = {}
    for line in folded.splitlines():
        if not line.startswith(comm + ";"):
            continue
        stack, n = line.rsplit(" ", 1)
        leaf = stack.split(";")[-1]
        best[leaf] = best.get(leaf, 0) + int(n)
    assert best, f"no {comm} stacks in:\n{folded[:2000]}"
    return max(best, key=best.get)


def test_same_top_function_as_perf(tmp_path):
    collapse = BIN / "examples" / "collapse_perf"
    assert collapse.exists(), f"{collapse} is missing: cargo build --release --examples"
    spin = build(tmp_path, "spinner", SPIN_C)
    prog = subprocess.Popen([str(spin), "5"])
    rec = tmp_path / "cpu.parquet"
    r = Recorder(rec, events="profile", extra=["-d", "3", "-q"])
    data = tmp_path / "perf.data"
    subprocess.run(["perf", "record", "-q", "-F", "49", "-a", "-g", "-o", str(data), "--", "sleep", "3"],
                   check=True, capture_output=True)
    assert r.wait() == 0
    prog.wait(timeout=30)
    script = subprocess.run(["perf", "script", "-i", str(data)], check=True, capture_output=True).stdout
    perf_folded = subprocess.run([str(collapse)], input=script, check=True, capture_output=True).stdout.decode()
    ours = analyze("profile", "-f", "-U", "-p", prog.pid, rec).stdout
    assert top_leaf(ours, "spinner") == top_leaf(perf_folded, "spinner") == "inner"
