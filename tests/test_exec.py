"""exec and exit end to end: record real execs (successful, failed, from a
thread that is not the leader, with more arguments than are kept) and
process exits, then check what the recording, ktape-analyze, DuckDB and
pandas see."""

import os
import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json

RUNS = 50
ARGS = ["/bin/true", "a", "b", "c"]
MISSING = "/nonexistent-ktape-dir/no-such-program"
MANY = ["/bin/true"] + [f"arg{i}" for i in range(30)]

# A child whose second thread execs: the kernel gives that thread the
# process id, so entry (old tid) and return (new tid) must be paired.
THREAD_EXEC = """
import os, threading, time
def run():
    os.execv("/bin/true", ["/bin/true", "from-thread"])
threading.Thread(target=run).start()
time.sleep(30)
"""


@pytest.fixture(scope="module")
def exec_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("exec")
    out = work / "out.parquet"
    rec = Recorder(out, "exec")
    pids = []
    for _ in range(RUNS):
        p = subprocess.Popen(ARGS)
        p.wait()
        assert p.returncode == 0
        pids.append(p.pid)
    with pytest.raises(FileNotFoundError):
        subprocess.run([MISSING])
    many = subprocess.Popen(MANY)
    many.wait()
    thread = subprocess.Popen([sys.executable, "-c", THREAD_EXEC])
    assert thread.wait(timeout=30) == 0
    time.sleep(0.5)
    rec.stop()
    return out, pids, many.pid, thread.pid


def test_one_row_per_exec_with_its_arguments(exec_run):
    out, pids, _, _ = exec_run
    ex = pq.read_table(out / "exec").to_pandas()
    mine = ex[ex["pid"].isin(pids)]
    assert len(mine) == RUNS, mine
    assert sorted(mine["pid"]) == sorted(pids)
    assert (mine["tgid"] == mine["pid"]).all()
    assert (mine["ppid"] == os.getpid()).all()
    assert all(list(a) == ARGS for a in mine["args"])
    assert (mine["filename"] == "/bin/true").all()
    assert (mine["comm"].astype(str) == "true").all()
    assert (mine["ret"] == 0).all()
    assert (~mine["truncated"]).all()
    assert (mine["uid"] == os.getuid()).all()


def test_failed_exec_is_one_row_with_enoent(exec_run):
    out, _, _, _ = exec_run
    ex = pq.read_table(out / "exec").to_pandas()
    failed = ex[ex["filename"] == MISSING]
    assert len(failed) == 1, failed
    assert failed["ret"].iloc[0] == -2
    assert list(failed["args"].iloc[0]) == [MISSING]
    assert failed["ppid"].iloc[0] == os.getpid()


def test_max_args_keeps_twenty_and_says_so(exec_run):
    out, _, many, _ = exec_run
    ex = pq.read_table(out / "exec").to_pandas()
    row = ex[ex["pid"] == many]
    assert len(row) == 1
    assert list(row["args"].iloc[0]) == MANY[:20]
    assert bool(row["truncated"].iloc[0])
    text = analyze("execsnoop", "-p", many, out).stdout.splitlines()
    assert text[1].endswith(" ".join(MANY[:20]) + "  ..."), text


def test_exec_from_a_thread_is_paired(exec_run):
    out, _, _, leader = exec_run
    ex = pq.read_table(out / "exec").to_pandas()
    rows = ex[ex["tgid"] == leader]
    threaded = rows[rows["args"].map(lambda a: list(a) == ["/bin/true", "from-thread"])]
    assert len(threaded) == 1, rows
    r = threaded.iloc[0]
    assert r["pid"] == leader and r["ret"] == 0 and str(r["comm"]) == "true"


def test_one_exit_per_process_with_code_zero(exec_run):
    out, pids, _, _ = exec_run
    ex = pq.read_table(out / "exit").to_pandas()
    mine = ex[ex["pid"].isin(pids)]
    assert len(mine) == RUNS, mine
    assert (mine["tgid"] == mine["pid"]).all()
    assert (mine["exit_code"] == 0).all() and (mine["signal"] == 0).all()
    assert (mine["ppid"] == os.getpid()).all()
    # /bin/true lives for well under a second (and a forked Python child
    # for at least a little).
    assert (mine["lifetime_ns"] > 0).all() and (mine["lifetime_ns"] < 10**9).all()


def test_execsnoop_prints_the_runs(exec_run):
    out, pids, _, _ = exec_run
    lines = analyze("execsnoop", out).stdout.splitlines()
    assert lines[0] == "PCOMM            PID    PPID   RET ARGS"
    # Arguments may hold newlines (the thread test's script), as in bcc's
    # output; only lines of /bin/true matter here.
    ours = [l for l in lines[1:] if l.startswith("true ") and int(l.split()[1]) in pids]
    assert len(ours) == RUNS
    for l in ours:
        f = l.split()
        assert f[0] == "true" and int(f[2]) == os.getpid() and f[3] == "0"
        assert l.endswith(" 0 /bin/true a b c ")
    # Failed execs only with -x.
    assert not any(MISSING in l for l in lines)
    x = analyze("execsnoop", "-x", out).stdout
    assert sum(MISSING in l and " -2 " in l for l in x.splitlines()) == 1
    j = analyze_json("execsnoop", "-x", out)
    assert sum(r["pid"] in pids and r["args"] == ARGS for r in j["rows"]) == RUNS
    assert j["loss"]["total"] == 0


