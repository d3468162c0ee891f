//! What survives: checkpoints of unfinished segments, checksums, sealing,
//! and what `--force` may replace.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{Array, TimestampNanosecondArray};
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch};
use ktape_format::meta::RecordingInfo;
use ktape_format::read::{read_all, scan_units, Recording, Segment, TimeRange};
use ktape_format::write::{
    create_recording_dir, is_recording, seal_from_checkpoint, SegmentWriter, WriteOptions,
};
use ktape_format::{layout, loss, Error};

const START: i64 = 1_700_000_000_000_000_000;

fn info() -> RecordingInfo {
    RecordingInfo {
        host: "h".into(),
        kernel: "6.18".into(),
        boot_id: "b".into(),
        clock_offset_ns: 0,
        command_line: "ktape-record -e bio x".into(),
        recorder_version: "0.1.0".into(),
        families: vec!["bio".into()],
        ncpus: 2,
        online_cpus: vec![0, 1],
        start_ns: START,
    }
}

/// `n` loss rows starting at row `first` (ts one ms apart).
fn rows(first: i64, n: i64) -> RecordBatch {
    let ts: Vec<i64> = (first..first + n).map(|i| START + i * 1_000_000).collect();
    let fam: DictionaryArray<Int32Type> = (0..n).map(|_| "bio").collect();
    let reason: DictionaryArray<Int32Type> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                "ringbuf_full"
            } else {
                "unpaired"
            }
        })
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(fam),
        Arc::new(Int32Array::from_iter_values((0..n).map(|i| (i % 2) as i32))),
        Arc::new(reason),
        Arc::new(Int64Array::from_iter_values(first..first + n)),
    ];
    RecordBatch::try_new(loss::TABLE.schema(), cols).unwrap()
}

fn writer(root: &Path, n: u32) -> SegmentWriter {
    SegmentWriter::create(
        root,
        &loss::TABLE,
        n,
        &info(),
        START,
        &WriteOptions::default(),
    )
    .unwrap()
}

