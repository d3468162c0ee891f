//! The histograms agree with a naive computation over every row, done the
//! way the SQL in `formats/sql/` does it in DuckDB:
//! `floor(log2(value // unit))`, 0 below 1, with `-Q` adding
//! `coalesce(queue_ns, 0)`.

mod fixture;

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::Array;
use ktape_analyze::biolatency::{compute, BiolatencyOptions};
use ktape_analyze::common::open_recordings;
use ktape_format::read::{read_all, scan_units, TimeRange};

type Rows = Vec<(i64, String, i64, Option<i64>)>; // ts, disk, latency, queue

fn rows(rec: &std::path::Path) -> Rows {
    let recs = open_recordings(&[rec.to_path_buf()]).unwrap();
    let mut out = Vec::new();
    for u in scan_units(&recs, "bio", TimeRange::ALL) {
        for b in read_all(&u, &["ts", "disk", "latency_ns", "queue_ns"]).unwrap() {
            let ts = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<TimestampNanosecondType>();
            let disk = b
                .column_by_name("disk")
                .unwrap()
                .as_dictionary::<Int32Type>();
            let dv = disk.values().as_string::<i32>();
            let lat = b
                .column_by_name("latency_ns")
                .unwrap()
                .as_primitive::<Int64Type>();
            let q = b
                .column_by_name("queue_ns")
                .unwrap()
                .as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let d = dv.value(disk.keys().value(i) as usize).to_string();
                let qv = if q.is_null(i) { None } else { Some(q.value(i)) };
                out.push((ts.value(i), d, lat.value(i), qv));
            }
        }
    }
    out
}

fn duckdb_slot(v: i64) -> usize {
    if v < 1 {
        0
    } else {
        (v as f64).log2().floor() as usize
    }
}

#[test]
fn biolatency_equals_naive_sql() {
    let dir = fixture::scratch("crosscheck");
    let rec = dir.join("rec.parquet");
    fixture::write(&rec, &fixture::MAIN);
    let all = rows(&rec);
    let recs = open_recordings(std::slice::from_ref(&rec)).unwrap();
    for (queued, millis) in [(false, false), (true, false), (false, true), (true, true)] {
        let unit = if millis { 1_000_000 } else { 1_000 };
        let mut want: BTreeMap<String, BTreeMap<usize, u64>> = BTreeMap::new();
        for (_, disk, lat, q) in &all {
            let v = if queued { lat + q.unwrap_or(0) } else { *lat };
            *want
                .entry(disk.clone())
                .or_default()
                .entry(duckdb_slot(v / unit))
                .or_default() += 1;
        }
        let opts = BiolatencyOptions {
            queued,
            millis,
            per_disk: true,
            ..Default::default()
        };
        let r = compute(&recs, &opts).unwrap();
        let mut got: BTreeMap<String, BTreeMap<usize, u64>> = BTreeMap::new();
        for g in &r.intervals[0].groups {
            let m = got
                .entry(g.disk.as_deref().unwrap().to_string())
                .or_default();
            for b in g.hist.buckets().into_iter().filter(|b| b.count > 0) {
                m.insert(b.slot, b.count);
            }
        }
        assert_eq!(got, want, "queued={queued} millis={millis}");
    }
}
