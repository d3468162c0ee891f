"""The side-by-side half of `make bench`: ktape-record against the peer
that users would otherwise run, `perf record -z`, on the same load in the
same invocation.

Method. The load is `perf bench sched pipe -l N` pinned to each CPU (a
context switch and a wakeup per message). Each round runs, in an order
that alternates between rounds, the load alone, the load under
`perf record -z -e sched:sched_switch -a`, and the load under
`ktape-record -e sched` (which records every `sched_wakeup` as well and is
charged for it). For each recorder:

* events: `sched_switch` events it recorded (perf: the samples in
  perf.data, counted by `perf report --stats`; ktape: rows of
  `sched_switch`);
* recorder ns/event: the recorder process's CPU time (all threads) from
  just before the load starts until it has exited (so its final flush,
  compression and fsync count; start-up does not), over events;
* machine ns/event: busy time of the whole machine (`/proc/stat`: all
  but idle and iowait) while the load ran under the recorder, minus the
  same for the load alone in that round, over events: what recording
  costs everyone, kernel side included;
* bytes/event: the whole output (perf.data; every table of the
  recording) over events.

Each figure is the median over the rounds; ratios are ktape over perf.
"""

import os
import re
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from benchlib import cpu_ns, pipe_load, wait_holding

CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_ns():
    """Busy time of the whole machine so far, ns (every CPU)."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = [int(x) for x in f]
    # user nice system idle iowait irq softirq steal (guest is in user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy * 1e9 / CLK_TCK


def ensure_tracefs():
    """perf resolves tracepoints through tracefs, which a fresh machine
    does not mount."""
    if not Path("/sys/kernel/tracing/events").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=False)


def measured(argv, holding, n):
    """Runs the load under a recorder, started once it holds an fd named
    `holding`: (recorder ns, machine busy ns)."""
    rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_holding(rec, holding)
    c0 = cpu_ns(rec.pid)
    b0 = busy_ns()
    pipe_load(n)
    b1 = busy_ns()
    rec.send_signal(signal.SIGINT)
    _, status, ru = os.wait4(rec.pid, 0)
    err = rec.stderr.read().decode(errors="replace")
    # perf ends by re-raising the SIGINT it handled: that is its success.
    by_int = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT
    if status != 0 and not by_int:
        sys.exit(f"{argv[0]} failed (status {status}): {err}")
    total = (ru.ru_utime + ru.ru_stime) * 1e9
    return total - c0, b1 - b0


def perf_events(data):
    out = subprocess.run(["perf", "report", "--stats", "-i", str(data)],
                         capture_output=True, text=True).stdout
    m = re.search(r"SAMPLE events:\s+(\d+)", out)
    if not m:
        sys.exit(f"perf report --stats: no SAMPLE count in:\n{out}")
    return int(m.group(1))


def run(bin_dir, scratch, rounds=3, loops=300000):
    ensure_tracefs()
    pipe_load(loops // 10)  # warm up
    rows = {"perf record -z": [], "ktape-record -e sched": []}
    for i in range(rounds):
        b0 = busy_ns()
        pipe_load(loops)
        alone = busy_ns() - b0
        order = ["perf", "ktape"] if i % 2 == 0 else ["ktape", "perf"]
        for who in order:
            if who == "perf":
                data = scratch / "perf.data"
                rec, busy = measured(["perf", "record", "-z", "-e", "sched:sched_switch", "-a",
                                      "-o", str(data)],
                                     "perf_event", loops)
                events = perf_events(data)
                size = data.stat().st_size
                rows["perf record -z"].append((rec, busy - alone, size, events))
            else:
                out = scratch / "peer.parquet"
                rec, busy = measured([str(bin_dir / "ktape-record"), "-e", "sched", "--force",
                                      str(out)], "bpf_link", loops)
                events = pq.read_table(out / "sched_switch").num_rows
                size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
                rows["ktape-record -e sched"].append((rec, busy - alone, size, events))
    result = {}
    for name, rs in rows.items():
        result[name] = {
            "events": statistics.median(r[3] for r in rs),
            "machine_ns_per_event": statistics.median(r[1] / r[3] for r in rs),
            "recorder_ns_per_event": statistics.median(r[0] / r[3] for r in rs),
            "bytes_per_event": statistics.median(r[2] / r[3] for r in rs),
        }
    return result


def print_table(result):
    keys = [("machine_ns_per_event", "machine ns/event", "{:.0f}"),
            ("recorder_ns_per_event", "recorder ns/event", "{:.0f}"),
            ("bytes_per_event", "bytes/event", "{:.2f}")]
    print("== side by side: sched_switch, median of the rounds")
    print(f"  {'recorder':<24}{'events':>10}" + "".join(f"{h:>20}" for _, h, _ in keys))
    for name, r in result.items():
        print(f"  {name:<24}{r['events']:>10.0f}" + "".join(f"{f.format(r[k]):>20}" for k, _, f in keys))
    k, p = result["ktape-record -e sched"], result["perf record -z"]
    print(f"  {'ktape / perf -z':<24}{'':>10}" +
          "".join(f"{k[key] / p[key]:>20.2f}" for key, _, _ in keys))
