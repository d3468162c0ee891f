"""Bad input gets a clear error that names the file."""

import shutil

import pytest

from conftest import Recorder, analyze


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("err") / "out.parquet"
    rec = Recorder(out, "bio", extra=["-d", "1"])
    assert rec.wait() == 0, rec.stderr()
    return out


@pytest.mark.parametrize("report", ["summary", "biolatency", "biosnoop"])
def test_truncated_segment_is_named(recording, tmp_path, report):
    bad = tmp_path / "bad.parquet"
    shutil.copytree(recording, bad)
    seg = bad / "bio" / "000000.parquet"
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) // 2])
    p = analyze(report, bad, check=False)
    assert p.returncode != 0
    assert str(seg) in p.stderr


def test_foreign_file_is_named(recording, tmp_path):
    bad = tmp_path / "bad.parquet"
    shutil.copytree(recording, bad)
    seg = bad / "bio" / "000001.parquet"
    seg.write_text("this is not parquet\n")
    p = analyze("biolatency", bad, check=False)
    assert p.returncode != 0
    assert str(seg) in p.stderr


def test_missing_path_is_named(tmp_path):
    p = analyze("summary", tmp_path / "nope.parquet", check=False)
    assert p.returncode != 0
    assert "nope.parquet" in p.stderr
