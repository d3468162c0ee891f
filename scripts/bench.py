#!/usr/bin/env python3
"""`make bench`: drives the recorder with a reproducible load and prints,
per family, what recording costs.

For each family the same load runs twice in one invocation, first with no
recorder and then under `ktape-record`, so the slowdown is a ratio from one
run. Printed per family: rows of its main table (bio, sched_switch)
recorded, rows/s, lost events, events (rows of all its tables), the
recorder's user+sys CPU ns per main-table row and per event (getrusage of
the child), in-kernel ns per BPF program run (kernel.bpf_stats_enabled:
run_time_ns / run_cnt summed over this recorder's own programs, found by
its fds, so other recorders on the machine do not count), bytes per
main-table row on disk and the recorder's peak RSS.

Loads: bio, parallel O_DIRECT 4 KiB reads with dd; sched, `perf bench
sched pipe` pinned to each of the first two CPUs (fixed loop count);
runqlen, the sched load again (the sampler's cost does not depend on it:
99 samples a second per CPU).

Then, side by side with the peer (scripts/bench_peer.py, whose doc gives
the method): `perf record -z` and `ktape-record -e sched` on the same
load, alternately, `--peer-rounds` times (default 3; 0 skips it): each
recorder's CPU, the whole machine's extra busy time and the bytes, per
`sched_switch` event, and their ratios.

`--duration S` (or KTAPE_BENCH_SECONDS) sizes each load to run about S
seconds without the recorder, from the warm-up's speed: `--duration 30
sched` is the issue's 30-second no-loss run.

This is a benchmark, not a test: it asserts nothing.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peer  # noqa: E402
import bench_stacks  # noqa: E402
from benchlib import cpu_ns, pipe_load, wait_holding  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("KTAPE_BIN", REPO / "target" / "release"))


def bio_load(scratch, scale):
    """Parallel 4 KiB O_DIRECT reads of a file: many small requests."""
    n = int(20000 * scale)
    f = scratch / "bio-load"
    if not f.exists() or f.stat().st_size < 2 * n * 4096:
        subprocess.run(["dd", "if=/dev/zero", f"of={f}", "bs=4k", f"count={2 * n}",
                        "conv=fsync", "status=none"], check=True)
    procs = [subprocess.Popen(["dd", f"if={f}", "of=/dev/null", "bs=4k", f"count={n}",
                               "iflag=direct", f"skip={i * n}", "status=none"])
             for i in range(2)]
    for p in procs:
        p.wait()


def sched_load(scratch, scale):
    """The pipe ping-pong of benchlib, 300000 messages per CPU at scale 1."""
    pipe_load(int(300000 * scale))


FAMILIES = {
    # family: (load function, tables: the first one's rows count as events
    # for the per-row numbers, all of them for the per-event ones)
    "bio": (bio_load, ["bio"]),
    "sched": (sched_load, ["sched_switch", "sched_wakeup"]),
    "runqlen": (sched_load, ["runqlen"]),
}


def own_prog_ids(pid):
    """Ids of the BPF programs a process holds: other recorders on the
    machine must not count."""
    ids = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split(":")[1]))
        except OSError:
            pass
    return ids


def bpf_stats(ids):
    """(run_time_ns, run_cnt) per program name, over the given program ids."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True).stdout
    per = {}
    for p in json.loads(out or "[]"):
        if p.get("id") in ids:
            ns, cnt = per.get(p.get("name", "?"), (0, 0))
            per[p.get("name", "?")] = (ns + p.get("run_time_ns", 0), cnt + p.get("run_cnt", 0))
    return per


def stats_delta(k0, k1):
    """Per-program (ns, runs) between two bpf_stats snapshots, programs that ran only."""
    d = {}
    for name, (ns, cnt) in k1.items():
        ns0, cnt0 = k0.get(name, (0, 0))
        if cnt > cnt0:
            d[name] = (ns - ns0, cnt - cnt0)
    return d


