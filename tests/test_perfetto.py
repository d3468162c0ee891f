"""End to end: `ktape-analyze perfetto` on a real recording of -e
bio,sched,profile,exec (a context-switch storm from `perf bench sched
pipe`, direct writes from `dd`), decoded with Perfetto's official schema
(the PyPI package `perfetto`'s perfetto_trace_pb2), checked fact by fact
against the recording's rows as pyarrow reads them."""

import subprocess
from collections import Counter

import pyarrow.parquet as pq
import pytest
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from conftest import ANALYZE, Recorder, analyze, on_root_disk

WRITES = 3000
SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = on_root_disk(tmp_path_factory, "perfetto")
    out = d / "rec.parquet"
    rec = Recorder(out, events="bio,sched,profile,exec")
    subprocess.run(["perf", "bench", "sched", "pipe", "-l", "50000"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["dd", "if=/dev/zero", f"of={d / 'f'}", "bs=4k", f"count={WRITES}",
                    "oflag=direct", "status=none"], check=True)
    rec.stop()
    path = d / "trace.pftrace"
    p = analyze("perfetto", "-o", path, out)
    t = pb.Trace()
    t.ParseFromString(path.read_bytes())
    yield out, path, t, p
    (d / "f").unlink(missing_ok=True)


def rows(rec, table, columns=None):
    return pq.read_table(rec / table, columns=columns)


def meta(rec, table):
    """Key-value metadata of every segment of a table."""
    out = []
    for f in sorted((rec / table).glob("*.parquet")):
        kv = pq.read_metadata(f).metadata
        out.append({k.decode(): v.decode() for k, v in kv.items()})
    return out


def test_writes_a_trace(trace):
    _, path, t, p = trace
    assert path.stat().st_size > 0
    assert len(t.packet) > 0
    assert f"perfetto: wrote {path}" in p.stderr


def test_one_switch_per_sched_switch_row(trace):
    rec, _, t, _ = trace
    switches = wakeups = 0
    per_cpu = Counter()
    for pk in t.packet:
        if pk.HasField("ftrace_events"):
            c = pk.ftrace_events.compact_sched
            n = len(c.switch_timestamp)
            # Every column of the compact form is complete.
            assert len(c.switch_prev_state) == n
            assert len(c.switch_next_pid) == n
            assert len(c.switch_next_prio) == n
            assert len(c.switch_next_comm_index) == n
            assert all(i < len(c.intern_table) for i in c.switch_next_comm_index)
            assert len(c.waking_pid) == len(c.waking_timestamp)
            assert all(i < len(c.intern_table) for i in c.waking_comm_index)
            assert n + len(c.waking_timestamp) <= 10_000
            switches += n
            wakeups += len(c.waking_timestamp)
            per_cpu[pk.ftrace_events.cpu] += n
    sw = rows(rec, "sched_switch", ["cpu"])
    assert sw.num_rows > 50_000  # the pipe benchmark alone switches 100k times
    assert switches == sw.num_rows
    assert wakeups == rows(rec, "sched_wakeup", ["ts"]).num_rows
    want = Counter(sw.column("cpu").to_pylist())
    assert per_cpu == want


def test_one_sample_per_profile_row(trace):
    rec, _, t, _ = trace
    samples = [pk for pk in t.packet if pk.HasField("perf_sample")]
    prof = rows(rec, "profile", ["ts"])
    assert prof.num_rows > 0
    assert len(samples) == prof.num_rows
    # Incremental state: cleared on the first sample's packet, needed by all.
    assert samples[0].sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED
    assert all(s.sequence_flags & SEQ_NEEDS_INCREMENTAL_STATE for s in samples)
    assert all(not (s.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED) for s in samples[1:])
    assert len({s.trusted_packet_sequence_id for s in samples}) == 1


def test_event_names_are_interned_once_and_resolve(trace):
    _, _, t, _ = trace
    names, args = {}, {}
    seqs, first = set(), None
    used = 0
    for pk in t.packet:
        if not pk.HasField("track_event") or pk.track_event.type == pk.track_event.TYPE_SLICE_END:
            continue
        e = pk.track_event
        if e.type == e.TYPE_COUNTER:
            continue
        seqs.add(pk.trusted_packet_sequence_id)
        if first is None:
            first = pk
            assert pk.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED
        else:
            assert not pk.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED
        assert pk.sequence_flags & SEQ_NEEDS_INCREMENTAL_STATE
        for n in pk.interned_data.event_names:
            assert n.iid not in names, "a name interned twice"
            names[n.iid] = n.name
        for n in pk.interned_data.debug_annotation_names:
            assert n.iid not in args
            args[n.iid] = n.name
        assert e.name_iid in names and not e.HasField("name")
        assert all(a.name_iid in args for a in e.debug_annotations)
        used += 1
    assert used > 0 and len(seqs) == 1
    # Block requests are named by their operation and carry their sector.
    assert "sector" in args.values()


def test_every_callstack_is_interned_before_use(trace):
    _, _, t, _ = trace
    callstacks, frames, names, mappings = {}, set(), set(), set()
    used = 0
    for pk in t.packet:
        if pk.HasField("interned_data"):
            i = pk.interned_data
            names |= {s.iid for s in i.function_names}
            mappings |= {m.iid for m in i.mappings}
            for f in i.frames:
                assert f.function_name_id in names
                assert f.mapping_id in mappings
                frames.add(f.iid)
            for c in i.callstacks:
                assert c.frame_ids, "an empty callstack"
                assert all(f in frames for f in c.frame_ids)
                callstacks[c.iid] = c
        if pk.HasField("perf_sample"):
            assert pk.perf_sample.callstack_iid in callstacks
            used += 1
    assert used > 0
    # Some frame of the samples is named (symbolized while recording).
    named = [s for pk in t.packet if pk.HasField("interned_data")
             for s in pk.interned_data.function_names if not s.str.startswith(b"[")]
    assert named


def test_one_slice_per_block_request(trace):
    rec, _, t, _ = trace
    lanes, group = set(), None
    for pk in t.packet:
        if pk.HasField("track_descriptor"):
            d = pk.track_descriptor
            if d.name == "Block I/O":
                group = d.uuid
    for pk in t.packet:
        if pk.HasField("track_descriptor") and pk.track_descriptor.parent_uuid == group:
            lanes.add(pk.track_descriptor.uuid)
    begins = ends = 0
    open_ = Counter()
    for pk in t.packet:
        if pk.HasField("track_event") and pk.track_event.track_uuid in lanes:
            e = pk.track_event
            if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
                begins += 1
                open_[e.track_uuid] += 1
                # Lanes never overlap: at most one slice open per lane.
                assert open_[e.track_uuid] == 1
            elif e.type == pb.TrackEvent.TYPE_SLICE_END:
                ends += 1
                open_[e.track_uuid] -= 1
    bio = rows(rec, "bio", ["ts"])
    assert bio.num_rows >= WRITES
    assert begins == ends == bio.num_rows


def test_names_of_the_recorded_processes(trace):
    rec, _, t, _ = trace
    procs, threads = {}, {}
    for pk in t.packet:
        if pk.HasField("process_tree"):
            for p in pk.process_tree.processes:
                procs[p.pid] = list(p.cmdline)
            for th in pk.process_tree.threads:
                threads[th.tid] = th.name
    ex = rows(rec, "exec", ["pid", "tgid", "comm", "ret"]).to_pylist()
    for comm in ("dd", "perf"):
        mine = [r for r in ex if r["comm"] == comm and r["ret"] == 0]
        assert mine, f"no exec of {comm} recorded"
        for r in mine:
            assert r["tgid"] in procs, f"{comm} ({r['tgid']}) has no process entry"
            assert comm in procs[r["tgid"]][0]
            assert threads[r["pid"]] == comm
    # Every pid switched in that has a process row gets a name.
    named = set(rows(rec, "process", ["pid"]).column("pid").to_pylist())
    seen = set(rows(rec, "sched_switch", ["next_pid"]).column("next_pid").to_pylist())
    for pid in seen & named:
        assert pid in threads


def test_times_are_within_the_recording(trace):
    rec, _, t, _ = trace
    snap = [pk.clock_snapshot for pk in t.packet if pk.HasField("clock_snapshot")]
    assert len(snap) == 1
    clocks = {c.clock_id: c.timestamp for c in snap[0].clocks}
    kv = meta(rec, "sched_switch")
    offset = int(kv[0]["ktape.clock_offset_ns"])
    start = min(int(m["ktape.recording_start_ns"]) for m in kv) - offset
    end = max(int(m["ktape.segment_end_ns"]) for m in kv) - offset
    # The snapshot maps monotonic time to wall time with the recording's offset.
    assert clocks[1] - clocks[3] == offset
    assert clocks[6] == clocks[3]
    n = 0
    for pk in t.packet:
        if pk.HasField("ftrace_events"):
            c = pk.ftrace_events.compact_sched
            for series in (c.switch_timestamp, c.waking_timestamp):
                ts = 0
                for delta in series:
                    ts += delta
                    assert start <= ts <= end
                    n += 1
        elif pk.HasField("perf_sample") or pk.HasField("track_event"):
            assert pk.timestamp_clock_id == 3
            assert start <= pk.timestamp <= end, pk
            n += 1
    assert n > 0


def test_stdout_gets_the_same_bytes(trace):
    rec, path, _, _ = trace
    p = subprocess.run([str(ANALYZE), "perfetto", "-o", "-", str(rec)], capture_output=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == path.read_bytes()


def test_a_file_that_is_not_parquet_is_an_error_naming_it(tmp_path):
    rec = tmp_path / "bad.parquet"
    (rec / "sched_switch").mkdir(parents=True)
    bad = rec / "sched_switch" / "000000.parquet"
    bad.write_bytes(b"this is not parquet at all\n" * 10)
    out = tmp_path / "t.pftrace"
    p = analyze("perfetto", "-o", out, rec, check=False)
    assert p.returncode == 1
    assert p.stderr.startswith("error: ")
    assert str(bad) in p.stderr
    assert not out.exists()
