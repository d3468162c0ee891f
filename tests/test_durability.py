"""Recordings that survive: a SIGKILL loses only the last seconds, every
terminating signal finishes the files, a full disk stops the recorder with
what it wrote intact, --force never replaces more than one recording, and
damage is detected."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import ANALYZE, RECORD, Recorder, analyze, analyze_json, on_root_disk


def switch_load():
    """Two `perf bench sched pipe` loops: a context switch every few µs.
    Each forks its pipe partner, so each runs in its own process group."""
    return [subprocess.Popen(["perf", "bench", "sched", "pipe", "-l", "1000000000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
            for _ in range(2)]


def stop(procs):
    # Killing perf alone would leave its forked partner blocked on the pipe
    # for good.
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def ts_span_s(df):
    return (df.ts.max() - df.ts.min()).total_seconds()


def test_sigkill_loses_only_the_last_seconds(tmp_path):
    out = tmp_path / "out.parquet"
    load = switch_load()
    try:
        rec = Recorder(out, "sched", extra=["-d", "60"])
        t0 = time.monotonic()
        time.sleep(25 - (time.monotonic() - t0))
        rec.proc.kill()
        rec.proc.wait()
    finally:
        stop(load)
    # Plain readers see the closed segments (10 s each): at least 20 s.
    df = pd.read_parquet(out / "sched_switch")
    assert ts_span_s(df) >= 14, ts_span_s(df)
    n, lo, hi = duckdb.sql(
        f"SELECT count(*), min(ts), max(ts) FROM read_parquet('{out}/sched_switch/*')").fetchall()[0]
    assert n == len(df) and (hi - lo).total_seconds() >= 14
    # ktape-analyze also reads the open segments up to their last checkpoint.
    s = analyze_json("summary", out)
    [r] = s["recordings"]
    assert r["ended_abruptly"] and not r["recording_now"]
    assert r["duration_s"] >= 23, r["duration_s"]
    unfinished = [i for i in r["incomplete"] if i["table"] == "sched_switch"]
    assert len(unfinished) == 1 and unfinished[0]["recovered_rows"] > 0
    text = analyze("summary", out).stdout
    assert "ended        abruptly" in text and ".in-progress/sched_switch/" in text
    tables = {t["name"]: t["rows"] for t in s["tables"]}
    assert tables["sched_switch"] == len(df) + unfinished[0]["recovered_rows"]
    # Reports work on it and say the end is missing.
    p = analyze("runqlat", out)
    assert "usecs" in p.stdout and "the recorder did not finish it" in p.stderr
    # recover makes the checkpoints plain files for every reader.
    analyze("recover", out)
    df2 = pd.read_parquet(out / "sched_switch")
    assert len(df2) == tables["sched_switch"] and ts_span_s(df2) >= 23
    assert not (out / ".in-progress").exists()
    assert analyze("verify", out).returncode == 0


def test_sigkill_in_the_first_segment_still_knows_what_was_lost(tmp_path):
    # No segment closed yet and nothing lost: the loss table's checkpoint,
    # written every second rows or not, is what says "none" up to it.
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "sched", extra=["-d", "60"])
    time.sleep(4)
    rec.proc.kill()
    rec.proc.wait()
    [r] = analyze_json("summary", out)["recordings"]
    assert r["ended_abruptly"] and r["loss_known"], r
    assert "unknown" not in analyze("summary", out).stdout
    analyze("recover", out)
    assert (out / "loss" / "000000.parquet").exists()
    assert analyze("verify", out).returncode == 0


@pytest.mark.parametrize("sigs", [[signal.SIGHUP], [signal.SIGQUIT], [signal.SIGINT, signal.SIGINT],
                                  [signal.SIGTERM, signal.SIGHUP]],
                         ids=["HUP", "QUIT", "INT-twice", "TERM-then-HUP"])
def test_every_terminating_signal_finishes_every_table(tmp_path, sigs):
    out = tmp_path / "out.parquet"
    load = switch_load()
    try:
        rec = Recorder(out, "sched,bio")
        time.sleep(6)
        for s in sigs:
            rec.proc.send_signal(s)
            time.sleep(0.05)
    finally:
        # The load goes before the wait: under it, the kernel's release of
        # the recorder's programs after it exits can lag its own check.
        stop(load)
    rc = rec.wait(timeout=60)
    assert rc == 0, rec.stderr()
    assert not (out / ".in-progress").exists(), list((out / ".in-progress").rglob("*"))
    for table in ("sched_switch", "sched_wakeup", "bio", "loss", "process", "counters"):
        files = sorted((out / table).iterdir())
        assert files, table
        for f in files:
            assert f.name.endswith(".parquet"), f
            pq.read_table(f)
    [r] = analyze_json("summary", out)["recordings"]
    assert not r["ended_abruptly"] and r["incomplete"] == []
    # 6 s of recording is in, in one or two segments.
    assert ts_span_s(pd.read_parquet(out / "sched_switch")) >= 5


def test_ssh_hangup_with_the_terminal_gone(tmp_path):
    """SIGHUP with stderr a closed pipe: writes to it fail (a dropped ssh
    session's terminal), the recorder still finishes every file."""
    out = tmp_path / "out.parquet"
    r, w = os.pipe()
    p = subprocess.Popen([str(RECORD), "-e", "sched", str(out)], stdin=subprocess.DEVNULL,
                         stdout=w, stderr=w)
    os.close(w)
    time.sleep(3)
    os.close(r)
    p.send_signal(signal.SIGHUP)
    assert p.wait(timeout=60) == 0
    assert not (out / ".in-progress").exists()
    assert pq.read_table(out / "sched_switch").num_rows > 0


def tmpfs(path, size):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    tmpfs(mnt, "3m")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


@pytest.fixture
def roomy_fs(tmp_path):
    mnt = tmp_path / "roomy"
    tmpfs(mnt, "64m")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def no_partial_files(out):
    left = [p for p in out.rglob("*") if p.is_file() and (
        ".in-progress" in p.parts or p.name.endswith(".tmp"))]
    assert not left, left


def test_a_full_disk_stops_the_recorder_with_its_files_finished(small_fs):
    out = small_fs / "out.parquet"
    load = switch_load()
    try:
        t0 = time.monotonic()
        p = subprocess.run([str(RECORD), "-q", "-e", "sched", "-d", "120", str(out)],
                           capture_output=True, text=True, timeout=150)
        took = time.monotonic() - t0
    finally:
        stop(load)
    assert p.returncode != 0
    assert took < 100, f"did not stop by itself ({took:.0f} s)"
    assert p.stderr.count("stopped early") == 1, p.stderr
    assert str(small_fs) in p.stderr and "tmpfs" in p.stderr and "--min-free" in p.stderr
    no_partial_files(out)
    df = pd.read_parquet(out / "sched_switch")
    assert len(df) > 0
    [r] = analyze_json("summary", out)["recordings"]
    assert not r["ended_abruptly"]
    assert analyze("verify", out).returncode == 0


def test_no_space_left_keeps_what_was_written(roomy_fs):
    """Another program fills the disk: the write that fails ends the
    recording within a second or two, with one sentence."""
    out = roomy_fs / "out.parquet"
    p = subprocess.Popen([str(RECORD), "-q", "-e", "sched", "-d", "120", "--min-free", "0",
                          str(out)], stderr=subprocess.PIPE, text=True)
    time.sleep(12)  # one segment closes
    subprocess.run(["dd", "if=/dev/zero", f"of={roomy_fs}/filler", "bs=64k", "status=none"],
                   stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    _, err = p.communicate(timeout=60)
    took = time.monotonic() - t0
    p.stderr = err
    assert p.returncode != 0
    assert took < 5, f"{took:.1f} s to notice the full disk"
    os.remove(roomy_fs / "filler")
    errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, p.stderr
    assert "is full" in errors[0] and errors[0].count("No space left on device") == 1, errors
    no_partial_files(out)
    # What was written is readable, by plain readers and ktape alike.
    assert len(pd.read_parquet(out / "sched_switch")) > 0
    assert analyze("verify", out).returncode == 0
    analyze_json("summary", out)


def test_not_starting_on_a_full_disk(small_fs):
    filler = small_fs / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=100", "status=none"])
    out = small_fs / "out.parquet"
    t0 = time.monotonic()
    p = subprocess.run([str(RECORD), "-e", "sched", "-d", "10", str(out)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0 and time.monotonic() - t0 < 5
    assert "not starting" in p.stderr and "tmpfs" in p.stderr
    assert not out.exists()


def make_recording(path):
    p = subprocess.run([str(RECORD), "-q", "-e", "sched", "-d", "0.5", str(path)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def tree(p):
    return sorted((str(q.relative_to(p)), q.stat().st_size if q.is_file() else -1)
                  for q in p.rglob("*")) if p.is_dir() else [("", p.stat().st_size)]


@pytest.mark.parametrize("case", ["fleet", "extra-file", "extra-in-table", "symlink", "plain-dir"])
def test_force_replaces_one_recording_and_nothing_else(tmp_path, case):
    target = tmp_path / "target"
    if case == "fleet":
        make_recording(target / "host=a" / "out.parquet")
        make_recording(target / "host=b" / "out.parquet")
    elif case == "extra-file":
        make_recording(target)
        (target / "NOTES.txt").write_text("mine")
    elif case == "extra-in-table":
        make_recording(target)
        (target / "sched_switch" / "mine.csv").write_text("mine")
    elif case == "symlink":
        real = tmp_path / "real.parquet"
        make_recording(real)
        target.symlink_to(real)
    else:
        target.mkdir()
        (target / "t").mkdir()
        (target / "t" / "000000.parquet").write_bytes(b"PAR1")
    before = tree(target)
    p = subprocess.run([str(RECORD), "-e", "sched", "-d", "1", "--force", str(target)],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "--force" in p.stderr and "not replacing" in p.stderr, p.stderr
    assert tree(target) == before
    if case == "symlink":
        assert target.is_symlink()


def test_force_replaces_a_recording(tmp_path):
    out = tmp_path / "out.parquet"
    make_recording(out)
    p = subprocess.run([str(RECORD), "-q", "-e", "sched", "-d", "0.5", "--force", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_a_flipped_bit_is_named_by_verify_and_by_reports(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "flip")
    out = work / "out.parquet"
    rec = Recorder(out, "bio")
    subprocess.run(["dd", "if=/dev/zero", f"of={work}/io", "bs=4096", "count=500",
                    "oflag=direct", "status=none"], check=True)
    rec.stop()
    assert analyze("verify", out).returncode == 0
    seg = sorted((out / "bio").iterdir())[0]
    md = pq.ParquetFile(seg).metadata
    col = [md.row_group(0).column(i) for i in range(md.num_columns)
           if md.row_group(0).column(i).path_in_schema == "latency_ns"][0]
    start = col.dictionary_page_offset or col.data_page_offset
    data = bytearray(seg.read_bytes())
    data[start + col.total_compressed_size - 20] ^= 0x04
    seg.write_bytes(bytes(data))
    v = analyze("verify", out, check=False)
    assert v.returncode == 1
    assert f"bio/{seg.name}" in v.stdout and "damaged" in v.stdout and "latency_ns" in v.stdout
    b = analyze("biosnoop", out, check=False)
    assert b.returncode == 1 and str(seg) in b.stderr and "damaged" in b.stderr, b.stderr


SERVER = r"""
import socket, sys
n = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
for _ in range(n):
    c, _ = srv.accept()
    c.recv(16)
    c.close()
"""


def connect(n):
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(n)], stdout=subprocess.PIPE,
                              text=True)
    import socket
    port = int(server.stdout.readline())
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.send(b"x")
        s.close()
    assert server.wait(timeout=30) == 0


def test_cross_checks_agree_and_catch_missing_rows(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "xcheck")
    out = work / "out.parquet"
    rec = Recorder(out, "bio,tcp")
    subprocess.run(["dd", "if=/dev/zero", f"of={work}/io", "bs=4096", "count=1500",
                    "oflag=direct", "status=none"], check=True)
    connect(31)
    time.sleep(0.3)
    rec.stop()
    s = analyze_json("summary", out)
    checks = {(c["table"], c["counter"]): c for c in s["cross_checks"]}
    assert all(c["agree"] for c in checks.values()), json.dumps(s["cross_checks"], indent=1)
    disk = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(os.stat(work).st_dev)}:0"))
    w = checks[("bio", f"{disk} writes_completed")]
    assert w["recorded"] >= 1500 and w["kernel"] >= 1500
    assert checks[("tcp_state", "Tcp.ActiveOpens")]["recorded"] >= 31
    assert checks[("tcp_state", "Tcp.PassiveOpens")]["recorded"] >= 31
    for c in s["cross_checks"]:
        assert set(c) >= {"table", "counter", "kernel", "recorded", "agree"}

    # The same recording with 35 write rows of our dd gone: the kernel's
    # count shows it, in summary and in biolatency.
    bad = work / "bad.parquet"
    shutil.copytree(out, bad)
    seg = sorted((bad / "bio").iterdir())[0]
    t = pq.read_table(seg)
    df = t.to_pandas()
    mine = df.index[(df.comm == "dd") & df["flags"].astype(str).str.endswith("Write")][:35]
    assert len(mine) == 35
    kept = t.filter(pa_mask(len(df), set(mine)))
    # Rewritten by hand, so without ktape's checksums (as a file of an
    # older recorder would be): read unverified.
    meta = {k: v for k, v in pq.read_metadata(seg).metadata.items()
            if k not in (b"ktape.chunk_xxh3", b"ktape.footer_xxh3", b"ARROW:schema")}
    pq.write_table(kept.replace_schema_metadata(meta), seg, compression="zstd")
    s = analyze_json("summary", bad)
    bio = [c for c in s["cross_checks"] if c["table"] == "bio" and c["counter"].endswith("writes_completed")]
    assert bio and not bio[0]["agree"], bio
    assert bio[0]["kernel"] - bio[0]["recorded"] >= 35
    text = analyze("summary", bad)
    assert "DISAGREE" in text.stdout and "disagrees" in text.stderr
    lat = analyze("biolatency", bad)
    assert "disagrees with the kernel" in lat.stderr, lat.stderr


def pa_mask(n, drop):
    import pyarrow as pa
    return pa.array([i not in drop for i in range(n)])


def test_ring_mode_keeps_every_stack_and_process_it_refers_to(tmp_path):
    out = tmp_path / "out.parquet"
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    # Threads alive at the start are in the recorder's /proc snapshot (later
    # ones only with -e exec): each of them must stay resolvable.
    at_start = {int(t) for p in os.listdir("/proc") if p.isdigit()
                for t in (os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else [])}
    try:
        rec = Recorder(out, "profile", extra=["-F", "199", "--rotate", "2s", "--keep", "2",
                                              "-d", "11"])
        assert rec.wait(timeout=60) == 0, rec.stderr()
    finally:
        spin.kill()
        spin.wait()
    names = sorted(p.name for p in (out / "loss").iterdir())
    assert len(names) == 3 and names[0] != "000000.parquet", names
    prof = pd.read_parquet(out / "profile")
    stacks = pd.read_parquet(out / "stacks")
    procs = pd.read_parquet(out / "process")
    assert len(prof) > 100
    ids = set(stacks.id)
    refs = set(prof.kstack_id[prof.kstack_id >= 0]) | set(prof.ustack_id[prof.ustack_id >= 0])
    assert refs <= ids, f"{len(refs - ids)} stack ids not in the kept stacks"
    known = set(procs.pid) | set(procs.tgid)
    seen = (set(prof.tgid[prof.tgid > 0]) | set(prof.pid[prof.pid > 0])) & at_start
    assert seen and seen <= known, f"processes {sorted(seen - known)[:10]} missing from process"
    assert spin.pid in set(prof.tgid)


def test_precise_messages_for_bad_durations(tmp_path):
    for args, want in [(["-d", "-5"], "-d -5: give a positive duration"),
                       (["-d", "1e12"], "31 years"),
                       (["--rotate", "0s"], "--rotate 0s: a segment must last longer than 0")]:
        p = subprocess.run([str(RECORD), "-e", "sched", *args, str(tmp_path / "x")],
                           capture_output=True, text=True)
        assert p.returncode != 0 and want in p.stderr, (args, p.stderr)
        assert "--" + " -5" not in p.stderr
        assert not (tmp_path / "x").exists()


def test_capabilities_without_root_name_what_is_missing(tmp_path):
    os.chmod(tmp_path, 0o777)
    out = tmp_path / "x.parquet"
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon",
                        str(RECORD), "-e", "exec", "-d", "1", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    lines = [l for l in p.stderr.strip().splitlines() if l]
    assert len(lines) == 1, p.stderr
    assert "tracefs" in lines[0] and "root" in lines[0]
    assert not out.exists()
