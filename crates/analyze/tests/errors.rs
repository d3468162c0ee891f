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

/// Rewrites a segment with plain parquet: its batches through `batch`,
/// its key-value metadata through `kv`.
fn rewrite(
    seg: &Path,
    batch: impl Fn(arrow_array::RecordBatch) -> arrow_array::RecordBatch,
    kv: impl Fn(&mut Vec<parquet::file::metadata::KeyValue>),
) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let b = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(seg).unwrap()).unwrap();
    let mut pairs = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    kv(&mut pairs);
    // A rewritten file is one like an older recorder's, without the
    // writer's checksums: what these tests damage would otherwise be
    // caught by the checksum before the check they are about.
    pairs.retain(|p| {
        p.key != ktape_format::meta::CHUNK_XXH3 && p.key != ktape_format::meta::FOOTER_XXH3
    });
    let batches: Vec<_> = b.build().unwrap().map(|r| batch(r.unwrap())).collect();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(pairs))
        .build();
    let schema = Arc::new(arrow_schema::Schema::new(
        batches[0].schema().fields().clone(),
    ));
    let mut w = parquet::arrow::ArrowWriter::try_new(
        fs::File::create(seg).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    for b in batches {
        w.write(&arrow_array::RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    w.close().unwrap();
}

#[test]
fn a_segment_in_another_tables_folder_is_an_error() {
    let rec = recording("wrongtable");
    let seg = rec.join("bio").join("000005.parquet");
    fs::copy(rec.join("loss").join("000000.parquet"), &seg).unwrap();
    let (code, _, err) = analyze(&["biosnoop"], &[&rec]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&*seg.to_string_lossy()) && err.contains("a segment of table `loss`"),
        "{err}"
    );
}

#[test]
fn a_column_of_another_type_is_an_error() {
    use arrow_array::{ArrayRef, StringArray};
    let rec = recording("wrongtype");
    let seg = rec.join("bio").join("000000.parquet");
    rewrite(
        &seg,
        |b| {
            let i = b.schema().index_of("latency_ns").unwrap();
            let mut fields: Vec<_> = b.schema().fields().iter().map(|f| (**f).clone()).collect();
            fields[i] = arrow_schema::Field::new("latency_ns", arrow_schema::DataType::Utf8, false);
            let mut cols = b.columns().to_vec();
            let text: ArrayRef = Arc::new(StringArray::from(vec!["1 ms"; b.num_rows()]));
            cols[i] = text;
            arrow_array::RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols)
                .unwrap()
        },
        |_| {},
    );
    for report in ["biolatency", "biosnoop"] {
        let (code, _, err) = analyze(&[report], &[&rec]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&*seg.to_string_lossy())
                && err.contains("column `latency_ns` has type Utf8, expected int64"),
            "{report}: {err}"
        );
    }
}

#[test]
fn a_damaged_segment_time_range_cannot_make_a_billion_intervals() {
    // A segment that says it started in 1970 widens the window to 54
    // years: -i 1ms would be 1.7e15 empty intervals.
    let rec = recording("interval");
    let seg = rec.join("process").join("000000.parquet");
    rewrite(
        &seg,
        |b| b,
        |kv| {
            for p in kv.iter_mut() {
                if p.key == ktape_format::meta::SEGMENT_START_NS {
                    p.value = Some("0".into());
                }
            }
        },
    );
    let (code, _, err) = analyze(&["biolatency", "-i", "1ms"], &[&rec]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("more than the 1000000 a report prints")
            && err.contains(&*seg.to_string_lossy()),
        "{err}"
    );
    // With --count the window is cut first: fine.
    let (code, out, err) = analyze(&["biolatency", "-i", "1ms", "--count", "3"], &[&rec]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1970-01-01T00:00:00Z"), "{out}");
}

#[test]
fn a_footer_that_panics_the_decoder_is_an_error_naming_the_file() {
    // tests/fuzz.rs (seed 0x7e8, iteration 47) flipped a footer bit of
    // a loss segment that made a column chunk's offset negative, on which
    // parquet's `ColumnChunkMetaData::byte_range` asserts: every report
    // that reads the table panicked. The same footer, written on purpose.
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let rec = recording("footer-panic");
    let seg = rec.join("loss").join("000000.parquet");
    rewrite(&seg, |b| b, |_| {});
    let bytes = fs::read(&seg).unwrap();
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let mut meta = ParquetMetaDataReader::new()
        .parse_and_finish(&fs::File::open(&seg).unwrap())
        .unwrap()
        .into_builder();
    let groups = meta
        .take_row_groups()
        .into_iter()
        .map(|rg| {
            let cols = rg
                .columns()
                .iter()
                .map(|c| {
                    c.clone()
                        .into_builder()
                        .set_dictionary_page_offset(c.dictionary_page_offset().map(|_| -4))
                        .set_data_page_offset(-4)
                        .build()
                        .unwrap()
                })
                .collect();
            rg.into_builder().set_column_metadata(cols).build().unwrap()
        })
        .collect();
    let meta = meta.set_row_groups(groups).build();
    let mut damaged = bytes[..n - 8 - footer_len].to_vec();
    ParquetMetaDataWriter::new(&mut damaged, &meta)
        .finish()
        .unwrap();
    fs::write(&seg, damaged).unwrap();
    for report in ["biolatency", "biosnoop", "summary"] {
        let (code, _, err) = analyze(&[report], &[&rec]);
        assert_eq!(code, 1, "{report}: {err}");
        assert!(!err.contains("panicked"), "{report}: {err}");
        assert!(
            err.starts_with("error: ")
                && err.contains(&*seg.to_string_lossy())
                && err.contains("could not be decoded"),
            "{report}: {err}"
        );
    }
}