fn total_rows(rec: &[Recording], table: &str) -> usize {
    scan_units(rec, table, TimeRange::ALL)
        .iter()
        .map(|u| {
            read_all(u, &["ts", "lost"])
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum()
}

fn flip(path: &Path, offset: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[offset as usize] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_killed_segment_is_readable_up_to_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r.parquet");
    create_recording_dir(&root, false).unwrap();
    let mut w = writer(&root, 0);
    w.write(&rows(0, 100)).unwrap();
    assert!(w.checkpoint(START + 1_000_000_000).unwrap());
    assert!(!w.checkpoint(START + 1_100_000_000).unwrap(), "nothing new");
    w.write(&rows(100, 50)).unwrap();
    assert!(w.checkpoint(START + 2_000_000_000).unwrap());
    w.write(&rows(150, 25)).unwrap(); // lost with the process
    drop(w); // SIGKILL: no footer

    // The table folder holds no partial file: plain readers see nothing.
    assert!(!root.join("loss").read_dir().unwrap().any(|_| true));
    let rec = Recording::open(&root).unwrap();
    assert!(rec.ended_abruptly());
    assert_eq!(rec.incomplete.len(), 1);
    let inc = &rec.incomplete[0];
    assert_eq!((inc.recovered_rows, inc.table.as_str()), (150, "loss"));
    assert_eq!(inc.recovered_until_ns, Some(START + 2_000_000_000));
    let segs = rec.segments("loss");
    assert_eq!(segs.len(), 1);
    assert!(segs[0].in_progress && segs[0].has_checksums());
    assert_eq!(rec.complete_until("loss"), None);
    assert_eq!(rec.readable_until("loss"), Some(START + 2_000_000_000));
    assert_eq!(total_rows(std::slice::from_ref(&rec), "loss"), 150);

    // Sealing makes it a complete segment that plain readers see.
    let data = layout::in_progress_path(&root, "loss", 0);
    let sealed = seal_from_checkpoint(&root, &data).unwrap().unwrap();
    assert_eq!(sealed.rows, 150);
    assert_eq!(sealed.path, layout::segment_path(&root, "loss", 0));
    assert!(!data.exists() && !layout::footer_path(&data).exists());
    let seg = Segment::open(&sealed.path).unwrap();
    assert!(seg.ended_at_checkpoint() && !seg.in_progress);
    assert!(seg.verify_chunks().unwrap());
    let rec = Recording::open(&root).unwrap();
    assert!(rec.incomplete.is_empty());
    assert_eq!(total_rows(std::slice::from_ref(&rec), "loss"), 150);
}

#[test]
fn an_empty_checkpoint_says_the_table_was_empty_up_to_it() {
    // The recorder checkpoints `loss` every second even without rows: a
    // killed recording then still says nothing was lost until then.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r.parquet");
    create_recording_dir(&root, false).unwrap();
    let mut w = writer(&root, 0);
    assert!(
        !w.checkpoint(START + 1_000_000_000).unwrap(),
        "no rows: skipped"
    );
    w.checkpoint_now(START + 3_000_000_000).unwrap();
    drop(w);
    let rec = Recording::open(&root).unwrap();
    assert!(rec.ended_abruptly() && rec.has_table("loss"));
    assert_eq!(rec.readable_until("loss"), Some(START + 3_000_000_000));
    assert_eq!(total_rows(std::slice::from_ref(&rec), "loss"), 0);
    let data = layout::in_progress_path(&root, "loss", 0);
    let sealed = seal_from_checkpoint(&root, &data).unwrap().unwrap();
    assert_eq!(sealed.rows, 0);
    let seg = Segment::open(&sealed.path).unwrap();
    assert!(seg.ended_at_checkpoint() && seg.verify_chunks().unwrap());
    assert_eq!(seg.rows(), 0);
}

#[test]
fn a_checkpoint_whose_data_did_not_reach_the_disk_keeps_what_did() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r.parquet");
    create_recording_dir(&root, false).unwrap();
    let mut w = writer(&root, 0);
    w.write(&rows(0, 100)).unwrap();
    w.checkpoint(START + 1_000_000_000).unwrap();
    let first = std::fs::metadata(w.in_progress_path()).unwrap().len();
    w.write(&rows(100, 100)).unwrap();
    w.checkpoint(START + 2_000_000_000).unwrap();
    let data = w.in_progress_path().to_path_buf();
    drop(w);
    // A power cut: the second row group's pages never reached the disk,
    // the checkpoint footer did.
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    f.set_len(first + 10).unwrap();
    drop(f);
    let seg = Segment::open_in_progress(&data).unwrap().unwrap();
    assert_eq!((seg.rows(), seg.row_groups()), (100, 1));
    assert_eq!(seg.time_range().1, Some(START + 99 * 1_000_000 + 1));
    // Zeroed pages (the other way a lost write shows) fail the checksum.
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    f.set_len(first + 4096 * 4).unwrap();
    drop(f);
    let seg = Segment::open_in_progress(&data).unwrap().unwrap();
    assert_eq!(seg.rows(), 100);
    // Nothing checkpointed: nothing readable.
    let mut w = writer(&root, 1);
    w.write(&rows(0, 5)).unwrap();
    let data1 = w.in_progress_path().to_path_buf();
    drop(w);
    assert!(Segment::open_in_progress(&data1).unwrap().is_none());
}

#[test]
fn finished_segments_detect_damage_in_pages_and_footer() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r.parquet");
    create_recording_dir(&root, false).unwrap();
    let mut w = writer(&root, 0);
    w.write(&rows(0, 300)).unwrap();
    w.checkpoint(START + 1).unwrap();
    w.write(&rows(300, 300)).unwrap();
    let s = w.finish(START + 2_000_000_000).unwrap();
    assert!(!layout::in_progress_path(&root, "loss", 0).exists());
    assert!(!layout::footer_path(&layout::in_progress_path(&root, "loss", 0)).exists());
    let seg = Segment::open(&s.path).unwrap();
    assert!(seg.has_checksums() && !seg.ended_at_checkpoint());
    assert_eq!((seg.rows(), seg.row_groups()), (600, 2));
    assert!(seg.verify_chunks().unwrap());
    let rec = Recording::open(&root).unwrap();
    assert!(!rec.ended_abruptly());
    assert_eq!(rec.complete_until("loss"), Some(START + 2_000_000_000));

    // A flipped bit in each column chunk is caught when that column is
    // read, and only then.
    let md = seg.parquet_metadata();
    for (ci, col) in md.row_group(1).columns().iter().enumerate() {
        let copy = dir.path().join(format!("c{ci}.parquet"));
        std::fs::copy(&s.path, &copy).unwrap();
        let (start, len) = col.byte_range();
        flip(&copy, start + len / 2);
        let bad = Segment::open(&copy).unwrap();
        let name = col.column_path().parts()[0].clone();
        let err = bad.read_row_group(1, &[name.as_str()], 1024).err().unwrap();
        assert!(matches!(err, Error::Corrupt { .. }), "{name}: {err}");
        assert!(err.to_string().contains(&name), "{err}");
        assert!(bad.read_row_group(0, &[name.as_str()], 1024).is_ok());
        assert!(bad.verify_chunks().is_err());
    }
    // Every byte of the footer matters: a flip anywhere in it is an error
    // (not parseable, or not matching its checksum), never a silently
    // different file.
    let len = std::fs::metadata(&s.path).unwrap().len();
    let footer_len = {
        let b = std::fs::read(&s.path).unwrap();
        u32::from_le_bytes(b[b.len() - 8..b.len() - 4].try_into().unwrap()) as u64
    };
    let mut errors = 0;
    let want = all_rows(&seg).unwrap();
    let mut silent = Vec::new();
    for off in (len - 8 - footer_len)..(len - 8) {
        let copy = dir.path().join("f.parquet");
        std::fs::copy(&s.path, &copy).unwrap();
        flip(&copy, off);
        match Segment::open(&copy) {
            Err(_) => errors += 1,
            Ok(seg) => {
                // A flip in bytes the footer digest leaves out must leave
                // an equivalent file: the same rows, or an error.
                if let Some(got) = all_rows(&seg) {
                    if got != want || seg.kv != Segment::open(&s.path).unwrap().kv {
                        silent.push(off - (len - 8 - footer_len));
                    }
                }
            }
        }
    }
    assert!(silent.is_empty(), "flips at footer offsets {silent:?} changed the data silently ({errors} of {footer_len} flips were errors)");
}

