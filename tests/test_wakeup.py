"""wakeup end to end: two processes of unique names ping-pong over pipes
while `-e wakeup` records; offwaketime must name the writer as the
reader's waker, with the reader blocked in the pipe read and the writer
waking it from the pipe write; wakeuptime's totals must be the table's
blocked time (DuckDB); the offwake flame graph must hold both names.

The program is C built here with frame pointers, so user stacks walk."""

import os
import subprocess
import time
import xml.etree.ElementTree as ET

import duckdb
import pytest

from conftest import Recorder, analyze, analyze_json

ROUNDS = 300
MIN_BLOCK_US = 200

# The writer writes a byte to `down`, waits for the reader's ack on `up`,
# then sleeps 2 ms, so that the reader is asleep in read(down) at every
# write: each write wakes it once, after more than MIN_BLOCK_US.
PINGPONG_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) void reader_loop(int in, int out, int n) {
    char c;
    for (int i = 0; i < n; i++) {
        if (read(in, &c, 1) != 1) exit(3);
        if (write(out, &c, 1) != 1) exit(4);
    }
}
__attribute__((noinline)) void writer_loop(int out, int in, int n) {
    struct timespec ts = {0, 2 * 1000 * 1000};
    char c = 'x';
    for (int i = 0; i < n; i++) {
        nanosleep(&ts, 0);
        if (write(out, &c, 1) != 1) exit(5);
        if (read(in, &c, 1) != 1) exit(6);
    }
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]), down[2], up[2];
    if (pipe(down) || pipe(up)) return 1;
    char go;
    if (read(0, &go, 1) != 1) return 2;
    pid_t r = fork();
    if (r == 0) {
        prctl(PR_SET_NAME, argv[2]);
        reader_loop(down[0], up[1], n);
        return 0;
    }
    pid_t w = fork();
    if (w == 0) {
        prctl(PR_SET_NAME, argv[3]);
        writer_loop(down[1], up[0], n);
        return 0;
    }
    printf("%d %d\n", r, w);
    fflush(stdout);
    int st, ok = 1;
    waitpid(r, &st, 0); ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    waitpid(w, &st, 0); ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    return ok ? 0 : 7;
}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("wakeup")
    src = d / "pingpong.c"
    src.write_text(PINGPONG_C)
    exe = d / "pingpong"
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", str(exe), str(src)], check=True)
    tag = os.getpid() % 100000
    reader, writer = f"ktwr{tag}", f"ktww{tag}"
    out = d / "out.parquet"
    prog = subprocess.Popen([str(exe), str(ROUNDS), reader, writer], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    rec = Recorder(out, "wakeup", extra=["--wakeup-min-block", f"{MIN_BLOCK_US}us"])
    prog.stdin.write("g")
    prog.stdin.flush()
    rpid, wpid = map(int, prog.stdout.readline().split())
    assert prog.wait(timeout=60) == 0
    time.sleep(0.3)
    rec.stop()
    return out, reader, writer, rpid, wpid, d


def con(out):
    c = duckdb.connect()
    c.execute(f"CREATE VIEW wakeup AS SELECT * FROM read_parquet('{out}/wakeup/*.parquet')")
    return c


def test_the_kernel_threshold_holds(run):
    out = run[0]
    lo, n = con(out).execute("SELECT min(blocked_ns), count(*) FROM wakeup").fetchone()
    assert n > 0
    assert lo >= MIN_BLOCK_US * 1000, lo


def test_rows_name_the_writer_as_the_readers_waker(run):
    out, reader, writer, rpid, wpid, _ = run
    c = con(out)
    n = c.execute("SELECT count(*) FROM wakeup WHERE pid = ? AND waker_pid = ?",
                  [rpid, wpid]).fetchone()[0]
    # The reader only ever sleeps in read(down), which only the writer fills.
    wakers = c.execute("SELECT list(DISTINCT waker_comm) FROM wakeup WHERE pid = ?",
                       [rpid]).fetchone()[0]
    # Every write finds the reader asleep (2 ms after its ack); a write on a
    # loaded machine may find it not yet asleep again, hence the slack.
    assert 0.9 * ROUNDS <= n <= ROUNDS, n
    assert wakers == [writer]
    comms = c.execute("SELECT list(DISTINCT comm) FROM wakeup WHERE pid = ?", [rpid]).fetchone()[0]
    assert comms == [reader]
    # Nothing lost to full rings.
    lost = c.execute(
        f"SELECT coalesce(sum(lost), 0) FROM read_parquet('{out}/loss/*.parquet') "
        "WHERE family = 'wakeup' AND reason = 'ringbuf_full'").fetchone()[0]
    assert lost == 0


def test_offwaketime_shows_the_pipe_on_both_sides(run):
    out, reader, writer, rpid, wpid, _ = run
    js = analyze_json("offwaketime", "-t", rpid, out)
    pairs = [p for p in js["pairs"] if p["waker_comm"] == writer]
    assert pairs, js["pairs"]
    top = max(pairs, key=lambda p: p["value"])
    assert top["comm"] == reader and top["pid"] == rpid and top["waker_pid"] == wpid
    assert any("pipe_read" in f for f in top["kernel"]), top["kernel"]
    assert any("schedule" in f for f in top["kernel"]), top["kernel"]
    assert any("pipe_write" in f for f in top["waker_kernel"]), top["waker_kernel"]
    # libc's read and write keep no frame pointer, so the frame-pointer
    # walk skips their callers (reader_loop, writer_loop) but reaches main.
    assert "main" in top["user"], top["user"]
    assert "main" in top["waker_user"], top["waker_user"]
    folded = analyze("offwaketime", "-f", "-t", rpid, out).stdout.splitlines()
    mine = [l for l in folded if l.startswith(f"{reader};") and l.rsplit(" ", 1)[0].endswith(f";{writer}")]
    assert mine, folded
    line = max(mine, key=lambda l: int(l.rsplit(" ", 1)[1]))
    blocked, waker = line.split(";--;")
    assert ";main;" in blocked and "pipe_read" in blocked, line
    assert "pipe_write" in waker and ";main;" in waker, line
    # The blocked stack root first, the waker's leaf first, as bcc.
    assert blocked.index(";main;") < blocked.index("pipe_read")
    assert waker.index("pipe_write") < waker.index(";main;")
    text = analyze("offwaketime", "-t", rpid, out).stdout
    assert f"    waker:           {writer} {wpid}\n" in text, text
    assert f"    target:          {reader} {rpid}\n" in text, text


def test_wakeuptime_totals_are_the_tables(run):
    out, reader, writer, rpid, wpid, _ = run
    want = dict(((w, t), us) for w, t, us in con(out).execute(
        "SELECT waker_comm, comm, sum(blocked_ns // 1000) FROM wakeup "
        "WHERE tgid = ? GROUP BY ALL", [rpid]).fetchall())
    js = analyze_json("wakeuptime", "-p", rpid, out)
    got = {}
    for p in js["pairs"]:
        got[(p["waker_comm"], p["comm"])] = got.get((p["waker_comm"], p["comm"]), 0) + p["value"]
    assert got == want
    assert want[(writer, reader)] >= 0.9 * ROUNDS * MIN_BLOCK_US
    folded = analyze("wakeuptime", "-f", "-p", rpid, out).stdout.splitlines()
    total = sum(int(l.rsplit(" ", 1)[1]) for l in folded
                if l.startswith(f"{writer};") and l.rsplit(" ", 1)[0].endswith(f";{reader}"))
    assert total == want[(writer, reader)]
    assert any("pipe_write" in l for l in folded)
    text = analyze("wakeuptime", "-p", rpid, out).stdout
    assert f"    target:          {reader}\n" in text and f"    waker:           {writer}\n" in text


def test_offwake_flamegraph_holds_both_names(run):
    out, reader, writer, rpid, wpid, d = run
    svg = d / "offwake.svg"
    analyze("flamegraph", "--type", "offwake", "-o", svg, "-p", rpid, out)
    root = ET.parse(svg).getroot()
    names = " ".join(t.text for t in root.iter("{http://www.w3.org/2000/svg}title") if t.text)
    for f in (reader, writer, "pipe_read", "pipe_write", "--"):
        assert f in names, f
