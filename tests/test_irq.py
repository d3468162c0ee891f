"""irq end to end: record every hard IRQ and softirq run while making
block I/O (direct writes: the disk's interrupts and BLOCK softirqs) and a
loopback TCP stream (NET_RX softirqs), and check the counts against the
kernel's own, /proc/interrupts and /proc/softirqs, read over the same
window; then check that hardirqs and softirqs add the table up exactly."""

import os
import socket
import subprocess
import threading

import duckdb
import pytest

from conftest import Recorder, analyze, analyze_json, on_root_disk

WRITES = 3000


def proc_interrupts():
    """{irq number: total over CPUs} for the numbered lines."""
    out = {}
    with open("/proc/interrupts") as f:
        ncpu = len(f.readline().split())
        for line in f:
            head, _, rest = line.partition(":")
            if not head.strip().isdigit():
                continue
            fields = rest.split()
            out[int(head)] = sum(int(x) for x in fields[:ncpu] if x.isdigit())
    return out


def proc_softirqs():
    """{lower-case vector name: total over CPUs}."""
    out = {}
    with open("/proc/softirqs") as f:
        f.readline()
        for line in f:
            name, _, rest = line.partition(":")
            out[name.strip().lower()] = sum(int(x) for x in rest.split())
    return out


def tcp_stream(nbytes):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = []

    def sink():
        c, _ = srv.accept()
        n = 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            n += len(b)
        got.append(n)
        c.close()

    t = threading.Thread(target=sink)
    t.start()
    cli = socket.create_connection(srv.getsockname())
    chunk = b"x" * 4096
    for _ in range(nbytes // len(chunk)):
        cli.sendall(chunk)
    cli.close()
    t.join()
    srv.close()
    assert got == [nbytes]


@pytest.fixture(scope="module")
def irq_run(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "irq")
    out = tmp_path_factory.mktemp("irqrec") / "out.parquet"
    rec = Recorder(out, "irq")
    hard0, soft0 = proc_interrupts(), proc_softirqs()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={work / 'data'}", "bs=4k", f"count={WRITES}",
         "oflag=direct", "status=none"],
        check=True,
    )
    tcp_stream(64 << 20)
    hard1, soft1 = proc_interrupts(), proc_softirqs()
    rec.stop()
    os.unlink(work / "data")
    hard = {k: hard1[k] - hard0.get(k, 0) for k in hard1}
    soft = {k: soft1[k] - soft0.get(k, 0) for k in soft1}
    return out, hard, soft


def table_counts(out, kind, key):
    return dict(
        duckdb.sql(
            f"SELECT {key}, sum(count)::BIGINT FROM '{out}/irq/*.parquet' "
            f"WHERE kind = '{kind}' GROUP BY ALL"
        ).fetchall()
    )


def close(ours, kernel):
    """The recording covers the window the kernel counts were read over and
    a little more on each side (attach before the first read, detach after
    the last); only a run already under way at attach is left out, one per
    CPU at most. So: never fewer, and at most 5 % (or 50) more."""
    ncpu = os.cpu_count()
    return kernel - ncpu <= ours <= kernel + max(kernel * 0.05, 50)


def test_hard_irq_counts_match_proc_interrupts(irq_run):
    out, hard, _ = irq_run
    ours = table_counts(out, "hardirq", "irq")
    busy = {k: v for k, v in hard.items() if v >= 500}
    assert busy, f"the direct writes made no device interrupts: {hard}"
    # The disk completed the writes with interrupts: at least one line
    # took about one per write.
    assert max(busy.values()) >= WRITES * 0.5, busy
    for irq, n in busy.items():
        assert close(ours.get(irq, 0), n), (irq, ours.get(irq), n)


def test_softirq_counts_match_proc_softirqs(irq_run):
    out, _, soft = irq_run
    ours = table_counts(out, "softirq", "name")
    assert soft["block"] >= WRITES * 0.5, soft
    assert soft["net_rx"] >= 100, soft
    for name, n in soft.items():
        if n >= 500:
            assert close(ours.get(name, 0), n), (name, ours.get(name), n)


def test_reports_add_the_table_up(irq_run):
    out, _, _ = irq_run
    for tool, kind in (("hardirqs", "hardirq"), ("softirqs", "softirq")):
        want = table_counts(out, kind, "name")
        got = analyze_json(tool, "-C", out)
        (iv,) = got["intervals"]
        assert {i["name"]: i["count"] for i in iv["irqs"]} == want
        assert all(sum(b["count"] for b in i["hist"]) == i["count"] for i in iv["irqs"])
        assert got["loss"]["total"] == 0
    total_ns = duckdb.sql(
        f"SELECT sum(total_ns)::BIGINT FROM '{out}/irq/*.parquet' WHERE name = 'block'"
    ).fetchall()[0][0]
    lines = analyze("softirqs", "-N", out).stdout.splitlines()
    assert lines[0].split() == ["SOFTIRQ", "TOTAL_nsecs"]
    block = [l.split() for l in lines[1:] if l.split()[0] == "block"]
    assert block == [["block", str(total_ns)]]
    dist = analyze("hardirqs", "-d", out).stdout
    assert "hardirq = '" in dist and "usecs" in dist
