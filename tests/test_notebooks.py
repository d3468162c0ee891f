"""The notebooks run, cell by cell, against recordings made here; and they
are committed without outputs."""

import os
import subprocess
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import BIN, REPO, Recorder, on_root_disk

NOTEBOOKS = REPO / "notebooks"


def busy(seconds):
    """A CPU-bound child, so that the profile has samples."""
    return subprocess.Popen(["python3", "-c",
                             f"import time\nend = time.time() + {seconds}\n"
                             "while time.time() < end: pass"])


def record_some_io(out, work, writes, events="bio"):
    rec = Recorder(out, events)
    spin = busy(1.0)
    subprocess.run(["dd", "if=/dev/zero", f"of={work}/{out.parent.name}.dat", "bs=4k",
                    f"count={writes}", "oflag=direct", "status=none"], check=True)
    spin.wait()
    time.sleep(0.3)
    rec.stop()


def execute(name, cwd, **env):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.mark.parametrize("name", ["quickstart.ipynb", "fleet.ipynb"])
def test_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: strip the outputs before committing")


def test_quickstart_runs(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "nb-quick")
    out = work / "out.parquet"
    record_some_io(out, work, 300, events="bio,profile")
    nb = execute("quickstart.ipynb", work, KTAPE_RECORDING=out, KTAPE_BIN=BIN)
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "block requests" in text
    assert (work / "out.parquet.latency.png").stat().st_size > 0
    svg = (work / "out.parquet.flame.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg


def test_fleet_runs(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "nb-fleet")
    fleet = work / "fleet"
    for host, writes in (("alpha", 100), ("beta", 200)):
        out = fleet / f"host={host}" / "out.parquet"
        out.parent.mkdir(parents=True)
        record_some_io(out, work, writes)
    execute("fleet.ipynb", work, KTAPE_FLEET=fleet, KTAPE_BIN=BIN)
    assert (fleet / "latency_by_host.png").stat().st_size > 0
