"""signal end to end: send known signals (17 SIGUSR1 to a child with a
handler, a kill of a pid that cannot exist) and provoke one the kernel
sends (a child's SIGSEGV), then check the `signal` table and killsnoop
(text and --json)."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

SENT = 17
# Beyond any pid_max (at most 2^22), so kill() fails with ESRCH.
NO_SUCH_PID = 99_999_999

HANDLER_CHILD = """
import signal, sys
got = 0
def on_usr1(*_):
    global got
    got += 1
signal.signal(signal.SIGUSR1, on_usr1)
print("ready", flush=True)
sys.stdin.readline()
print(got, flush=True)
"""

SEGV_CHILD = "import ctypes; ctypes.string_at(0)"


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("signal") / "out.parquet"
    child = subprocess.Popen([sys.executable, "-c", HANDLER_CHILD],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    rec = Recorder(out, "signal")
    for _ in range(SENT):
        os.kill(child.pid, signal.SIGUSR1)
        # One at a time, so that the child's handler counts each (pending
        # signals of one number merge; the calls are 17 either way).
        time.sleep(0.01)
    with pytest.raises(ProcessLookupError):
        os.kill(NO_SUCH_PID, signal.SIGTERM)
    segv = subprocess.Popen([sys.executable, "-c", SEGV_CHILD])
    assert segv.wait(timeout=30) == -signal.SIGSEGV
    child.stdin.write("done\n")
    child.stdin.flush()
    got = int(child.stdout.readline())
    assert child.wait(timeout=30) == 0
    time.sleep(0.3)
    rec.stop()
    return out, child.pid, got, segv.pid


def test_seventeen_kills_are_seventeen_rows(signal_run):
    out, child, got, _ = signal_run
    assert got >= 1
    t = pq.read_table(out / "signal").to_pandas()
    mine = t[(t["tgid"] == os.getpid()) & (t["target"] == child) & (t["sig"] == signal.SIGUSR1)]
    assert len(mine) == SENT, mine
    assert (mine["source"].astype(str) == "kill").all()
    assert (mine["ret"] == 0).all() and (mine["generated"] == 1).all()
    assert (mine["target_tgid"] == child).all()
    assert (mine["target_comm"].astype(str).str.startswith("python")).all()
    # The kernel's signal_generate of those kills is folded into them:
    # no kernel row repeats them.
    kern = t[(t["source"].astype(str) == "kernel") & (t["target_tgid"] == child)
             & (t["sig"] == signal.SIGUSR1)]
    assert len(kern) == 0, kern


def test_killsnoop_shows_the_seventeen(signal_run):
    out, child, _, _ = signal_run
    text = analyze("killsnoop", "-p", os.getpid(), "-s", "USR1", out).stdout.splitlines()
    assert text[0].split() == ["PID", "COMM", "SIG", "TPID", "RESULT"]
    rows = [l.split() for l in text[1:]]
    mine = [r for r in rows if r[3] == str(child)]
    assert len(mine) == SENT, text
    assert all(r[0] == str(os.getpid()) and r[2] == "10" and r[4] == "0" for r in mine)
    j = analyze_json("killsnoop", "-p", os.getpid(), "-s", "SIGUSR1", out)
    assert sum(1 for r in j["rows"] if r["target"] == child) == SENT
    timed = analyze("killsnoop", "-T", "-p", os.getpid(), "-s", "10", out).stdout.splitlines()
    assert timed[0].split()[0] == "TIME" and len([l for l in timed if str(child) in l]) == SENT


def test_failed_kill_shows_with_x(signal_run):
    out, _, _, _ = signal_run
    text = analyze("killsnoop", "-x", "-p", os.getpid(), out).stdout.splitlines()
    rows = [l.split() for l in text[1:]]
    assert rows == [[str(os.getpid()), rows[0][1], "15", str(NO_SUCH_PID), "-3"]], text
    t = pq.read_table(out / "signal").to_pandas()
    bad = t[t["target"] == NO_SUCH_PID]
    assert len(bad) == 1 and bad["result"].astype(str).iloc[0] == "none"
    assert bad["target_comm"].isna().all() and bad["generated"].iloc[0] == 0


def test_kernel_sent_segv_is_a_kernel_row(signal_run):
    out, _, _, segv = signal_run
    t = pq.read_table(out / "signal").to_pandas()
    segvs = t[(t["sig"] == signal.SIGSEGV) & (t["target_tgid"] == segv)]
    # The faulting task sends itself the signal: one row, SEGV_MAPERR.
    assert len(segvs) == 1, segvs
    row = segvs.iloc[0]
    assert row["source"] == "kernel" and row["tgid"] == segv
    assert row["code"] == 1 and pd.isna(row["ret"]) and row["result"] == "delivered"
    text = analyze("killsnoop", "-s", "SEGV", "-p", segv, out).stdout.splitlines()
    assert [l.split()[-1] for l in text[1:]] == ["kernel"], text
    hidden = analyze("killsnoop", "--no-kernel", "-s", "SEGV", "-p", segv, out)
    assert hidden.stdout.splitlines()[1:] == []
