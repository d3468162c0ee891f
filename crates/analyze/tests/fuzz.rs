//! Damaged, foreign and absurd recordings never crash a report.
//!
//! Each iteration copies one of the fixture recordings (or one holding
//! every fixture table at once), damages it with one or two [`MUTATIONS`]
//! chosen from a fixed seed (the fixture's splitmix64), and runs every
//! report in [`REPORTS`], with each of its flag sets, through the built
//! binary. A report may fail, with an `error: …` line and exit status 1
//! (a damaged file is an error that names it), or succeed; it must never
//! panic (exit 101, `panicked` on stderr), die by a signal (an abort on a
//! failed allocation is one), hang (each run has [`RUN_TIMEOUT`]), exit
//! with another status, or print JSON that does not parse.
//!
//! Every failure is printed with the mutation, the command and how to
//! reproduce it; the damaged recording is kept under
//! `$CARGO_TARGET_TMPDIR/fuzz/failures/`. Environment:
//!
//! * `KTAPE_FUZZ_ITERS=N`: iterations (default [`DEFAULT_ITERS`]: 3,750
//!   runs, about 20 s in release on 2 cores); raise it for long local
//!   runs (1,200 iterations take about 9 minutes).
//! * `KTAPE_FUZZ_SEED=N`: another seed (default [`DEFAULT_SEED`]).
//! * `KTAPE_FUZZ_ONLY=I`: only iteration `I` (what a failure says to use).
//! * `KTAPE_FUZZ_KINDS=flip-bits,truncate`: only these kinds of damage
//!   (names as in [`MUTATIONS`]), for a campaign against one of them.
//! * `KTAPE_FUZZ_ERRORS=FILE`: append every `error: …` line, after its
//!   mutation, to FILE, to review what damaged files make reports say.
//! * `KTAPE_FUZZ_BIN=PATH`: run another build of the binary, e.g. one
//!   with overflow checks on (`--config
//!   'profile.release.package.ktape-analyze.overflow-checks=true'`), so
//!   that arithmetic that wraps silently in release panics instead.
//!
//! To add a kind of damage, add a function to [`MUTATIONS`]; to add a
//! report or a flag set, add a line to [`REPORTS`].

