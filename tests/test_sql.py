"""The SQL form of each report (formats/sql/) runs unchanged on DuckDB and
Spark SQL and gives the same numbers as ktape-analyze --json."""

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, Recorder, analyze_json, on_root_disk

SQL = REPO / "formats" / "sql"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Block I/O of several sizes, so that latencies spread over many
    buckets and some requests take over a millisecond."""
    work = on_root_disk(tmp_path_factory, "sql")
    out = work / "out.parquet"
    rec = Recorder(out, "bio")
    for bs, count in (("4k", 500), ("64k", 100), ("1M", 20)):
        subprocess.run(["dd", "if=/dev/zero", f"of={work}/f{bs}", f"bs={bs}", f"count={count}",
                        "oflag=direct", "conv=fsync", "status=none"], check=True)
        subprocess.run(["dd", f"if={work}/f{bs}", "of=/dev/null", f"bs={bs}",
                        "iflag=direct", "status=none"], check=True)
    time.sleep(0.3)
    rec.stop()
    return out


def duckdb_run(recording, sql):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW bio AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                f"FROM read_parquet('{recording}/bio/*.parquet')")
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def spark_run(spark, recording, sql):
    df = spark.read.parquet(str(recording / "bio"))
    assert dict(df.dtypes)["ts"] == "bigint", "nanosAsLong should read ts as int64 ns"
    df.createOrReplaceTempView("bio")
    return [r.asDict() for r in spark.sql(sql).collect()]


ENGINES = ["duckdb", "spark"]


def run(engine, request, recording, name, params=None):
    sql = (SQL / name).read_text()
    for old, new in (params or {}).items():
        assert old in sql, f"{name} has no parameter {old!r}"
        sql = sql.replace(old, new)
    if engine == "duckdb":
        return duckdb_run(recording, sql)
    return spark_run(request.getfixturevalue("spark"), recording, sql)


@pytest.mark.parametrize("engine", ENGINES)
def test_biolatency_sql(engine, request, recording):
    rows = run(engine, request, recording, "biolatency.sql")
    got = {(r["disk"], r["slot"]): r["count"] for r in rows}
    want = {}
    for h in analyze_json("biolatency", "-D", recording)["histograms"]:
        for b in h["buckets"]:
            if b["count"]:
                want[(h["disk"], b["slot"])] = b["count"]
                # The bucket bounds agree too.
                r = next(r for r in rows if (r["disk"], r["slot"]) == (h["disk"], b["slot"]))
                assert (r["low_us"], r["high_us"]) == (b["low"], b["high"])
    assert got == want
    assert len(got) >= 3, "the load should spread over several buckets"


@pytest.mark.parametrize("engine", ENGINES)
def test_biosnoop_slow_sql(engine, request, recording):
    # A threshold that splits this recording: the 90th percentile latency,
    # in whole microseconds, set through the file's one parameter.
    [(p90,)] = duckdb.sql(f"SELECT quantile_disc(latency_ns, 0.9) // 1000 "
                          f"FROM read_parquet('{recording}/bio/*.parquet')").fetchall()
    rows = run(engine, request, recording, "biosnoop_slow.sql",
               {"1000000 AS min_latency_ns": f"{p90 * 1000} AS min_latency_ns"})
    got = Counter((r["sector"], r["bytes"], r["latency_ns"]) for r in rows)
    want = Counter((r["sector"], r["bytes"], r["latency_ns"])
                   for r in analyze_json("biosnoop", "--min-latency", f"{p90}us", recording)["rows"])
    assert got == want
    assert sum(want.values()) > 0
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts) and all(isinstance(t, int) for t in ts)


# ---- execsnoop, tcplife, tcpconnect -c, tcpretrans -c ---------------------
# One recording of `-e exec,tcp` made here: execs (one failing), and
# loopback connections of which nftables drops a share of the packets, so
# that every query has rows to count. Views are made per table, as the
# README says (ts as int64 ns on both engines).

import sys  # noqa: E402

from test_tcp import CLIENT, SERVER, free_port, wait_port_closed  # noqa: E402

NFT_SQL_TABLE = "ktape_test_sql"


@pytest.fixture(scope="module")
def exec_tcp_recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("sql_tcp") / "out.parquet"
    port = free_port()
    subprocess.run(["nft", "delete", "table", "inet", NFT_SQL_TABLE], capture_output=True)
    subprocess.run(["nft", "add", "table", "inet", NFT_SQL_TABLE], check=True)
    try:
        # On input: TCP has sent the packet, so it retransmits it.
        subprocess.run(["nft", "add", "chain", "inet", NFT_SQL_TABLE, "in",
                        "{ type filter hook input priority 0 ; }"], check=True)
        subprocess.run(["nft", "add", "rule", "inet", NFT_SQL_TABLE, "in", *(
            f"ip daddr 127.0.0.1 tcp dport {port} numgen random mod 10 < 2 drop").split()], check=True)
        rec = Recorder(out, "exec,tcp")
        try:
            for i in range(5):
                subprocess.run(["/bin/true", "ktape-sql", str(i)], check=True)
            with pytest.raises(FileNotFoundError):
                subprocess.run(["/nonexistent/ktape-sql"])
            server = subprocess.Popen([sys.executable, "-c", SERVER.replace('("127.0.0.1", 0)', f'("127.0.0.1", {port})'), "6"],
                                      stdout=subprocess.PIPE, text=True)
            assert int(server.stdout.readline()) == port
            client = subprocess.run([sys.executable, "-c", CLIENT, str(port), "6", "100000"],
                                    capture_output=True, text=True, timeout=120)
            assert client.returncode == 0, client.stderr
            assert server.wait(timeout=60) == 0
            wait_port_closed(port)
            time.sleep(0.3)
        finally:
            rec.stop()
    finally:
        subprocess.run(["nft", "delete", "table", "inet", NFT_SQL_TABLE], check=True)
    return out, port


def run_tables(engine, request, recording, name, tables, params=None):
    """Runs formats/sql/NAME over views of TABLES of the recording."""
    sql = (SQL / name).read_text()
    for old, new in (params or {}).items():
        assert old in sql, f"{name} has no parameter {old!r}"
        sql = sql.replace(old, new)
    if engine == "duckdb":
        con = duckdb.connect()
        for t in tables:
            con.execute(f"CREATE VIEW {t} AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                        f"FROM read_parquet('{recording}/{t}/*.parquet')")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
    spark = request.getfixturevalue("spark")
    for t in tables:
        df = spark.read.parquet(str(recording / t))
        assert dict(df.dtypes)["ts"] == "bigint", "nanosAsLong should read ts as int64 ns"
        df.createOrReplaceTempView(t)
    return [r.asDict() for r in spark.sql(sql).collect()]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("failed", [False, True])
def test_execsnoop_sql(engine, request, exec_tcp_recording, failed):
    out, _ = exec_tcp_recording
    rows = run_tables(engine, request, out, "execsnoop.sql", ["exec"],
                      {"0 AS failed": f"{int(failed)} AS failed"})
    got = Counter((r["pid"], r["ret"], r["filename"], tuple(r["args"])) for r in rows)
    want = Counter((r["pid"], r["ret"], r["filename"], tuple(r["args"]))
                   for r in analyze_json("execsnoop", *(["-x"] if failed else []), out)["rows"])
    assert got == want
    mine = [k for k in got if k[2] == "/bin/true" and k[3][:2] == ("/bin/true", "ktape-sql")]
    assert len(mine) == 5
    assert any(k[2] == "/nonexistent/ktape-sql" for k in got) == failed
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts) and all(isinstance(t, int) for t in ts)


@pytest.mark.parametrize("engine", ENGINES)
def test_tcplife_sql(engine, request, exec_tcp_recording):
    out, port = exec_tcp_recording
    rows = run_tables(engine, request, out, "tcplife.sql", ["tcp_state"])
    key = ("pid", "lport", "rport", "tx_bytes", "rx_bytes", "lifetime_ns")
    got = Counter(tuple(r[k] for k in key) for r in rows)
    want = Counter((r["sk_tgid"] if r["sk_tgid"] is not None else r["tgid"], r["sport"], r["dport"],
                    r["tx_bytes"], r["rx_bytes"], r["lifetime_ns"])
                   for r in analyze_json("tcplife", out)["rows"])
    assert got == want
    # Both ends of the six test connections.
    assert sum(n for k, n in got.items() if k[2] == port) == 6
    assert sum(n for k, n in got.items() if k[1] == port) == 6


@pytest.mark.parametrize("engine", ENGINES)
def test_tcpconnect_count_sql(engine, request, exec_tcp_recording):
    out, port = exec_tcp_recording
    rows = run_tables(engine, request, out, "tcpconnect_count.sql", ["tcp_state"])
    got = {(r["laddr"], r["raddr"], r["rport"]): r["connects"] for r in rows}
    want = {(c["saddr"], c["daddr"], c["dport"]): c["count"]
            for c in analyze_json("tcpconnect", "-c", out)["counts"]}
    assert got == want
    assert got[("127.0.0.1", "127.0.0.1", port)] == 6
    counts = [r["connects"] for r in rows]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_tcpretrans_count_sql(engine, request, exec_tcp_recording):
    out, _ = exec_tcp_recording
    rows = run_tables(engine, request, out, "tcpretrans_count.sql", ["tcp_retransmit"])
    got = {(r["laddr"], r["lport"], r["raddr"], r["rport"]): r["retransmits"] for r in rows}
    want = {(c["saddr"], c["sport"], c["daddr"], c["dport"]): c["count"]
            for c in analyze_json("tcpretrans", "-c", out)["counts"]}
    assert got == want
    assert sum(got.values()) > 0, "20 % of the packets to the port were dropped"


@pytest.fixture(scope="module")
def profile_recording(tmp_path_factory):
    """A CPU profile of a spinning C program with frame pointers."""
    from test_stacks import SPIN_C, build
    work = tmp_path_factory.mktemp("profile_sql")
    spin = build(work, "spinner", SPIN_C)
    prog = subprocess.Popen([str(spin), "3.5"])
    out = work / "cpu.parquet"
    rec = Recorder(out, "profile", extra=["-d", "2", "-q"])
    assert rec.wait() == 0
    prog.wait(timeout=30)
    return out, prog.pid


@pytest.mark.parametrize("engine", ENGINES)
def test_profile_folded_sql(engine, request, profile_recording):
    out, pid = profile_recording
    sql = (SQL / "profile_folded.sql").read_text()
    if engine == "duckdb":
        con = duckdb.connect()
        con.execute("CREATE MACRO array_join(l, s) AS array_to_string(l, s)")
        con.execute("CREATE MACRO reverse(l) AS list_reverse(l)")
        for t in ("profile", "stacks"):
            con.execute(f"CREATE VIEW {t} AS SELECT * REPLACE (epoch_ns(ts) AS ts) "
                        f"FROM read_parquet('{out}/{t}/*.parquet')")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    else:
        spark = request.getfixturevalue("spark")
        for t in ("profile", "stacks"):
            spark.read.parquet(str(out / t)).createOrReplaceTempView(t)
        rows = [r.asDict() for r in spark.sql(sql).collect()]
    got = Counter()
    for r in rows:
        got[(r["pid"], r["stack"])] += r["samples"]
    want = Counter()
    for s in analyze_json("profile", out)["stacks"]:
        frames = [s["comm"], *reversed(s["user"]), *reversed(s["kernel"])]
        want[(s["pid"], ";".join(frames))] += s["value"]
    assert got == want
    assert any(pid == p and "outer;middle;inner" in st for p, st in got), got


# ---- scheduler reports: runqslower.sql and cpudist.sql --------------------

SCHED_TABLES = ("sched_switch", "sched_wakeup")


@pytest.fixture(scope="module")
def sched_recording(tmp_path_factory):
    """`-e sched` while three busy loops share CPU 0 for a second: slices
    and waits of milliseconds beside the machine's short ones."""
    out = tmp_path_factory.mktemp("sqlsched") / "out.parquet"
    rec = Recorder(out, "sched")
    busy = [subprocess.Popen(["taskset", "-c", "0", "sh", "-c", "while :; do :; done"])
            for _ in range(3)]
    time.sleep(1.0)
    for p in busy:
        p.kill()
    for p in busy:
        p.wait()
    time.sleep(0.2)
    rec.stop()
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_runqslower_sql(engine, request, sched_recording):
    rows = run_tables(engine, request, sched_recording, "runqslower.sql", SCHED_TABLES,
                      {"10000000 AS min_latency_ns": "2000000 AS min_latency_ns"})
    want = analyze_json("runqslower", "--min-latency", "2ms", sched_recording)["rows"]
    key = ("ts", "cpu", "comm", "tid", "pid", "latency_ns", "prev_comm", "prev_tid")
    assert [tuple(r[k] for k in key) for r in rows] == [tuple(w[k] for k in key) for w in want]
    assert len(want) > 10, "three hogs on one CPU wait longer than 2 ms many times"
    assert all(r["lat_us"] == r["latency_ns"] // 1000 for r in rows)


@pytest.mark.parametrize("engine", ENGINES)
def test_cpudist_sql(engine, request, sched_recording):
    rows = run_tables(engine, request, sched_recording, "cpudist.sql", SCHED_TABLES)
    got = {r["slot"]: (r["low_us"], r["high_us"], r["count"]) for r in rows}
    [h] = analyze_json("cpudist", sched_recording)["histograms"]
    want = {b["slot"]: (b["low"], b["high"], b["count"]) for b in h["buckets"] if b["count"]}
    assert got == want
    assert len(got) >= 5, "slices from microseconds to milliseconds"


# ---- files: opensnoop.sql --------------------------------------------------

SQL_MISSING = "/nonexistent-ktape-sql/missing"


@pytest.fixture(scope="module")
def files_recording(tmp_path_factory):
    """`-e open` while cat opens a missing path 5 times and an existing
    file once (plus whatever else the machine opens)."""
    work = tmp_path_factory.mktemp("sqlfiles")
    out = work / "out.parquet"
    (work / "there.txt").write_text("x")
    rec = Recorder(out, "open")
    for _ in range(5):
        assert subprocess.run(["cat", SQL_MISSING], capture_output=True).returncode == 1
    subprocess.run(["cat", str(work / "there.txt")], check=True, capture_output=True)
    time.sleep(0.3)
    rec.stop()
    return out, str(work / "there.txt")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("failed", [False, True])
def test_opensnoop_sql(engine, request, files_recording, failed):
    out, there = files_recording
    rows = run_tables(engine, request, out, "opensnoop.sql", ["open"],
                      {"0 AS failed": f"{int(failed)} AS failed"})
    key = ("pid", "comm", "fd", "errno", "flags", "mode", "uid", "path", "latency_ns")
    want = analyze_json("opensnoop", *(["-x"] if failed else []), out)["rows"]
    # Same rows in the same order (JSON gives ts as RFC 3339, SQL as ns).
    assert [tuple(r[k] for k in key) for r in rows] == [tuple(w[k] for k in key) for w in want]
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts) and all(isinstance(t, int) for t in ts)
    assert sum(r["path"] == SQL_MISSING and r["errno"] == 2 and r["fd"] == -1 for r in rows) == 5
    assert sum(r["path"] == there and r["fd"] >= 0 for r in rows) == (0 if failed else 1)