def test_exitsnoop_prints_the_exits(exec_run):
    out, pids, _, _ = exec_run
    lines = analyze("exitsnoop", out).stdout.splitlines()
    assert lines[0].split() == ["PCOMM", "PID", "PPID", "TID", "AGE(s)", "EXIT_CODE"]
    ours = [l.split() for l in lines[1:] if int(l.split()[1]) in pids]
    assert len(ours) == RUNS
    assert all(f[0] == "true" and f[-1] == "0" and int(f[2]) == os.getpid() for f in ours)


def test_process_rows_follow_execs(exec_run):
    out, pids, _, _ = exec_run
    proc = pq.read_table(out / "process").to_pandas()
    mine = proc[(proc["source"].astype(str) == "exec") & proc["pid"].isin(pids)]
    assert len(mine) == RUNS
    assert (mine["cmdline"] == " ".join(ARGS)).all()


def test_duckdb_reads_the_argument_lists(exec_run):
    out, pids, _, _ = exec_run
    n = duckdb.sql(
        f"SELECT count(*) FROM '{out}/exec/*.parquet' "
        f"WHERE args = ['/bin/true', 'a', 'b', 'c'] AND ppid = {os.getpid()}"
    ).fetchall()[0][0]
    assert n == RUNS


# A child that creates exactly FORKS processes and THREADS threads, after
# waiting for the recorder (its stdin line), so that all of them fall in
# the recording.
FORKS = 60
THREADS = 3
FORKER = f"""
import os, sys, threading
sys.stdin.readline()
for _ in range({FORKS}):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
ts = [threading.Thread(target=lambda: None) for _ in range({THREADS})]
for t in ts:
    t.start()
for t in ts:
    t.join()
"""


@pytest.fixture(scope="module")
def fork_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fork") / "out.parquet"
    child = subprocess.Popen([sys.executable, "-c", FORKER], stdin=subprocess.PIPE, text=True)
    rec = Recorder(out, "exec")
    child.stdin.write("go\n")
    child.stdin.close()
    assert child.wait(timeout=60) == 0
    time.sleep(0.5)
    rec.stop()
    return out, child.pid


def test_one_fork_row_per_new_task(fork_run):
    out, pid = fork_run
    forks = pq.read_table(out / "fork").to_pandas()
    mine = forks[forks["tgid"] == pid]
    procs = mine[~mine["thread"]]
    threads = mine[mine["thread"]]
    assert len(procs) == FORKS, mine
    assert len(threads) == THREADS, mine
    assert (procs["child_pid"] == procs["child_tgid"]).all()
    assert procs["child_pid"].nunique() == FORKS
    assert (threads["child_tgid"] == pid).all()
    assert (mine["pid"] == pid).all(), "the main thread forks and starts the threads"
    # Each forked child exits: its exit row has this process as parent.
    exits = pq.read_table(out / "exit").to_pandas()
    assert set(procs["child_pid"]) <= set(exits[exits["ppid"] == pid]["pid"])


def test_pidpersec_counts_the_forks(fork_run):
    out, pid = fork_run
    tasks = analyze_json("pidpersec", "-p", str(pid), out)
    assert sum(l["tasks"] for l in tasks["lines"]) == FORKS + THREADS
    assert sum(l["processes"] for l in tasks["lines"]) == FORKS
    assert tasks["loss"]["total"] == 0
    # The text lines are bcc's, one per second, and add up the same way.
    lines = analyze("pidpersec", "-p", str(pid), out).stdout.splitlines()
    assert len(lines) == len(tasks["lines"])
    assert all(": PIDs/sec: " in l for l in lines), lines
    assert sum(int(l.rsplit(" ", 1)[1]) for l in lines) == FORKS + THREADS
    procs = analyze("pidpersec", "--processes", "-p", str(pid), out).stdout.splitlines()
    assert sum(int(l.rsplit(" ", 1)[1]) for l in procs) == FORKS
    # pandas, in integer nanoseconds from the window's start (which the
    # JSON gives), puts each of our rows in the same line.
    import pandas as pd

    start = pd.Timestamp(tasks["lines"][0]["from"]).value
    forks = pq.read_table(out / "fork").to_pandas()
    ns = forks[forks["tgid"] == pid]["ts"].astype("int64")
    want = ((ns - start) // 1_000_000_000).value_counts().to_dict()
    got = {k: l["tasks"] for k, l in enumerate(tasks["lines"]) if l["tasks"]}
    assert got == want
