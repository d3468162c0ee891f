"""The recorder's contract: it finishes its files on SIGINT/SIGTERM, leaves
nothing attached, protects the recording, and says clearly what is wrong."""

import os
import signal
import stat
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from conftest import RECORD, Recorder
from test_bio import unpaired_loss

TABLES = ("bio", "loss", "process")


def make_io(path, n=200):
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4096", f"count={n}",
                    "oflag=direct"], check=True, capture_output=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_finishes_every_table(tmp_path, sig):
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "bio")
    make_io(tmp_path / "io")
    time.sleep(0.3)
    log = rec.stop(sig)
    for table in TABLES:
        files = sorted((out / table).iterdir())
        assert files, f"{table}: no segment"
        for f in files:
            assert f.suffix == ".parquet", f"{f} left unfinished"
            t = pq.read_table(f)
            meta = pq.read_metadata(f).metadata
            assert meta[b"ktape.format_version"] == b"1"
            assert meta[b"ktape.table"] == table.encode()
            for key in (b"ktape.host", b"ktape.kernel", b"ktape.boot_id", b"ktape.clock_offset_ns",
                        b"ktape.command_line", b"ktape.segment_start_ns", b"ktape.segment_end_ns"):
                assert meta.get(key), f"{f}: {key} missing"
            assert int(meta[b"ktape.segment_end_ns"]) >= int(meta[b"ktape.segment_start_ns"])
    assert pq.read_table(out / "bio").num_rows + unpaired_loss(out) >= 200
    assert rec.prog_ids, "no BPF programs were seen while recording"
    assert "bio" in log  # the closing summary names the tables


def test_process_snapshot_knows_us(tmp_path):
    out = tmp_path / "out.parquet"
    assert Recorder(out, "bio", extra=["-d", "1"]).wait() == 0
    procs = pq.read_table(out / "process").to_pandas()
    me = procs[procs["pid"] == os.getpid()]
    assert len(me) == 1
    assert "pytest" in me["cmdline"].iloc[0]
    assert (procs["pid"] == 1).any()


def test_duration_stops_by_itself_and_is_private(tmp_path):
    out = tmp_path / "out.parquet"
    t0 = time.monotonic()
    rec = Recorder(out, "bio", extra=["-d", "2"])
    assert rec.wait() == 0, rec.stderr()
    assert time.monotonic() - t0 < 30
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    for table in TABLES:
        assert stat.S_IMODE(os.stat(out / table).st_mode) == 0o700
        for f in (out / table).iterdir():
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f


def run_record(*args, user=None):
    cmd = [str(RECORD), *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_unknown_event_lists_valid_ones(tmp_path):
    p = run_record("-e", "bio,nosuch", "-d", "1", tmp_path / "x.parquet")
    assert p.returncode != 0
    assert "nosuch" in p.stderr and "bio" in p.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_existing_recording_needs_force(tmp_path):
    out = tmp_path / "out.parquet"
    out.mkdir()
    (out / "keep").write_text("not a recording")
    p = run_record("-e", "bio", "-d", "1", out)
    assert p.returncode != 0 and "--force" in p.stderr
    # --force never wipes something that is not a recording.
    p = run_record("-e", "bio", "-d", "1", "--force", out)
    assert p.returncode != 0
    assert (out / "keep").read_text() == "not a recording"
    # ... but replaces a recording.
    good = tmp_path / "good.parquet"
    assert run_record("-e", "bio", "-d", "1", good).returncode == 0
    p = run_record("-e", "bio", "-d", "1", "--force", good)
    assert p.returncode == 0, p.stderr


def test_not_root_says_what_is_missing(tmp_path):
    os.chmod(tmp_path, 0o777)
    p = run_record("-e", "bio", "-d", "1", tmp_path / "x.parquet", user=65534)
    assert p.returncode != 0
    assert "root" in p.stderr.lower()
    assert len(p.stderr.strip().splitlines()) <= 2, p.stderr