# ---- syscall: syscount.sql -------------------------------------------------

@pytest.fixture(scope="module")
def syscall_recording(tmp_path_factory):
    """`-e syscall` while a child makes 777 getppid calls and 31 failed
    opens (plus whatever else the machine does)."""
    out = tmp_path_factory.mktemp("sqlsys") / "out.parquet"
    rec = Recorder(out, "syscall")
    subprocess.run([sys.executable, "-c",
                    "import os\nfor _ in range(777): os.getppid()\n"
                    "for _ in range(31):\n  try: os.open('/nonexistent-ktape-sql', os.O_RDONLY)\n"
                    "  except OSError: pass\n"], check=True)
    time.sleep(0.3)
    rec.stop()
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("failed", [False, True])
def test_syscount_sql(engine, request, syscall_recording, failed):
    out = syscall_recording
    rows = run_tables(engine, request, out, "syscount.sql", ["syscall"],
                      {"0 AS failed": f"{int(failed)} AS failed"})
    want = analyze_json("syscount", "-T", "10", *(["-x"] if failed else []), out)
    lines = want["tables"][0]["lines"]
    assert [(r["syscall"], r["count"], r["total_ns"]) for r in rows] == \
        [(w["syscall"], w["count"], w["total_ns"]) for w in lines]
    if failed:
        assert all(r["count"] > 0 for r in rows)
        assert any(r["syscall"] == "openat" and r["count"] >= 31 for r in rows)


