//! Damaged and foreign inputs: the binary exits non-zero with a message
//! that names the offending file; a closed pipe is success.

mod fixture;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

fn analyze(args: &[&str], paths: &[&Path]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ktape-analyze"))
        .args(args)
        .args(paths)
        .output()
        .expect("run ktape-analyze");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh copy of the main fixture in its own scratch directory.
fn recording(name: &str) -> PathBuf {
    let dir = fixture::scratch(&format!("errors-{name}"));
    let rec = dir.join("rec.parquet");
    fixture::write(&rec, &fixture::MAIN);
    rec
}

fn assert_fails_naming(path: &Path, rec: &Path) {
    for report in ["summary", "biolatency", "biosnoop"] {
        let (code, _, err) = analyze(&[report], &[rec]);
        assert_ne!(code, 0, "{report} should fail");
        let p = path.to_string_lossy();
        assert!(err.contains(&*p), "{report}: error should name {p}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn fixture_is_fine() {
    let rec = recording("fine");
    let (code, out, _) = analyze(&["biolatency"], &[&rec]);
    assert_eq!(code, 0);
    assert!(out.contains("usecs"));
}

#[test]
fn missing_path() {
    let dir = fixture::scratch("errors-missing");
    let p = dir.join("no-such-recording.parquet");
    assert_fails_naming(&p, &p);
    let (code, _, err) = analyze(&["biolatency"], &[&dir.join("*.nothing")]);
    assert_ne!(code, 0);
    assert!(err.contains("*.nothing"), "{err}");
}

#[test]
fn truncated_segment() {
    let rec = recording("truncated");
    let seg = rec.join("bio").join("000001.parquet");
    let bytes = fs::read(&seg).unwrap();
    fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails_naming(&seg, &rec);
}

#[test]
fn not_parquet() {
    let rec = recording("notparquet");
    let seg = rec.join("bio").join("000003.parquet");
    fs::write(&seg, "this is a text file, not Parquet\n").unwrap();
    assert_fails_naming(&seg, &rec);
}

#[test]
fn parquet_without_ktape_metadata() {
    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let rec = recording("foreign");
    let seg = rec.join("bio").join("000004.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(fs::File::create(&seg).unwrap(), schema, None)
        .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    assert_fails_naming(&seg, &rec);
}

#[test]
fn a_segment_file_is_not_a_recording() {
    let rec = recording("segment");
    let seg = rec.join("bio").join("000000.parquet");
    let (code, _, err) = analyze(&["biolatency"], &[&seg]);
    assert_ne!(code, 0);
    assert!(err.contains(&*seg.to_string_lossy()), "{err}");
}

#[test]
fn bad_options_are_usage_errors() {
    let rec = recording("usage");
    let (code, _, err) = analyze(&["biolatency", "--from", "yesterday"], &[&rec]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("yesterday"), "{err}");
    let (code, _, err) = analyze(&["biosnoop", "--min-latency", "5parsecs"], &[&rec]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = analyze(&["biolatency", "--count", "3"], &[&rec]);
    assert_eq!(code, 2);
    let (code, _, err) = analyze(&["biolatency", "--from", "+10s", "--to", "+5s"], &[&rec]);
    assert_eq!(code, 1);
    assert!(err.contains("--from"), "{err}");
}

#[test]
fn broken_pipe_is_success() {
    let rec = recording("pipe");
    // Enough output to overflow a pipe buffer: every row, many times over.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ktape-analyze"))
        .args(["biosnoop", "--json"])
        .args(std::iter::repeat_n(&rec, 20))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(!err.contains("error"), "{err}");
}
