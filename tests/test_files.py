"""open, fileio and cache end to end: record real opens, file operations
and page-cache activity of a child process, then check what the recording
and ktape-analyze (text and --json) show."""

import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import Recorder, analyze, analyze_json, on_root_disk

# ---- open ------------------------------------------------------------------

MISSING_OPENS = 20
MISSING = "/nonexistent-ktape-dir/no-such-file"

# Python's os.open adds O_CLOEXEC; everything else is what we pass.
OPEN_CHILD = """
import os, sys
sys.stdin.readline()                       # wait until the recorder runs
for _ in range({n}):
    try:
        os.open({missing!r}, os.O_RDONLY)
    except FileNotFoundError:
        pass
    else:
        raise SystemExit("the missing path exists")
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
print(fd, flush=True)
os.close(fd)
"""


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("open")
    out = work / "out.parquet"
    target = work / "created.txt"
    child = subprocess.Popen(
        [sys.executable, "-c", OPEN_CHILD.format(n=MISSING_OPENS, missing=MISSING), str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rec = Recorder(out, "open")
    child.stdin.write("go\n")
    child.stdin.flush()
    fd = int(child.stdout.readline())
    assert child.wait(timeout=30) == 0
    time.sleep(0.3)
    rec.stop()
    return out, child.pid, str(target), fd


def test_missing_path_is_twenty_enoent_rows(open_run):
    out, pid, _, _ = open_run
    t = pq.read_table(out / "open").to_pandas()
    mine = t[t["path"].astype(str) == MISSING]
    assert len(mine) == MISSING_OPENS, mine
    assert (mine["tgid"] == pid).all() and (mine["pid"] == pid).all()
    assert (mine["errno"] == 2).all()
    assert mine["fd"].isna().all()
    assert (mine["flags"] & 0o3 == os.O_RDONLY).all()
    assert (mine["latency_ns"] > 0).all()
    assert (mine["uid"] == os.getuid()).all()


def test_successful_open_has_flags_mode_and_fd(open_run):
    out, pid, target, fd = open_run
    t = pq.read_table(out / "open").to_pandas()
    ok = t[t["path"].astype(str) == target]
    assert len(ok) == 1, ok
    r = ok.iloc[0]
    assert r["tgid"] == pid and r["errno"] == 0 and r["fd"] == fd
    assert r["flags"] == os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    assert r["mode"] == 0o640
    assert str(r["comm"]) == os.path.basename(sys.executable)[:15]


def test_opensnoop_failed_only(open_run):
    out, pid, target, _ = open_run
    lines = analyze("opensnoop", "-x", out).stdout.splitlines()
    assert lines[0].split() == ["PID", "COMM", "FD", "ERR", "PATH"]
    ours = [l.split() for l in lines[1:] if l.endswith(" " + MISSING)]
    assert len(ours) == MISSING_OPENS
    assert all(int(f[0]) == pid and f[2] == "-1" and f[3] == "2" for f in ours)
    assert not any(l.endswith(target) for l in lines), "-x prints failed opens only"


def test_opensnoop_extended_shows_the_successful_open(open_run):
    out, pid, target, fd = open_run
    lines = analyze("opensnoop", "-e", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["PID", "COMM", "FD", "ERR", "FLAGS", "MODE", "PATH"]
    row = [l.split() for l in lines[1:] if l.endswith(" " + target)]
    assert len(row) == 1
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    assert row[0][2:6] == [str(fd), "0", f"{flags:08o}", "0640"]


def test_opensnoop_json(open_run):
    out, pid, target, fd = open_run
    j = analyze_json("opensnoop", "-p", pid, out)
    missing = [r for r in j["rows"] if r["path"] == MISSING]
    assert len(missing) == MISSING_OPENS
    assert all(r["errno"] == 2 and r["fd"] == -1 and r["pid"] == pid for r in missing)
    ok = [r for r in j["rows"] if r["path"] == target]
    assert len(ok) == 1 and ok[0]["fd"] == fd and ok[0]["mode"] == 0o640
    assert j["loss"]["total"] == 0
    x = analyze_json("opensnoop", "-x", "-p", pid, out)
    assert all(r["errno"] != 0 for r in x["rows"])
    assert sum(r["path"] == MISSING for r in x["rows"]) == MISSING_OPENS


# ---- fileio ------------------------------------------------------------------

SYNCS = 100
CHUNK = 64 * 1024

# Each round writes 64 KiB and fsyncs, so the file ends at 6.4 MiB. Output
# goes to a pipe (stdout), which the kernel side must filter out.
FSYNC_CHILD = """
import os, sys
sys.stdin.readline()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range({n}):
    assert os.write(fd, b"k" * {chunk}) == {chunk}
    os.fsync(fd)
os.close(fd)
print("done", flush=True)
"""


def root_fs_type():
    """The root filesystem's type as the kernel names it (ext4, xfs …)."""
    fstype = None
    for line in open("/proc/self/mounts"):
        f = line.split()
        if f[1] == "/":
            fstype = f[2]  # the last mount on / is the one in effect
    return fstype


@pytest.fixture(scope="module")
def fileio_run(tmp_path_factory):
    work = on_root_disk(tmp_path_factory, "fileio")
    target = work / "synced.dat"
    child = subprocess.Popen(
        [sys.executable, "-c", FSYNC_CHILD.format(n=SYNCS, chunk=CHUNK), str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = work / "out.parquet"
    slow = work / "slow.parquet"
    rec = Recorder(out, "fileio")
    # A second recorder of the same child that keeps only calls of 1 s or
    # more, filtered in the kernel: none of these comes close.
    rec_slow = Recorder(slow, "fileio", ["-p", str(child.pid), "--min-latency", "1s"])
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline() == "done\n"
    assert child.wait(timeout=60) == 0
    time.sleep(0.3)
    rec.stop()
    rec_slow.stop()
    return out, slow, child.pid, target


def test_fsync_rows_are_exact(fileio_run):
    out, _, pid, target = fileio_run
    t = pq.read_table(out / "file_op").to_pandas()
    mine = t[t["tgid"] == pid]
    syncs = mine[mine["op"].astype(str) == "fsync"]
    assert len(syncs) == SYNCS, syncs
    assert (syncs["fs"].astype(str) == root_fs_type()).all()
    assert (syncs["path"].astype(str) == target.name).all()
    st = os.stat(target)
    assert (syncs["inode"] == st.st_ino).all()
    assert (syncs["bytes"] == 0).all() and (syncs["ret"] == 0).all()
    assert (syncs["latency_ns"] > 0).all()


def test_writes_have_offsets_and_bytes(fileio_run):
    out, _, pid, target = fileio_run
    t = pq.read_table(out / "file_op").to_pandas()
    mine = t[t["tgid"] == pid]
    writes = mine[mine["op"].astype(str) == "write"].sort_values("ts")
    assert len(writes) == SYNCS
    assert list(writes["offset"]) == [i * CHUNK for i in range(SYNCS)]
    assert (writes["bytes"] == CHUNK).all() and (writes["ret"] == CHUNK).all()
    # Nothing else of the child: its reads of stdin and write to stdout are
    # pipes, which the kernel side drops.
    assert len(mine) == 2 * SYNCS, mine["op"].value_counts()
    assert set(mine["path"].astype(str)) == {target.name}


def test_min_latency_filters_in_the_kernel(fileio_run):
    _, slow, _, _ = fileio_run
    assert pq.read_table(slow / "file_op").num_rows == 0


def test_fsslower_lists_the_fsyncs(fileio_run):
    out, _, pid, target = fileio_run
    lines = analyze("fsslower", "-m", "0", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)", "FILENAME"]
    rows = [l.split() for l in lines[1:]]
    assert len(rows) == 2 * SYNCS
    f = [r for r in rows if r[3] == "F"]
    assert len(f) == SYNCS
    assert all(r[2] == str(pid) and r[4] == "0" and r[7] == target.name for r in f)
    w = [r for r in rows if r[3] == "W"]
    assert [int(r[5]) for r in w] == [i * CHUNK // 1024 for i in range(SYNCS)]
    j = analyze_json("fsslower", "-m", "0", "-t", root_fs_type(), "-p", pid, out)
    assert sum(r["op"] == "fsync" and r["path"] == target.name for r in j["rows"]) == SYNCS
    assert analyze_json("fsslower", "-m", "0", "-t", "nosuchfs", "-p", pid, out)["rows"] == []


def test_filetop_counts_the_writes(fileio_run):
    out, _, pid, target = fileio_run
    lines = analyze("filetop", "-p", pid, out).stdout.splitlines()
    assert lines[0].split() == ["TID", "COMM", "READS", "WRITES", "R_Kb", "W_Kb", "T", "FILE"]
    assert len(lines) == 2
    f = lines[1].split()
    assert f[0] == str(pid) and f[2:] == ["0", str(SYNCS), "0", str(SYNCS * CHUNK // 1024), "R", target.name]
    [iv] = analyze_json("filetop", "-p", pid, out)["intervals"]
    assert iv["rows"][0]["write_bytes"] == SYNCS * CHUNK and iv["rows"][0]["inode"] == os.stat(target).st_ino


# ---- cache -------------------------------------------------------------------

FILE_PAGES = 2048            # an 8 MiB file of 4 KiB pages
NEW_PAGES = 256              # 1 MiB written to a new file
PAGE = os.sysconf("SC_PAGE_SIZE")
METADATA = 4                 # filesystem metadata pages a create/write may add

# Commands on stdin: `cold` drops the file from the page cache and reads it
# all; `warm` reads it again; `write` writes NEW_PAGES pages to a new file.
CACHE_CHILD = """
import os, sys
path, new = sys.argv[1], sys.argv[2]
for cmd in sys.stdin:
    cmd = cmd.strip()
    if cmd in ("cold", "warm"):
        fd = os.open(path, os.O_RDONLY)
        if cmd == "cold":
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        n = 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            n += len(b)
        os.close(fd)
        assert n == {size}
    elif cmd == "write":
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        assert os.write(fd, b"w" * ({new_pages} * {page})) == {new_pages} * {page}
        os.close(fd)
    print("ok", flush=True)
"""


def cache_sums(out):
    t = pq.read_table(out / "cache").to_pandas()
    return {c: int(t[c].sum()) for c in ("added_pages", "dirtied_pages", "read_pages", "mapped_pages")}


@pytest.fixture(scope="module")
def cache_run(tmp_path_factory):
    assert PAGE == 4096, "the page counts below assume 4 KiB pages"
    work = on_root_disk(tmp_path_factory, "cache")
    path = work / "cached.dat"
    with open(path, "wb") as f:
        f.write(os.urandom(FILE_PAGES * PAGE))
        f.flush()
        os.fsync(f.fileno())  # clean pages, so DONTNEED can drop them
    child = subprocess.Popen(
        [sys.executable, "-c", CACHE_CHILD.format(size=FILE_PAGES * PAGE, new_pages=NEW_PAGES, page=PAGE),
         str(path), str(work / "new.dat")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def do(cmd):
        child.stdin.write(cmd + "\n")
        child.stdin.flush()
        assert child.stdout.readline() == "ok\n"

    # One recording per phase, each of the child only (-p): the counters
    # are then the child's own, whatever else the machine does.
    cold = work / "cold.parquet"
    rec = Recorder(cold, "cache", ["-p", str(child.pid)])
    do("cold")
    do("write")
    time.sleep(1.2)  # at least one row a second
    rec.stop()
    warm = work / "warm.parquet"
    rec = Recorder(warm, "cache", ["-p", str(child.pid)])
    # The page cache here may lose clean pages at any time (a memory
    # cgroup's limit reclaims them: a few of the file's pages were seen to
    # go between the two reads), so the warm read's misses are the pages
    # not resident just before it, as mincore sees them (fincore runs in
    # its own process, outside the -p filter, and adds no page).
    resident = subprocess.run(["fincore", "--noheadings", "--output", "PAGES", str(path)],
                              capture_output=True, text=True, check=True)
    missing = FILE_PAGES - int(resident.stdout.split()[0])
    do("warm")
    time.sleep(1.2)
    rec.stop()
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    return cold, warm, missing


def test_cold_read_misses_every_page(cache_run):
    cold, _, _ = cache_run
    s = cache_sums(cold)
    # Every page of the dropped file entered the cache once, and the new
    # file's pages were added and dirtied once each. The counters are
    # bcc's, system-wide page cache, so the filesystem's own metadata
    # blocks (directory, inode table: pages of the disk's cache) that the
    # child's create and write touch count too: a page or so (257 dirtied
    # pages seen once in a full run).
    assert FILE_PAGES + NEW_PAGES <= s["added_pages"] <= FILE_PAGES + NEW_PAGES + METADATA, s
    assert NEW_PAGES <= s["dirtied_pages"] <= NEW_PAGES + METADATA, s
    # Estimate: the reads asked for every page at least once.
    assert FILE_PAGES <= s["read_pages"] <= 2 * FILE_PAGES, s
    assert s["mapped_pages"] == 0, s


def test_warm_read_hits(cache_run):
    _, warm, missing = cache_run
    s = cache_sums(warm)
    # Every resident page is a hit: only the missing ones enter the cache
    # (give or take a page reclaimed during the read itself).
    assert missing <= s["added_pages"] <= missing + METADATA and s["dirtied_pages"] == 0, (s, missing)
    assert missing < FILE_PAGES // 8, f"{missing} pages were not cached: no warm read to test"
    assert FILE_PAGES <= s["read_pages"] <= 2 * FILE_PAGES, s


def cachestat_totals(out):
    # One line for the whole recording: the sums are then exact (per line,
    # bcc's max(added - dirtied, 0) could split a write across two lines).
    p = analyze("cachestat", "-i", "1h", out)
    assert len(p.stdout.splitlines()) == 2
    assert len(analyze("cachestat", out).stdout.splitlines()) >= 2
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB", "CACHED_MB"]
    assert "estimates" in p.stderr
    rows = [l.split() for l in lines[1:]]
    assert len(rows) >= 1 and all(len(r) == 6 for r in rows)
    return [sum(int(r[i]) for r in rows) for i in range(3)]


def test_cachestat_cold_and_warm(cache_run):
    cold, warm, missing = cache_run
    hits, misses, dirties = cachestat_totals(cold)
    # bcc's arithmetic on the counters, exactly: misses = added - dirtied.
    s = cache_sums(cold)
    assert misses == s["added_pages"] - s["dirtied_pages"] and dirties == s["dirtied_pages"]
    assert abs(misses - FILE_PAGES) <= METADATA and NEW_PAGES <= dirties <= NEW_PAGES + METADATA
    hits, misses, dirties = cachestat_totals(warm)
    s = cache_sums(warm)
    assert misses == s["added_pages"] and dirties == 0
    assert missing <= misses <= missing + METADATA
    assert hits >= FILE_PAGES
    j = analyze_json("cachestat", warm)
    assert "hits" in j["estimated"] and sum(l["hits"] for l in j["lines"]) == hits
    assert all(l["hit_ratio"] == 100.0 for l in j["lines"] if l["hits"] and not l["misses"])
    assert all(abs(l["hit_ratio"] - 100.0 * l["hits"] / l["accesses"]) < 1e-9
               for l in j["lines"] if l["accesses"])