def bench(family, scale, scratch, duration=None):
    load, tables = FAMILIES[family]
    table = tables[0]
    t0 = time.monotonic()
    load(scratch, scale * 0.1)  # warm up: create files, fill caches
    warm = time.monotonic() - t0
    if duration:
        # Loads are linear in their scale: size this one to last `duration`.
        scale = scale * 0.1 * duration / max(warm, 1e-3)
    t0 = time.monotonic()
    load(scratch, scale)
    base = time.monotonic() - t0

    out = scratch / f"{family}.parquet"
    rec = subprocess.Popen([str(BIN / "ktape-record"), "-e", family, "--force", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_holding(rec, "bpf_link")
    ids = own_prog_ids(rec.pid)
    k0 = bpf_stats(ids)
    c0 = cpu_ns(rec.pid)
    t0 = time.monotonic()
    load(scratch, scale)
    loaded = time.monotonic() - t0
    k1 = bpf_stats(ids)
    time.sleep(0.1)  # one more drain cycle and batch cut
    c1 = cpu_ns(rec.pid)
    rec.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(rec.pid, 0)
    if status != 0:
        sys.exit(f"ktape-record failed: status {status}")
    rows = pq.read_table(out / table).num_rows
    events = sum(pq.read_table(out / t).num_rows for t in tables)
    lost = pq.read_table(out / "loss").to_pandas()["lost"].sum()
    size = sum(f.stat().st_size for f in (out / table).iterdir())
    total_cpu_ns = (ru.ru_utime + ru.ru_stime) * 1e9
    per_prog = stats_delta(k0, k1)
    kns = sum(ns for ns, _ in per_prog.values())
    kcnt = sum(cnt for _, cnt in per_prog.values())
    return {
        "family": family,
        "rows": rows,
        "rows_per_s": rows / loaded if loaded else 0,
        "lost": int(lost),
        "events": events,
        # CPU of the recorder while the load ran (drain + encode + write),
        # per row; the whole run including start-up and the final flush is
        # the second figure.
        "user_sys_ns_per_row": (c1 - c0) / rows if rows else float("nan"),
        "user_sys_ns_per_event": (c1 - c0) / events if events else float("nan"),
        "total_cpu_ns_per_row": total_cpu_ns / rows if rows else float("nan"),
        "kernel_ns_per_run": kns / kcnt if kcnt else float("nan"),
        # A row can take several program runs (bio: submit, insert, issue,
        # complete), so the in-kernel cost per row is the sum.
        "kernel_ns_per_row": kns / rows if rows else float("nan"),
        "bpf_runs": kcnt,
        # Per hook: which program costs what.
        "kernel_ns_per_run_by_prog": {n: ns / cnt for n, (ns, cnt) in sorted(per_prog.items())},
        "bytes_per_row": size / rows if rows else float("nan"),
        "peak_rss_mib": ru.ru_maxrss / 1024,
        "load_s_without": base,
        "load_s_with": loaded,
        "slowdown": loaded / base if base else float("nan"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("families", nargs="*", default=list(FAMILIES), help="families to bench (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="load size multiplier (default 1)")
    ap.add_argument("--duration", "-d", type=float,
                    default=float(os.environ["KTAPE_BENCH_SECONDS"]) if os.environ.get("KTAPE_BENCH_SECONDS") else None,
                    help="size each load to run about this many seconds (default: fixed size; "
                         "env KTAPE_BENCH_SECONDS)")
    ap.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ap.add_argument("--stacks-secs", type=int, default=10,
                    help="seconds per run of the profile stacks bench (scripts/bench_stacks.py; 0 skips it)")
    ap.add_argument("--peer-rounds", type=int, default=3,
                    help="rounds of the side-by-side run against perf record -z (default 3; 0: skip)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("make bench records with BPF: run it as root")
    old = Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()
    Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
    try:
        with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="ktape-bench.") as d:
            results = [bench(f, args.scale, Path(d), args.duration) for f in args.families]
            peer = (bench_peer.run(BIN, Path(d), args.peer_rounds, int(300000 * args.scale))
                    if args.peer_rounds > 0 else None)
    finally:
        Path("/proc/sys/kernel/bpf_stats_enabled").write_text(old)
    if args.json:
        for r in results:
            print(json.dumps(r))
        if peer:
            print(json.dumps({"peer": peer}))
        return
    cols = [("family", "{}"), ("rows", "{}"), ("rows_per_s", "{:.0f}"), ("lost", "{}"),
            ("events", "{}"), ("user_sys_ns_per_row", "{:.0f}"),
            ("user_sys_ns_per_event", "{:.0f}"), ("total_cpu_ns_per_row", "{:.0f}"),
            ("kernel_ns_per_run", "{:.0f}"), ("kernel_ns_per_row", "{:.0f}"),
            ("bytes_per_row", "{:.2f}"), ("peak_rss_mib", "{:.1f}"),
            ("load_s_without", "{:.2f}"), ("load_s_with", "{:.2f}"), ("slowdown", "{:.3f}")]
    for r in results:
        print(f"== {r['family']}")
        for k, fmt in cols[1:]:
            print(f"  {k:<22} {fmt.format(r[k])}")
        for name, ns in r["kernel_ns_per_run_by_prog"].items():
            print(f"  {'  ns/run ' + name:<22} {ns:.0f}")
    if peer:
        bench_peer.print_table(peer)
    if args.stacks_secs > 0:
        print()
        bench_stacks.print_table(bench_stacks.run(args.stacks_secs, [49, 499, 999]))


if __name__ == "__main__":
    main()