mod fixture;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, Int8Type, TimestampNanosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use fixture::Rng;
use ktape_format::meta::{self, RecordingInfo};
use ktape_format::schema::{ColumnSpec, ColumnType, TableSpec};
use ktape_format::write::{SegmentWriter, WriteOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// Iterations of the default `cargo test` run.
const DEFAULT_ITERS: u64 = 50;
/// The default seed ("ktapefuz").
const DEFAULT_SEED: u64 = 0x6b74_6170_6566_757a;
/// Longest a report may take on a damaged fixture (they take
/// milliseconds; this only has to tell a hang from a loaded machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Address space a report may use: an absurd value that makes it
/// allocate without bound fails fast (an abort, reported as a crash)
/// instead of swapping the machine to death.
const MEMORY_LIMIT_KIB: u64 = 4 << 20;
const SEC: i64 = 1_000_000_000;

// ---------------------------------------------------------------------
// The reports.

/// Every report with representative flag sets. `$REC` is the damaged
/// recording (appended when a flag set does not place it), `$OTHER` an
/// intact recording of every table, `$OUT` a file in the scratch folder.
const REPORTS: &[(&str, &[&[&str]])] = &[
    (
        "summary",
        &[
            &[],
            &["--json"],
            &["--from", "+5s", "--to", "+15s", "-p", "1234"],
        ],
    ),
    (
        "biolatency",
        &[
            &[],
            &["-D", "-F", "-Q", "--json"],
            &["-m", "-i", "1s"],
            &[
                "-T", "-i", "5", "--count", "3", "--from", "+2s", "--to", "+12s",
            ],
            &["-p", "1234", "--comm", "dd", "-d", "vda"],
            &["--by", "host", "-D", "$REC", "$OTHER"],
        ],
    ),
    (
        "biosnoop",
        &[
            &[],
            &["-Q", "--json"],
            &[
                "--min-latency",
                "1ms",
                "-d",
                "vdb",
                "--from",
                "+1s",
                "--to",
                "+9s",
            ],
            &["-p", "1234", "$REC", "$OTHER"],
        ],
    ),
    (
        "execsnoop",
        &[
            &[],
            &["-x", "-t", "-T", "--localtime", "-U", "-q", "--json"],
            &["-n", "a", "-l", "c", "--max-args", "2", "--from", "+1s"],
        ],
    ),
    (
        "exitsnoop",
        &[&[], &["-t", "-x", "-T", "--json"], &["-p", "3042"]],
    ),
    (
        "pidpersec",
        &[
            &[],
            &["--processes", "--json"],
            &["-i", "2s", "--count", "3", "--localtime"],
            &["-p", "3042", "--from", "+1s"],
        ],
    ),
    (
        "runqlat",
        &[
            &[],
            &["-m", "-P"],
            &["-L", "--json"],
            &["-i", "1s", "-T", "--localtime", "--count", "30"],
            &["-p", "1234", "--comm", "dd", "--from", "+2s", "--to", "+6s"],
        ],
    ),
    (
        "runqslower",
        &[
            &[],
            &["-P", "--min-latency", "100", "--json"],
            &["-t", "1240", "-P", "--min-latency", "1us"],
        ],
    ),
    (
        "runqlen",
        &[
            &[],
            &["-C", "-O", "-T"],
            &["--json", "-C", "--from", "+1s", "--to", "+5s"],
        ],
    ),
    (
        "cpudist",
        &[
            &[],
            &["-O", "-P"],
            &["-L", "-m", "-i", "1", "--json"],
            &["-p", "1234"],
        ],
    ),
    (
        "tcpconnect",
        &[
            &[],
            &["-t", "-U", "-s", "-P", "443"],
            &["-c", "-s"],
            &["-u", "1000", "--json"],
        ],
    ),
    (
        "tcpaccept",
        &[&["-T", "-t", "--localtime"], &["--json", "-P", "8080"]],
    ),
    (
        "tcplife",
        &[&[], &["-w", "-T", "-L", "8080", "-D", "5432"], &["--json"]],
    ),
    ("tcpconnlat", &[&["-L", "-t"], &["--min", "1ms", "--json"]]),
    ("tcpretrans", &[&[], &["-c"], &["--json", "-4"]]),
    (
        "tcpstates",
        &[
            &["-T", "-t"],
            &["--json", "-6", "-L", "8080", "--from", "+1s", "--to", "+9s"],
        ],
    ),
    (
        "profile",
        &[
            &[],
            &["-f", "-d"],
            &["-K", "--json"],
            &["-U", "-p", "4242", "--comm", "spin"],
        ],
    ),
    (
        "offcputime",
        &[
            &[],
            &["-f", "-m", "10", "-M", "100000"],
            &["--state", "2", "--json"],
            &["-K", "--state", "0"],
        ],
    ),
    (
        "flamegraph",
        &[
            &["-o", "$OUT"],
            &["--type", "offcpu", "-U", "-o", "$OUT"],
            &["--type", "offwake", "-o", "$OUT"],
            &["--diff", "-o", "$OUT", "$OTHER", "$REC"],
            &[
                "--diff", "--before", "+0s,+5s", "--from", "+5s", "-o", "$OUT",
            ],
        ],
    ),
    ("mountsnoop", &[&[], &["-t", "--json", "-p", "1210"]]),
    (
        "statsnoop",
        &[&[], &["-x", "-t", "-s"], &["--json", "-p", "2300"]],
    ),
    ("syncsnoop", &[&[], &["--json", "--comm", "postgres"]]),
    (
        "heatmap",
        &[
            &["--json"],
            &["--json", "-D", "-Q", "-s", "1"],
            &["--json", "--of", "runqlat"],
        ],
    ),
    (
        "oomkill",
        &[&[], &["-v", "--localtime"], &["--json", "-p", "5120"]],
    ),
    // Every view of the page runs another report in-process: a damaged
    // file must come out as a view's error, never a panic.
    (
        "report",
        &[
            &["-o", "$OUT"],
            &["-o", "$OUT", "-p", "1234", "--from", "+1s"],
        ],
    ),
    // The trace of every table: a damaged file is an error naming it,
    // never a panic or a half-written trace.
    (
        "perfetto",
        &[
            &["-o", "$OUT"],
            &["-o", "$OUT", "--json", "-p", "1234", "--from", "+1s"],
            &["-o", "$OUT", "--cgroup", "1", "--comm", "dd"],
        ],
    ),
    (
        "cpuunclaimed",
        &[
            &[],
            &["-T", "-i", "2", "--count", "3"],
            &["--json", "--from", "+1s"],
        ],
    ),
    (
        "wakeuptime",
        &[&[], &["-f", "-u", "-m", "100"], &["--json", "-k"]],
    ),
    (
        "offwaketime",
        &[
            &[],
            &["-f", "-d", "-t", "601"],
            &["-K", "--state", "1", "--json"],
            &["-U", "-M", "2000"],
        ],
    ),
    (
        "opensnoop",
        &[
            &[],
            &["-x", "-e", "-T", "-U"],
            &["-n", "post", "--json", "-p", "4410"],
        ],
    ),
    (
        "fsslower",
        &[
            &[],
            &["-m", "0", "--json"],
            &["-t", "xfs", "-m", "1", "--localtime"],
        ],
    ),
    (
        "bitesize",
        &[
            &[],
            &["-T", "-i", "1s", "--count", "4", "--json"],
            &["-d", "vda", "-p", "1234", "--comm", "dd"],
        ],
    ),
    (
        "biotop",
        &[
            &[],
            &["-s", "time", "-r", "2", "-i", "1"],
            &["-s", "bytes", "--json", "-p", "1234"],
        ],
    ),
    (
        "fsdist",
        &[
            &[],
            &["-m", "-T", "-i", "2", "--json"],
            &["-t", "ext4", "-p", "5120"],
        ],
    ),
    ("ext4dist", &[&[], &["--json"]]),
    (
        "filetop",
        &[
            &[],
            &["-s", "wbytes", "-r", "3"],
            &["-i", "1", "--count", "5", "--json"],
            &["-i", "100ms"],
        ],
    ),
    (
        "cachestat",
        &[
            &[],
            &["-T", "--localtime", "-i", "3"],
            &["--count", "4", "--json"],
        ],
    ),
    (
        "hardirqs",
        &[
            &[],
            &["-C", "--json"],
            &["-d", "-N", "-c", "1"],
            &["-i", "3", "--count", "2", "-T", "--localtime"],
        ],
    ),
    (
        "softirqs",
        &[&[], &["-d", "--json"], &["-C", "-i", "2s", "--from", "+1s"]],
    ),
    (
        "syscount",
        &[
            &[],
            &["-P", "-L", "-m", "-T", "3"],
            &["-x", "-i", "2", "--count", "3", "--json"],
            &["-e", "ENOENT", "-p", "5120"],
        ],
    ),
    (
        "killsnoop",
        &[
            &[],
            &["-x", "-T", "--json"],
            &["-s", "USR1", "--no-kernel", "--comm", "bash"],
        ],
    ),
    (
        "syscallslower",
        &[
            &[],
            &["--min-latency", "20", "-x", "--json"],
            &["--exclude-waits", "-s", "fdatasync", "--comm", "postgres"],
        ],
    ),
];

/// One run of the binary.
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// What is wrong with the run, if anything.
    fn problem(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!("hang: killed after {RUN_TIMEOUT:?}"));
        }
        if self.code == Some(101) || self.stderr.contains("panicked") {
            return Some("panic".into());
        }
        match self.code {
            None => Some("killed by a signal (abort, segfault, out of memory …)".into()),
            Some(0) => {
                let json = self.args.iter().any(|a| a == "--json");
                match json.then(|| serde_json::from_str::<serde_json::Value>(&self.stdout)) {
                    Some(Err(e)) => Some(format!("--json output does not parse: {e}")),
                    _ => None,
                }
            }
            Some(1) if self.stderr.lines().any(|l| l.starts_with("error: ")) => None,
            Some(1) => Some("exit status 1 without an `error: …` line".into()),
            Some(c) => Some(format!("exit status {c}")),
        }
    }
}

