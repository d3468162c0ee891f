"""Long recordings: --rotate starts new segments in every table together
(a table with no rows in a segment has no file for it, but `loss` and
`counters` have one in every segment), --keep deletes the oldest, and
every reader sees one recording."""

import json
import re
import subprocess
import time

import pyarrow.parquet as pq

from conftest import Recorder, analyze_json
from test_bio import unpaired_loss

TABLES = ("bio", "loss", "process")


def segments(out, table):
    return sorted(p.name for p in (out / table).iterdir())


def io(path, n=50):
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4096", f"count={n}",
                    "oflag=direct", "status=none"], check=True)


def test_rotate_by_time_every_table_together(tmp_path):
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "bio", extra=["--rotate", "1s"])
    for _ in range(4):
        io(tmp_path / "io")
        time.sleep(0.6)
    rec.stop()
    names = segments(out, "loss")
    assert len(names) >= 3, names
    assert segments(out, "counters") == names
    assert len(segments(out, "bio")) >= 3
    for t in TABLES:
        assert set(segments(out, t)) <= set(names), f"{t} rotated apart from loss"
    assert all(re.fullmatch(r"\d{6}\.parquet", n) for n in names)
    # Consecutive segments share their boundary.
    ranges = []
    for n in names:
        m = pq.read_metadata(out / "loss" / n).metadata
        ranges.append((int(m[b"ktape.segment_start_ns"]), int(m[b"ktape.segment_end_ns"])))
        assert int(m[b"ktape.segment"]) == int(n[:6])
    for (a0, a1), (b0, b1) in zip(ranges, ranges[1:]):
        assert a1 == b0 and a0 < a1 <= b1
    # Readers treat the segments as one recording.
    rows = pq.read_table(out / "bio").num_rows
    assert rows + unpaired_loss(out) >= 200
    summary = {t["name"]: t for t in analyze_json("summary", out)["tables"]}
    assert summary["bio"]["rows"] == rows
    assert summary["bio"]["segments"] == len(segments(out, "bio"))
    [h] = analyze_json("biolatency", out)["histograms"]
    assert h["total"] == rows


def test_keep_deletes_the_oldest(tmp_path):
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "bio", extra=["--rotate", "500ms", "--keep", "2"])
    time.sleep(3)
    rec.stop()
    names = segments(out, "loss")
    # The two newest complete segments and the one open at the stop.
    assert len(names) == 3, names
    assert names[0] != "000000.parquet"
    nums = [int(n[:6]) for n in names]
    assert nums == list(range(nums[0], nums[0] + 3))
    for t in TABLES:
        # Every table stays, within the kept segments.
        assert segments(out, t) and set(segments(out, t)) <= set(names), t
    analyze_json("summary", out)


def test_rotate_by_size(tmp_path):
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "bio", extra=["--rotate", "4KiB"])
    for _ in range(3):
        io(tmp_path / "io", 2000)
        time.sleep(1.2)
    rec.stop()
    assert len(segments(out, "bio")) >= 2
    # Each write is a row or, rarely, an unpaired loss (test_bio.py).
    assert pq.read_table(out / "bio").num_rows + unpaired_loss(out) >= 6000


def test_rotate_needs_a_unit(tmp_path):
    from conftest import RECORD
    p = subprocess.run([str(RECORD), "-e", "bio", "--rotate", "60", "-d", "1", tmp_path / "x"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "--rotate 60" in p.stderr and "unit" in p.stderr