fn all_rows(seg: &Segment) -> Option<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for rg in 0..seg.row_groups() {
        for b in seg
            .read_row_group(rg, &["ts", "family", "cpu", "reason", "lost"], 1024)
            .ok()?
        {
            out.push(b.ok()?);
        }
    }
    Some(out)
}

#[test]
fn files_without_checksums_are_read_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r.parquet");
    create_recording_dir(&root, false).unwrap();
    let opts = WriteOptions {
        checksums: false,
        ..WriteOptions::default()
    };
    let mut w = SegmentWriter::create(&root, &loss::TABLE, 0, &info(), START, &opts).unwrap();
    w.write(&rows(0, 10)).unwrap();
    let s = w.finish(START + 1).unwrap();
    let seg = Segment::open(&s.path).unwrap();
    assert!(!seg.has_checksums());
    assert!(!seg.verify_chunks().unwrap());
    let b = read_all(
        &scan_units(&[Recording::open(&root).unwrap()], "loss", TimeRange::ALL)[0],
        &["lost"],
    )
    .unwrap();
    assert_eq!(b[0].column(0).len(), 10);
}

#[test]
fn force_replaces_one_recording_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let make = |root: &Path| {
        create_recording_dir(root, false).unwrap();
        let mut w = writer(root, 0);
        w.write(&rows(0, 3)).unwrap();
        w.finish(START + 1).unwrap();
    };
    let rec = dir.path().join("one.parquet");
    make(&rec);
    assert!(is_recording(&rec).is_ok());
    create_recording_dir(&rec, true).unwrap();
    assert!(rec.is_dir() && rec.read_dir().unwrap().next().is_none());

    // A fleet: recordings below host= folders.
    let fleet = dir.path().join("fleet");
    make(&fleet.join("host=a/out.parquet"));
    make(&fleet.join("host=b/out.parquet"));
    // A recording with something else in it.
    let extra = dir.path().join("extra.parquet");
    make(&extra);
    std::fs::write(extra.join("notes.txt"), "mine").unwrap();
    let extra2 = dir.path().join("extra2.parquet");
    make(&extra2);
    std::fs::write(extra2.join("loss/notes.txt"), "mine").unwrap();
    // A symlink to a recording.
    let link = dir.path().join("link.parquet");
    let target = dir.path().join("target.parquet");
    make(&target);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // A folder of plain Parquet tables shaped like a recording.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("t")).unwrap();
    std::fs::copy(
        layout::segment_path(&target, "loss", 0),
        foreign.join("t/000000.parquet"),
    )
    .unwrap();
    // An empty folder, and a file.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("file.parquet");
    std::fs::write(&file, "x").unwrap();

    for p in [&fleet, &extra, &extra2, &link, &foreign, &empty, &file] {
        let before = tree(p);
        let err = create_recording_dir(p, true).unwrap_err();
        assert!(
            matches!(err, Error::NotReplaceable { .. }),
            "{}: {err}",
            p.display()
        );
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(tree(p), before, "{} was touched", p.display());
    }
    assert!(target.join("loss/000000.parquet").exists());
}

fn tree(p: &Path) -> Vec<String> {
    let mut out = vec![];
    if let Ok(md) = std::fs::symlink_metadata(p) {
        out.push(format!("{} {}", p.display(), md.len()));
        if md.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for e in entries {
                out.extend(tree(&e));
            }
        }
    }
    out
}