/// Time zones `--localtime` is run in: the widest offsets either way
/// (+14:00, -11:00) and a half-hour one, so that times at the ends of the
/// clock are shifted past them.
const ZONES: &[&str] = &[
    "UTC",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kolkata",
];

/// Runs the binary with `args` in time zone `tz`, stdout and stderr
/// into files of `dir`.
fn run(args: Vec<String>, dir: &Path, tz: &str) -> Run {
    let bin = std::env::var("KTAPE_FUZZ_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ktape-analyze").to_string());
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = if cfg!(target_os = "linux") {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let mut child = cmd
        .args(&args)
        .env("TZ", tz)
        .env("RAYON_NUM_THREADS", "2")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run ktape-analyze");
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > RUN_TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Run {
        code: status.code(),
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
        args,
    }
}

/// The command lines of every report for a recording.
fn commands(rec: &Path, other: &Path, out: &Path) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for (report, sets) in REPORTS {
        for set in *sets {
            let mut args = vec![report.to_string()];
            let mut placed = false;
            for a in *set {
                args.push(match *a {
                    "$REC" => {
                        placed = true;
                        rec.display().to_string()
                    }
                    "$OTHER" => other.display().to_string(),
                    "$OUT" => out.display().to_string(),
                    a => a.to_string(),
                });
            }
            if !placed {
                args.push(rec.display().to_string());
            }
            all.push(args);
        }
    }
    all
}

// ---------------------------------------------------------------------
// The intact recordings.

struct Bases {
    /// (name, recording) pairs a mutation starts from.
    list: Vec<(&'static str, PathBuf)>,
    /// How many of `list`'s last entries hold every table.
    n_all: usize,
    /// An intact recording of every table, for `$OTHER`.
    other: PathBuf,
    dir: PathBuf,
}

fn bases() -> &'static Bases {
    static B: OnceLock<Bases> = OnceLock::new();
    B.get_or_init(|| {
        let dir = fixture::scratch("fuzz");
        let base = dir.join("base");
        let mut list: Vec<(&'static str, PathBuf)> = Vec::new();
        // Each base twice: with the writer's checksums, as the recorder
        // writes them (damage is then mostly a checksum error), and
        // without, as older recorders wrote them (damage then reaches the
        // decoder and the reports).
        let mut all = Vec::new();
        for (checked, suffix) in [(true, ""), (false, "-unchecked")] {
            fixture::set_checksums(checked);
            let mut parts = Vec::new();
            let mut add = |name: &'static str, write: &dyn Fn(&Path)| {
                let p = base.join(format!("{name}{suffix}")).join("rec.parquet");
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                write(&p);
                let label: &'static str = Box::leak(format!("{name}{suffix}").into_boxed_str());
                list.push((label, p.clone()));
                parts.push(p);
            };
            add("bio", &|p| fixture::write(p, &fixture::MAIN));
            add("exec", &|p| fixture::write_exec(p));
            add("sched", &|p| fixture::write_sched(p, 99));
            add("tcp", &|p| fixture::write_tcp(p, 7));
            add("stacks", &|p| fixture::write_stacks(p, 5));
            add("files", &|p| fixture::write_files(p));
            add("syscall", &|p| fixture::syscall::write_syscall(p));
            add("irq", &|p| fixture::irq::write_irq(p));
            add("vfs", &|p| fixture::vfs::write_vfs(p));
            add("signal", &|p| fixture::signal::write_signal(p));
            add("wakeup", &|p| fixture::wakeup::write_wakeup(p));
            add("oom", &|p| fixture::oom::write_oom(p));
            let whole = base.join(format!("all{suffix}")).join("rec.parquet");
            combine(&parts, &whole);
            let label: &'static str = Box::leak(format!("all{suffix}").into_boxed_str());
            all.push((label, whole));
        }
        fixture::set_checksums(true);
        let other = base.join("other").join("rec.parquet");
        combine(&[all[0].1.clone()], &other);
        let n_all = all.len();
        list.extend(all);
        Bases {
            list,
            n_all,
            other,
            dir,
        }
    })
}

/// One recording holding the tables of all `parts` (the `loss` and
/// `process` segments of each, renumbered), so that every report has its
/// table in it.
fn combine(parts: &[PathBuf], root: &Path) {
    for part in parts {
        for table in sorted(part) {
            let name = table.file_name().unwrap();
            // The writer's `.in-progress/` (empty: fixtures finish every
            // segment) is no table.
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let dest = root.join(name);
            fs::create_dir_all(&dest).unwrap();
            for f in sorted(&table) {
                let fname = f.file_name().unwrap().to_string_lossy().into_owned();
                let target = if fname.ends_with(".tmp") {
                    dest.join(&fname)
                } else {
                    dest.join(format!("{:06}.parquet", sorted(&dest).len()))
                };
                fs::copy(&f, target).unwrap();
            }
        }
    }
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in sorted(from) {
        let dest = to.join(e.file_name().unwrap());
        if e.is_dir() {
            copy_dir(&e, &dest);
        } else {
            fs::copy(&e, &dest).unwrap();
        }
    }
}

/// The segment files of a recording (`table/NNNNNN.parquet`).
fn segments(rec: &Path) -> Vec<PathBuf> {
    sorted(rec)
        .into_iter()
        .filter(|d| d.is_dir())
        .flat_map(|d| sorted(&d))
        .filter(|f| f.is_file() && f.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

fn table_dirs(rec: &Path) -> Vec<PathBuf> {
    sorted(rec).into_iter().filter(|d| d.is_dir()).collect()
}

fn rel(rec: &Path, p: &Path) -> String {
    p.strip_prefix(rec).unwrap_or(p).display().to_string()
}

// ---------------------------------------------------------------------
// Reading and writing segments.

/// A segment's batches and key-value metadata, when it still reads.
struct Seg {
    batches: Vec<RecordBatch>,
    kv: BTreeMap<String, String>,
    schema: SchemaRef,
}

fn read_seg(path: &Path) -> Option<Seg> {
    let b = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).ok()?).ok()?;
    let kv = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    // Without the footer's key-values, which a writer would copy back.
    let schema = Arc::new(Schema::new(b.schema().fields().clone()));
    let batches = b
        .with_batch_size(1 << 20)
        .build()
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let batches = batches
        .into_iter()
        .map(|x| RecordBatch::try_new(schema.clone(), x.columns().to_vec()).unwrap())
        .collect();
    Some(Seg {
        batches,
        kv,
        schema,
    })
}