# ---- bio: bitesize.sql -------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_bitesize_sql(engine, request, recording):
    rows = run(engine, request, recording, "bitesize.sql")
    got = {(r["comm"], r["slot"]): r["count"] for r in rows}
    want = {}
    for iv in analyze_json("bitesize", recording)["intervals"]:
        for h in iv["histograms"]:
            for b in h["buckets"]:
                if b["count"]:
                    want[(h["comm"], b["slot"])] = b["count"]
                    r = next(r for r in rows if (r["comm"], r["slot"]) == (h["comm"], b["slot"]))
                    assert (r["low_kb"], r["high_kb"]) == (b["low"], b["high"])
    assert got == want
    # dd's 4 KiB, 64 KiB and (up to) 1 MiB requests: exact powers of two,
    # the sizes where a floating-point log2 can go wrong.
    dd = {slot for comm, slot in got if comm == "dd"}
    assert {2, 6} <= dd, got
# ---- signal: killsnoop.sql -------------------------------------------------

@pytest.fixture(scope="module")
def signal_recording(tmp_path_factory):
    """`-e signal` while a child sends itself 7 SIGUSR2 (ignored) and
    kill()s a pid above pid_max 3 times (plus whatever else the machine
    signals)."""
    out = tmp_path_factory.mktemp("sqlsig") / "out.parquet"
    rec = Recorder(out, "signal")
    missing = int(open("/proc/sys/kernel/pid_max").read()) + 1000
    subprocess.run([sys.executable, "-c",
                    "import os, signal\nsignal.signal(signal.SIGUSR2, signal.SIG_IGN)\n"
                    "for _ in range(7): os.kill(os.getpid(), signal.SIGUSR2)\n"
                    "for _ in range(3):\n"
                    f"  try: os.kill({missing}, signal.SIGTERM)\n"
                    "  except ProcessLookupError: pass\n"], check=True)
    time.sleep(0.3)
    rec.stop()
    return out, missing


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("failed,kernel", [(False, True), (True, True), (False, False)])
def test_killsnoop_sql(engine, request, signal_recording, failed, kernel):
    out, missing = signal_recording
    rows = run_tables(engine, request, out, "killsnoop.sql", ["signal"],
                      {"0 AS failed, 1 AS kernel": f"{int(failed)} AS failed, {int(kernel)} AS kernel"})
    flags = (["-x"] if failed else []) + ([] if kernel else ["--no-kernel"])
    want = analyze_json("killsnoop", *flags, out)["rows"]
    assert [(r["pid"], r["comm"], r["sig"], r["tpid"], r["result"], r["source"]) for r in rows] == \
        [(w["pid"], w["comm"], w["sig"], w["target"], w["ret"], w["source"]) for w in want]
    assert sum(r["tpid"] == missing and r["result"] == -3 for r in rows) == 3
    assert sum(r["sig"] == 12 and r["result"] == 0 for r in rows) == (0 if failed else 7)
    assert kernel or all(r["source"] != "kernel" for r in rows)
