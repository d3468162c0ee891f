#!/usr/bin/env bash
# `make demo`: records 10 s of this machine (block I/O, the scheduler, CPU
# samples and execs, with a little load of our own so that nothing is
# empty), shows a few reports, then writes the HTML report demo.html and a
# flame graph demo-flame.svg and says where they are.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
OUT=${OUT:-demo.parquet}
SECS=${SECS:-10}
scratch=$(mktemp -d /var/tmp/ktape-demo.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

if [ "$(id -u)" -ne 0 ]; then
  echo "make demo records with BPF: run it as root (sudo make demo)" >&2
  exit 1
fi

echo "==> ktape-record -e bio,sched,profile,exec -d $SECS --force $OUT   (plus some load of our own)"
"$BIN/ktape-record" -e bio,sched,profile,exec -d "$SECS" --force "$OUT" &
rec=$!
sleep 1
# Background load: direct writes and reads of 4 KiB and 64 KiB (several
# latency buckets, both operations), a CPU-bound loop (samples), context
# switches through a pipe, and short-lived processes (execs).
( for i in 1 2 3; do
    dd if=/dev/zero of="$scratch/a" bs=4k count=2000 oflag=direct status=none
    dd if="$scratch/a" of=/dev/null bs=4k iflag=direct status=none
    dd if=/dev/zero of="$scratch/b" bs=64k count=200 oflag=direct conv=fsync status=none
    timeout 1 sh -c 'while :; do :; done' || true
    perf bench sched pipe -l 20000 >/dev/null 2>&1 || true
    for j in 1 2 3 4 5; do ls "$scratch" >/dev/null; date >/dev/null; done
    sleep 0.5
  done ) || true
wait "$rec"

echo
echo "==> ktape-analyze summary $OUT"
"$BIN/ktape-analyze" summary "$OUT"
echo
echo "==> ktape-analyze biolatency -D $OUT"
"$BIN/ktape-analyze" biolatency -D "$OUT"
echo
echo "==> ktape-analyze biolatency -F $OUT"
"$BIN/ktape-analyze" biolatency -F "$OUT"
echo
echo "==> ktape-analyze biosnoop --min-latency 1ms $OUT | head -15"
"$BIN/ktape-analyze" biosnoop --min-latency 1ms "$OUT" | head -15
echo
echo "==> pandas: pd.read_parquet('$OUT/bio').describe()"
.venv/bin/python -c "import pandas as pd; print(pd.read_parquet('$OUT/bio')[['bytes','latency_ns','queue_ns']].describe())"
echo
echo "==> DuckDB: p50/p99 latency per disk and op"
.venv/bin/python - "$OUT" <<'PY'
import sys, duckdb
print(duckdb.sql(f"""
  SELECT disk, op, count(*) AS n,
         round(quantile_cont(latency_ns, 0.5) / 1e3, 1) AS p50_us,
         round(quantile_cont(latency_ns, 0.99) / 1e3, 1) AS p99_us
  FROM '{sys.argv[1]}/bio/*.parquet' GROUP BY ALL ORDER BY n DESC"""))
PY
echo
echo "==> ktape-analyze heatmap -o demo-heatmap.svg $OUT"
"$BIN/ktape-analyze" heatmap -o demo-heatmap.svg "$OUT"
echo "    open demo-heatmap.svg in a browser: hover a cell for its time, latency range and count"
echo
echo "==> ktape-analyze flamegraph -o demo-flame.svg $OUT"
"$BIN/ktape-analyze" flamegraph -o demo-flame.svg "$OUT"
echo
echo "==> ktape-analyze report -o demo.html $OUT"
"$BIN/ktape-analyze" report -o demo.html "$OUT"
echo
echo "==> ktape-analyze perfetto -o demo.pftrace $OUT"
"$BIN/ktape-analyze" perfetto -o demo.pftrace "$OUT"
echo
echo "Open these in a browser (they need nothing else, also offline):"
echo "    file://$PWD/demo.html          the whole recording on one page"
echo "    file://$PWD/demo-flame.svg     CPU flame graph (click to zoom, Ctrl-F to search)"
echo "    file://$PWD/demo-heatmap.svg   block I/O latency heat map"
echo "and the timeline: open https://ui.perfetto.dev, then \"Open trace file\" and pick"
echo "    $PWD/demo.pftrace   (per-CPU scheduling, CPU samples, block I/O, execs)"