/// The table spec of a segment whose schema is still the table's.
fn spec_of(seg: &Seg) -> Option<&'static TableSpec> {
    let spec = ktape_format::table(seg.kv.get(meta::TABLE)?)?;
    let same = spec.columns.len() == seg.schema.fields().len()
        && spec
            .columns
            .iter()
            .zip(seg.schema.fields())
            .all(|(c, f)| c.name == f.name() && &c.ty.arrow() == f.data_type());
    same.then_some(spec)
}

/// Writes `batches` to `path` with plain parquet (no ktape writer), with
/// `kv` as the footer's key-values.
fn write_plain(path: &Path, schema: SchemaRef, batches: &[RecordBatch], kv: Option<Vec<KeyValue>>) {
    let props = WriterProperties::builder()
        .set_key_value_metadata(kv)
        .set_max_row_group_row_count(Some(50))
        .build();
    let tmp = path.with_extension("rewrite");
    let mut w = ArrowWriter::try_new(fs::File::create(&tmp).unwrap(), schema, Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    fs::rename(tmp, path).unwrap();
}

fn kv_list(kv: &BTreeMap<String, String>) -> Vec<KeyValue> {
    kv.iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect()
}

/// The segments that still read, with their specs, chosen at random.
fn pick_seg(rng: &mut Rng, rec: &Path) -> Option<(PathBuf, Seg)> {
    let segs = segments(rec);
    if segs.is_empty() {
        return None;
    }
    for _ in 0..8 {
        let p = rng.pick(&segs).clone();
        if let Some(s) = read_seg(&p) {
            return Some((p, s));
        }
    }
    None
}

// ---------------------------------------------------------------------
// Values at the edges.

const I64_EDGES: &[i64] = &[
    i64::MIN,
    i64::MIN + 1,
    i64::MIN + SEC - 1,
    -SEC,
    -1,
    0,
    1,
    SEC,
    i64::MAX - SEC,
    i64::MAX - 1,
    i64::MAX,
];
const I32_EDGES: &[i32] = &[i32::MIN, i32::MIN + 1, -2, -1, 0, 1, i32::MAX - 1, i32::MAX];

fn edge_i64(rng: &mut Rng, orig: i64) -> i64 {
    match rng.below(10) {
        0..=6 => *rng.pick(I64_EDGES),
        7 => orig.wrapping_neg(),
        8 => orig.wrapping_add((rng.next() >> 1) as i64),
        _ => rng.next() as i64,
    }
}

fn edge_i32(rng: &mut Rng, orig: i32) -> i32 {
    match rng.below(8) {
        0..=5 => *rng.pick(I32_EDGES),
        6 => orig.wrapping_neg(),
        _ => rng.next() as i32,
    }
}

fn edge_str(rng: &mut Rng, orig: &str) -> String {
    match rng.below(8) {
        0 => String::new(),
        1 => "x".repeat(70_000),
        2 => "a;b c\nd\te\"f\\g{}%s".into(),
        3 => "ünï\u{1F600}漢\u{0}\u{7f}".into(),
        4 => " ".into(),
        5 => "-".into(),
        6 => format!("{orig};{orig}"),
        _ => rng
            .pick(&[
                "CLOSE",
                "SYN_SENT",
                "ESTABLISHED",
                "bio",
                "sched",
                "read",
                "[kernel]",
            ])
            .to_string(),
    }
}

fn edge_len(rng: &mut Rng) -> usize {
    *rng.pick(&[0, 0, 1, 2, 1000, 50_000])
}

/// Which rows get an edge value.
fn chosen_rows(rng: &mut Rng, n: usize) -> Vec<bool> {
    let mut rows = vec![false; n];
    if n == 0 {
        return rows;
    }
    match rng.below(5) {
        0 => rows.iter_mut().for_each(|r| *r = true),
        1 => rows[0] = true,
        2 => rows[n - 1] = true,
        3 => rows.iter_mut().for_each(|r| *r = rng.below(4) == 0),
        _ => rows[rng.below(n as u64) as usize] = true,
    }
    rows
}

fn strings_of(a: &ArrayRef) -> Vec<Option<String>> {
    if let Some(d) = a.as_dictionary_opt::<Int32Type>() {
        let vals = d.values().as_string::<i32>();
        return (0..d.len())
            .map(|i| {
                d.key(i)
                    .map(|k| vals.value(k).to_string())
                    .filter(|_| d.is_valid(i))
            })
            .collect();
    }
    let s = a.as_string::<i32>();
    (0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect()
}

/// Column `c` of a batch with edge values in the chosen rows.
fn with_edges(rng: &mut Rng, c: &ColumnSpec, a: &ArrayRef) -> ArrayRef {
    let rows = chosen_rows(rng, a.len());
    let null = |rng: &mut Rng| c.nullable && rng.below(4) == 0;
    match c.ty {
        ColumnType::Timestamp => {
            let v = a.as_primitive::<TimestampNanosecondType>();
            let vals: Vec<i64> = (0..v.len())
                .map(|i| {
                    if rows[i] {
                        edge_i64(rng, v.value(i))
                    } else {
                        v.value(i)
                    }
                })
                .collect();
            Arc::new(TimestampNanosecondArray::from(vals).with_timezone("UTC"))
        }
        ColumnType::Int64 => {
            let v = a.as_primitive::<Int64Type>();
            let vals: Vec<Option<i64>> = (0..v.len())
                .map(|i| match rows[i] {
                    true if null(rng) => None,
                    true => Some(edge_i64(rng, v.value(i))),
                    false => v.is_valid(i).then(|| v.value(i)),
                })
                .collect();
            Arc::new(Int64Array::from(vals))
        }
        ColumnType::Int32 => {
            let v = a.as_primitive::<Int32Type>();
            let vals: Vec<Option<i32>> = (0..v.len())
                .map(|i| match rows[i] {
                    true if null(rng) => None,
                    true => Some(edge_i32(rng, v.value(i))),
                    false => v.is_valid(i).then(|| v.value(i)),
                })
                .collect();
            Arc::new(Int32Array::from(vals))
        }
        ColumnType::Bool => {
            let v = a.as_boolean();
            let vals: Vec<bool> = (0..v.len())
                .map(|i| if rows[i] { !v.value(i) } else { v.value(i) })
                .collect();
            Arc::new(BooleanArray::from(vals))
        }
        ColumnType::DictString | ColumnType::Text => {
            let vals: Vec<Option<String>> = strings_of(a)
                .into_iter()
                .enumerate()
                .map(|(i, s)| match rows[i] {
                    true if null(rng) => None,
                    true => Some(edge_str(rng, s.as_deref().unwrap_or(""))),
                    false => s,
                })
                .collect();
            if c.ty == ColumnType::DictString {
                let d: DictionaryArray<Int32Type> = vals.iter().map(|s| s.as_deref()).collect();
                Arc::new(d)
            } else {
                Arc::new(StringArray::from(vals))
            }
        }
        ColumnType::TextList => {
            let l = a.as_list::<i32>();
            let mut b = ListBuilder::new(StringBuilder::new())
                .with_field(Arc::new(Field::new_list_field(DataType::Utf8, false)));
            // A list array's strings share i32 offsets: stay far below 2 GiB.
            let mut budget: usize = 64 << 20;
            for (i, &changed) in rows.iter().enumerate() {
                if changed {
                    let s = edge_str(rng, "f");
                    let n = edge_len(rng).min(budget / (s.len() + 8));
                    budget -= n * (s.len() + 8);
                    for k in 0..n {
                        if k % 2 == 0 {
                            b.values().append_value(&s);
                        } else {
                            b.values().append_value(format!("f{k}"));
                        }
                    }
                } else {
                    let v = l.value(i);
                    let s = v.as_string::<i32>();
                    for k in 0..s.len() {
                        b.values().append_value(s.value(k));
                    }
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
        ColumnType::Int64List => {
            let l = a.as_list::<i32>();
            let mut b = ListBuilder::new(Int64Builder::new())
                .with_field(Arc::new(Field::new_list_field(DataType::Int64, false)));
            for (i, &changed) in rows.iter().enumerate() {
                if changed {
                    for _ in 0..edge_len(rng) {
                        b.values().append_value(*rng.pick(I64_EDGES));
                    }
                } else {
                    let v = l.value(i);
                    b.values()
                        .append_slice(v.as_primitive::<Int64Type>().values());
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
    }
}

/// An array of `n` values of a type, for schemas that are not the
/// table's.
fn synth(rng: &mut Rng, dt: &DataType, n: usize) -> ArrayRef {
    match dt {
        DataType::Int32 => Arc::new(Int32Array::from(
            (0..n).map(|_| rng.next() as i32).collect::<Vec<_>>(),
        )),
        DataType::Int64 => Arc::new(Int64Array::from(
            (0..n).map(|_| edge_i64(rng, 0)).collect::<Vec<_>>(),
        )),
        DataType::Float64 => Arc::new(Float64Array::from(
            (0..n).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
        )),
        DataType::Boolean => Arc::new(BooleanArray::from(
            (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        )),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Arc::new(
            TimestampMillisecondArray::from(
                (0..n)
                    .map(|i| fixture::START_NS / 1_000_000 + i as i64)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        DataType::Dictionary(k, _) if **k == DataType::Int8 => {
            let d: DictionaryArray<Int8Type> = (0..n).map(|i| ["a", "b"][i % 2]).collect();
            Arc::new(d)
        }
        DataType::List(_) => {
            let mut b = ListBuilder::new(arrow_array::builder::Int32Builder::new());
            for i in 0..n {
                b.values().append_value(i as i32);
                b.append(true);
            }
            Arc::new(b.finish())
        }
        _ => Arc::new(StringArray::from(
            (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>(),
        )),
    }
}

// ---------------------------------------------------------------------
// The mutations. Each damages the recording at `rec` and says how.

type Mutation = fn(&mut Rng, &Path) -> String;

/// Every kind of damage, with its weight.
const MUTATIONS: &[(&str, u64, Mutation)] = &[
    ("truncate", 3, truncate),
    ("flip-bits", 4, flip_bits),
    ("move-segments", 2, move_segments),
    ("foreign-parquet", 3, foreign_parquet),
    ("edge-values", 6, edge_values),
    ("remove-tables", 2, remove_tables),
    ("metadata", 3, metadata),
    ("odd-files", 1, odd_files),
];

/// A segment cut short: anywhere, in its footer, or to nothing.
fn truncate(rng: &mut Rng, rec: &Path) -> String {
    let segs = segments(rec);
    if segs.is_empty() {
        return "truncate: no segment".into();
    }
    let f = rng.pick(&segs).clone();
    let bytes = fs::read(&f).unwrap();
    let n = bytes.len() as u64;
    let len = match rng.below(4) {
        0 => 0,
        1 => n.saturating_sub(1 + rng.below(n.clamp(1, 600))),
        2 => n.saturating_sub(1),
        _ => rng.below(n.max(1)),
    } as usize;
    fs::write(&f, &bytes[..len.min(bytes.len())]).unwrap();
    format!("truncate {} from {n} to {len} bytes", rel(rec, &f))
}

/// Bits flipped anywhere, in the footer, or in the magic; or a burst of
/// random bytes.
fn flip_bits(rng: &mut Rng, rec: &Path) -> String {
    let segs = segments(rec);
    if segs.is_empty() {
        return "flip-bits: no segment".into();
    }
    let f = rng.pick(&segs).clone();
    let mut bytes = fs::read(&f).unwrap();
    if bytes.is_empty() {
        return format!("flip-bits: {} is empty", rel(rec, &f));
    }
    let n = bytes.len() as u64;
    let region = match rng.below(4) {
        0 => (n.saturating_sub(n.min(1024)), n),
        1 => (0, n.min(8)),
        _ => (0, n),
    };
    let count = *rng.pick(&[1, 1, 1, 2, 3, 8, 32]);
    let mut at = Vec::new();
    if rng.below(6) == 0 {
        let start = region.0 + rng.below((region.1 - region.0).max(1));
        let len = (1 + rng.below(64)).min(n - start);
        for i in start..start + len {
            bytes[i as usize] = rng.next() as u8;
        }
        fs::write(&f, &bytes).unwrap();
        return format!(
            "overwrite bytes {start}..{} of {} ({n} bytes) with random bytes",
            start + len,
            rel(rec, &f)
        );
    }
    for _ in 0..count {
        let byte = region.0 + rng.below((region.1 - region.0).max(1));
        let bit = rng.below(8);
        bytes[byte as usize] ^= 1 << bit;
        at.push(format!("{byte}.{bit}"));
    }
    fs::write(&f, &bytes).unwrap();
    format!(
        "flip bits (byte.bit) {} of {} ({n} bytes)",
        at.join(","),
        rel(rec, &f)
    )
}

/// Segments in the wrong place: exchanged, copied into another table's
/// folder, duplicated, or in a folder of no table.
fn move_segments(rng: &mut Rng, rec: &Path) -> String {
    let segs = segments(rec);
    if segs.len() < 2 {
        return "move-segments: fewer than two segments".into();
    }
    let a = rng.pick(&segs).clone();
    let b = rng.pick(&segs).clone();
    let tables = table_dirs(rec);
    match rng.below(5) {
        0 => {
            let (da, db) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
            fs::write(&a, db).unwrap();
            fs::write(&b, da).unwrap();
            format!("exchange {} and {}", rel(rec, &a), rel(rec, &b))
        }
        1 => {
            let t = rng.pick(&tables).clone();
            let dest = t.join("000090.parquet");
            fs::copy(&a, &dest).unwrap();
            format!("copy {} to {}", rel(rec, &a), rel(rec, &dest))
        }
        2 => {
            fs::copy(&a, &b).unwrap();
            format!("replace {} with {}", rel(rec, &b), rel(rec, &a))
        }
        3 => {
            let dest = a.parent().unwrap().join("000091.parquet");
            fs::copy(&a, &dest).unwrap();
            format!("duplicate {} as {}", rel(rec, &a), rel(rec, &dest))
        }
        _ => {
            let dir = rec.join(rng.pick(&["zzz", "bio.old", "sched_switch_"]));
            fs::create_dir_all(&dir).unwrap();
            let dest = dir.join(a.file_name().unwrap());
            fs::rename(&a, &dest).unwrap();
            format!("move {} to {}", rel(rec, &a), rel(rec, &dest))
        }
    }
}

/// A segment replaced by Parquet ktape did not write, or by ktape
/// metadata over a schema that is not the table's.
fn foreign_parquet(rng: &mut Rng, rec: &Path) -> String {
    let Some((path, seg)) = pick_seg(rng, rec) else {
        return "foreign-parquet: no readable segment".into();
    };
    let n = seg.batches.iter().map(|b| b.num_rows()).sum::<usize>();
    let kv = Some(kv_list(&seg.kv));
    let fields: Vec<Field> = seg.schema.fields().iter().map(|f| (**f).clone()).collect();
    let (what, fields): (String, Vec<Field>) = match rng.below(7) {
        0 => {
            write_plain(&path, seg.schema.clone(), &seg.batches, None);
            return format!("rewrite {} without ktape metadata", rel(rec, &path));
        }
        1 => (
            "only an unrelated column `x`".into(),
            vec![Field::new("x", DataType::Int64, false)],
        ),
        2 => {
            let mut f = fields;
            f[0] = Field::new(f[0].name(), DataType::Int32, false);
            ("`ts` as int32".into(), f)
        }
        3 => {
            let mut f = fields;
            let k = rng.below(f.len() as u64) as usize;
            let gone = f.remove(k);
            (format!("without column `{}`", gone.name()), f)
        }
        4 => {
            let mut f = fields;
            let k = rng.below(f.len() as u64) as usize;
            let ty = rng
                .pick(&[
                    DataType::Utf8,
                    DataType::Int32,
                    DataType::Int64,
                    DataType::Float64,
                    DataType::Boolean,
                    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
                ])
                .clone();
            let what = format!("column `{}` as {ty}", f[k].name());
            f[k] = Field::new(f[k].name(), ty, true);
            (what, f)
        }
        5 => {
            let mut f = fields;
            f[0] = Field::new(
                f[0].name(),
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            );
            ("`ts` in milliseconds".into(), f)
        }
        _ => {
            let mut f = fields;
            let k = rng.below(f.len() as u64) as usize;
            let dup = f[k].clone();
            f.push(dup.clone());
            (format!("column `{}` twice", dup.name()), f)
        }
    };
    let schema = Arc::new(Schema::new(fields));
    let old = &seg.schema;
    let batch_cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let same = old
                .index_of(f.name())
                .ok()
                .filter(|&i| old.field(i).data_type() == f.data_type());
            match (same, seg.batches.first()) {
                (Some(i), Some(b)) if seg.batches.len() == 1 => b.column(i).clone(),
                _ => synth(rng, f.data_type(), n),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), batch_cols).unwrap();
    write_plain(&path, schema, &[batch], kv);
    format!("rewrite {} with ktape metadata, {what}", rel(rec, &path))
}

/// A table's values replaced by edge values (i64::MIN/MAX, 0, -1,
/// negative durations, `ts` at the edges, empty and huge strings, empty
/// and huge lists), re-encoded by the ktape writer so that the file is
/// otherwise valid; sometimes with the segment's time range at the edges
/// too.
fn edge_values(rng: &mut Rng, rec: &Path) -> String {
    let Some((path, seg)) = pick_seg(rng, rec) else {
        return "edge-values: no readable segment".into();
    };
    let Some(spec) = spec_of(&seg) else {
        return format!("edge-values: {} is not a table's schema", rel(rec, &path));
    };
    let folder = path.parent().unwrap();
    let Some(number) = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|_| folder.file_name().is_some_and(|n| n == spec.name))
    else {
        return format!("edge-values: {} is not where its table is", rel(rec, &path));
    };
    let ncols = 1 + rng.below(3) as usize;
    let mut cols: Vec<usize> = (0..ncols)
        .map(|_| rng.below(spec.columns.len() as u64) as usize)
        .collect();
    if rng.below(3) == 0 {
        cols.push(0);
    }
    cols.sort();
    cols.dedup();
    let batches: Vec<RecordBatch> = seg
        .batches
        .iter()
        .map(|b| {
            let arrays: Vec<ArrayRef> = (0..spec.columns.len())
                .map(|i| {
                    if cols.contains(&i) {
                        with_edges(rng, &spec.columns[i], b.column(i))
                    } else {
                        b.column(i).clone()
                    }
                })
                .collect();
            RecordBatch::try_new(spec.schema(), arrays).unwrap()
        })
        .collect();
    let info = RecordingInfo::from_pairs(&seg.kv);
    let get = |k: &str| seg.kv.get(k).and_then(|v| v.parse::<i64>().ok());
    let (mut start, mut end) = (
        get(meta::SEGMENT_START_NS).unwrap_or(0),
        get(meta::SEGMENT_END_NS).unwrap_or(0),
    );
    let edges_range = rng.below(4) == 0;
    if edges_range {
        start = edge_i64(rng, start);
        end = edge_i64(rng, end);
    }
    let opts = WriteOptions {
        zstd_level: 1,
        row_group_rows: *rng.pick(&[1, 7, 50, 1 << 20]),
        checksums: rng.below(2) == 0,
    };
    let root = folder.parent().unwrap();
    let mut w = SegmentWriter::create(root, spec, number, &info, start, &opts).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish(end).unwrap();
    let names: Vec<&str> = cols.iter().map(|&i| spec.columns[i].name).collect();
    format!(
        "edge values in {} of {}{}",
        names.join(", "),
        rel(rec, &path),
        if edges_range {
            format!(", segment range {start} .. {end}")
        } else {
            String::new()
        }
    )
}

/// Tables removed: one, the secondary ones reports lean on, all but
/// one, or all of them; or a folder emptied.
fn remove_tables(rng: &mut Rng, rec: &Path) -> String {
    let dirs = table_dirs(rec);
    if dirs.is_empty() {
        return "remove-tables: no table".into();
    }
    let names = |v: &[PathBuf]| v.iter().map(|d| rel(rec, d)).collect::<Vec<_>>().join(", ");
    let gone: Vec<PathBuf> = match rng.below(6) {
        0 => vec![rng.pick(&dirs).clone()],
        1 => ["loss", "stacks", "sched_wakeup", "process"]
            .iter()
            .map(|t| rec.join(t))
            .filter(|d| d.exists())
            .collect(),
        2 => {
            let keep = rng.pick(&dirs).clone();
            dirs.iter().filter(|d| **d != keep).cloned().collect()
        }
        3 => dirs.clone(),
        4 => {
            let d = rng.pick(&dirs).clone();
            for f in sorted(&d) {
                // `.in-progress/` holds folders, not files.
                if f.is_dir() {
                    fs::remove_dir_all(f).unwrap();
                } else {
                    fs::remove_file(f).unwrap();
                }
            }
            return format!("empty the folder {}", rel(rec, &d));
        }
        _ => dirs.iter().filter(|_| rng.below(2) == 0).cloned().collect(),
    };
    for d in &gone {
        fs::remove_dir_all(d).unwrap();
    }
    format!("remove {}", names(&gone))
}

/// Key-value metadata missing or garbage. Written with plain parquet
/// (the ktape writer sets the keys itself): once the reader requires the
/// ktape writer's checksums, these files fail that check first, and this
/// needs a writer that takes its key-values as given.
fn metadata(rng: &mut Rng, rec: &Path) -> String {
    let Some((path, seg)) = pick_seg(rng, rec) else {
        return "metadata: no readable segment".into();
    };
    let mut kv = seg.kv.clone();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let key = rng.pick(meta::KEYS).0;
        if rng.below(3) == 0 {
            kv.remove(key);
            what.push(format!("no {key}"));
        } else {
            let v = rng
                .pick(&[
                    "",
                    "abc",
                    "-1",
                    "0",
                    "2",
                    " 1",
                    "1.5",
                    "99999999999999999999999",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "9223372036854775806",
                    "-9223372036854775807",
                    "bio",
                    "sched_switch",
                    "nonsense-table",
                    "\u{1F600}\n;,",
                ])
                .to_string();
            what.push(format!("{key}={v:?}"));
            kv.insert(key.to_string(), v);
        }
    }
    write_plain(&path, seg.schema.clone(), &seg.batches, Some(kv_list(&kv)));
    format!("metadata of {}: {}", rel(rec, &path), what.join(", "))
}

/// Files that are not what their names say: empty, zero rows, hidden
/// or underscored leftovers, a folder named like a segment, a finished
/// file still named `.tmp`.
fn odd_files(rng: &mut Rng, rec: &Path) -> String {
    let segs = segments(rec);
    if segs.is_empty() {
        return "odd-files: no segment".into();
    }
    let a = rng.pick(&segs).clone();
    let dir = a.parent().unwrap().to_path_buf();
    match rng.below(6) {
        0 => {
            fs::write(&a, b"").unwrap();
            format!("empty file {}", rel(rec, &a))
        }
        1 => {
            let Some(seg) = read_seg(&a) else {
                return format!("odd-files: {} does not read", rel(rec, &a));
            };
            write_plain(&a, seg.schema.clone(), &[], Some(kv_list(&seg.kv)));
            format!("zero rows in {}", rel(rec, &a))
        }
        2 => {
            let bytes = fs::read(&a).unwrap();
            let name = rng.pick(&[".000093.parquet", "_000093.parquet", ".000093.parquet.tmp"]);
            fs::write(dir.join(name), &bytes[..bytes.len() / 2]).unwrap();
            format!("half of {} as {name}", rel(rec, &a))
        }
        3 => {
            fs::create_dir_all(dir.join("000094.parquet")).unwrap();
            format!("a folder {}/000094.parquet", rel(rec, &dir))
        }
        4 => {
            let dest = dir.join("000095.parquet.tmp");
            fs::copy(&a, &dest).unwrap();
            format!("a finished copy of {} as {}", rel(rec, &a), rel(rec, &dest))
        }
        _ => {
            let mut bytes = fs::read(&a).unwrap();
            bytes.extend_from_slice(b"trailing garbage after the footer");
            fs::write(&a, bytes).unwrap();
            format!("garbage appended to {}", rel(rec, &a))
        }
    }
}

// ---------------------------------------------------------------------
// The driver.

#[derive(Default)]
struct Stats {
    iterations: u64,
    runs: u64,
    errors: u64,
    by_kind: BTreeMap<&'static str, (u64, u64)>,
    failures: Vec<String>,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

fn pick_mutation(rng: &mut Rng) -> (&'static str, Mutation) {
    let only = std::env::var("KTAPE_FUZZ_KINDS").ok();
    let kinds: Vec<&(&'static str, u64, Mutation)> = MUTATIONS
        .iter()
        .filter(|m| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|k| k.trim() == m.0))
        })
        .collect();
    assert!(!kinds.is_empty(), "KTAPE_FUZZ_KINDS names no mutation");
    let total: u64 = kinds.iter().map(|m| m.1).sum();
    let mut at = rng.below(total);
    for (name, w, f) in kinds {
        if at < *w {
            return (name, *f);
        }
        at -= w;
    }
    unreachable!()
}

/// One iteration: damage a copy of a base recording and run every report
/// on it.
fn iteration(seed: u64, i: u64, work: &Path, stats: &Mutex<Stats>) {
    let b = bases();
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // The recording of every table most of the time: every report then
    // reads what was damaged.
    let (base_name, base) = if rng.below(2) == 0 {
        rng.pick(&b.list[b.list.len() - b.n_all..])
    } else {
        rng.pick(&b.list)
    };
    if work.exists() {
        fs::remove_dir_all(work).unwrap();
    }
    let rec = work.join("rec.parquet");
    copy_dir(base, &rec);
    let mut done = Vec::new();
    let mut kinds = Vec::new();
    for _ in 0..if rng.below(4) == 0 { 2 } else { 1 } {
        let (kind, m) = pick_mutation(&mut rng);
        kinds.push(kind);
        done.push(m(&mut rng, &rec));
    }
    let tz = *rng.pick(ZONES);
    let what = format!("{base_name}, TZ={tz}: {}", done.join("; then "));
    let out = work.join("out.svg");
    let mut failures = Vec::new();
    let (mut runs, mut errors) = (0, 0);
    let mut error_lines = String::new();
    for args in commands(&rec, &b.other, &out) {
        let r = run(args, work, tz);
        runs += 1;
        if r.code == Some(1) {
            errors += 1;
            for l in r.stderr.lines().filter(|l| l.starts_with("error: ")) {
                error_lines.push_str(&format!("{}\t{}\n", kinds.join("+"), l));
            }
        }
        if let Some(p) = r.problem() {
            let stderr: Vec<&str> = r.stderr.lines().take(8).collect();
            failures.push(format!(
                "iteration {i}: {p}\n  mutation: {what}\n  command:  ktape-analyze {}\n  stderr:   {}",
                r.args.join(" "),
                stderr.join("\n            ")
            ));
        }
    }
    if let Ok(path) = std::env::var("KTAPE_FUZZ_ERRORS") {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(error_lines.as_bytes()).unwrap();
    }
    if !failures.is_empty() {
        let keep = b.dir.join("failures").join(format!("iteration-{i}"));
        let _ = fs::remove_dir_all(&keep);
        copy_dir(&rec, &keep.join("rec.parquet"));
    }
    let mut s = stats.lock().unwrap();
    s.iterations += 1;
    s.runs += runs;
    s.errors += errors;
    for k in kinds {
        let e = s.by_kind.entry(k).or_default();
        e.0 += 1;
        e.1 += !failures.is_empty() as u64;
    }
    s.failures.extend(failures);
}

#[test]
fn damaged_recordings_never_crash_a_report() {
    let seed = env_u64("KTAPE_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let iters = env_u64("KTAPE_FUZZ_ITERS").unwrap_or(DEFAULT_ITERS);
    let only = env_u64("KTAPE_FUZZ_ONLY");
    let todo: Vec<u64> = match only {
        Some(i) => vec![i],
        None => (0..iters).collect(),
    };
    let b = bases();
    let started = Instant::now();
    let stats = Mutex::new(Stats::default());
    let next = AtomicU64::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|s| {
        for w in 0..workers {
            let (todo, next, stats) = (&todo, &next, &stats);
            let work = b.dir.join(format!("work-{w}"));
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(&i) = todo.get(k) else { break };
                iteration(seed, i, &work, stats);
            });
        }
    });
    let s = stats.into_inner().unwrap();
    eprintln!(
        "fuzz: seed {seed:#x}, {} iterations, {} runs ({} clean errors) in {:.1?}",
        s.iterations,
        s.runs,
        s.errors,
        started.elapsed()
    );
    for (k, (n, bad)) in &s.by_kind {
        eprintln!("  {k:<16} {n:>6} mutations, {bad} with failures");
    }
    if !s.failures.is_empty() {
        let shown: Vec<&String> = s.failures.iter().take(40).collect();
        panic!(
            "{} report run(s) crashed or hung (reproduce one with KTAPE_FUZZ_SEED={seed:#x} KTAPE_FUZZ_ONLY=<iteration>; damaged recordings kept under {}):\n\n{}",
            s.failures.len(),
            b.dir.join("failures").display(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        );
    }
}

/// The harness itself: every command line is valid, and on the intact
/// recording of every table every report succeeds.
#[test]
fn every_report_runs_on_the_intact_recordings() {
    let b = bases();
    let work = b.dir.join("intact");
    fs::create_dir_all(&work).unwrap();
    let mut bad = Vec::new();
    for (_, rec) in &b.list[b.list.len() - b.n_all..] {
        for args in commands(rec, &b.other, &work.join("out.svg")) {
            let r = run(args, &work, "UTC");
            if r.code != Some(0) || r.problem().is_some() {
                bad.push(format!(
                    "ktape-analyze {}: exit {:?}\n{}",
                    r.args.join(" "),
                    r.code,
                    r.stderr
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
