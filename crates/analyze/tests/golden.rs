//! Golden-file tests: each report's output on the fixture recordings is
//! compared with `tests/golden/<name>.txt` (stdout, then stderr after a
//! `--- stderr ---` line when there is any). The fixture's path reads as
//! `$REC` (and its folder as `$DIR`) so goldens do not depend on where the
//! test runs. `KTAPE_BLESS=1 cargo test -p ktape-analyze` rewrites them.

mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

struct Fixtures {
    dir: PathBuf,
    main: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fixture::scratch("golden");
        let main = dir.join("fixture.parquet");
        fixture::write(&main, &fixture::MAIN);
        fixture::write(&dir.join("other.parquet"), &fixture::OTHER);
        // In a folder of its own, so `$DIR/*.parquet` globs stay bio-only.
        fixture::write_exec(&dir.join("procs").join("exec.parquet"));
        // In its own folder, out of reach of the bio tests' `$DIR/*.parquet`.
        fixture::write_sched(&dir.join("sched").join("sched.parquet"), 99);
        fixture::write_tcp(&dir.join("tcp").join("tcp.parquet"), 7);
        fixture::write_stacks(&dir.join("stacks").join("stacks.parquet"), 5);
        fixture::write_files(&dir.join("files").join("files.parquet"));
        fixture::write_files_recorded_with(
            &dir.join("files_min").join("files.parquet"),
            "ktape-record -e open,fileio --min-latency 2ms -d 10 files.parquet",
        );
        fixture::syscall::write_syscall(&dir.join("syscall").join("syscall.parquet"));
        fixture::irq::write_irq(&dir.join("irq").join("irq.parquet"));
        fixture::vfs::write_vfs(&dir.join("vfs").join("vfs.parquet"));
        fixture::signal::write_signal(&dir.join("signal").join("signal.parquet"));
        fixture::wakeup::write_wakeup(&dir.join("wakeup").join("wakeup.parquet"));
        fixture::oom::write_oom(&dir.join("oom").join("oom.parquet"));
        fixture::oom::write_runq(&dir.join("runq").join("runq.parquet"));
        fixture::oom::write_runq_without_idle(&dir.join("runq_old").join("runq.parquet"));
        // A hive-style fleet of the two bio recordings.
        let fleet = dir.join("fleet");
        fixture::write(&fleet.join("dc=eu/host=web1/out.parquet"), &fixture::MAIN);
        fixture::write(&fleet.join("dc=us/host=web2/out.parquet"), &fixture::OTHER);
        // The same connections as written before tcp tables had `uid`.
        fixture::write_tcp_without_uid(&dir.join("tcp_old").join("tcp.parquet"), 7);
        // Recordings that lack a table a report reads besides its own.
        let damaged = dir.join("damaged");
        let without = |rec: &Path, table: &str| {
            std::fs::remove_dir_all(rec.join(table)).unwrap();
        };
        let rec = damaged.join("sched_nowake.parquet");
        fixture::write_sched(&rec, 99);
        without(&rec, "sched_wakeup");
        let rec = damaged.join("nostacks.parquet");
        fixture::write_stacks(&rec, 5);
        without(&rec, "stacks");
        fixture::write_stacks_without(&damaged.join("partial_stacks.parquet"), 5, &[3, 6]);
        let rec = damaged.join("noloss.parquet");
        fixture::write(&rec, &fixture::OTHER);
        without(&rec, "loss");
        // Negative times and lengths, as a damaged file could hold.
        let rec = damaged.join("negative_bio.parquet");
        fixture::write(&rec, &fixture::OTHER);
        fixture::rewrite_ints(&rec.join("bio/000001.parquet"), "latency_ns", |i, v| {
            if i % 10 == 3 {
                -v
            } else {
                v
            }
        });
        let rec = damaged.join("negative_sched.parquet");
        fixture::write_sched(&rec, 99);
        fixture::rewrite_ints(&rec.join("runqlen/000000.parquet"), "len", |i, v| {
            if i % 100 == 0 {
                -1
            } else {
                v
            }
        });
        let rec = damaged.join("negative_stacks.parquet");
        fixture::write_stacks(&rec, 5);
        fixture::rewrite_ints(&rec.join("offcpu/000000.parquet"), "duration_ns", |i, v| {
            if i % 6 == 0 {
                i64::MIN + v
            } else {
                v
            }
        });
        Fixtures { dir, main }
    })
}

/// Runs the binary; `$REC` and `$DIR` in arguments expand to the fixture.
fn run(args: &[&str]) -> (bool, String) {
    run_tz(args, "UTC")
}

/// [`run`] with the time zone `--localtime` sees.
fn run_tz(args: &[&str], tz: &str) -> (bool, String) {
    run_env(args, &[("TZ", tz)])
}

/// [`run`] with more environment variables.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let f = fixtures();
    let rec = f.main.to_string_lossy().to_string();
    let dir = f.dir.to_string_lossy().to_string();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("$REC", &rec).replace("$DIR", &dir))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_ktape-analyze"))
        .args(&args)
        .env("TZ", "UTC")
        .envs(env.iter().copied())
        .output()
        .expect("run ktape-analyze");
    let mut text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    if !err.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&err);
    }
    (
        out.status.success(),
        text.replace(&rec, "$REC").replace(&dir, "$DIR"),
    )
}

fn golden(name: &str, args: &[&str]) {
    golden_tz(name, args, "UTC")
}

/// [`golden`] with the time zone `--localtime` sees.
fn golden_tz(name: &str, args: &[&str], tz: &str) {
    golden_outcome(name, args, tz, true)
}

/// [`golden`] of a command that must fail: its `error: …` is the golden.
fn golden_fails(name: &str, args: &[&str]) {
    golden_outcome(name, args, "UTC", false)
}

fn golden_outcome(name: &str, args: &[&str], tz: &str, succeeds: bool) {
    let (ok, got) = run_tz(args, tz);
    assert!(
        ok == succeeds,
        "ktape-analyze {args:?} {}:\n{got}",
        if succeeds { "failed" } else { "should fail" }
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("KTAPE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with KTAPE_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        got == want,
        "output of ktape-analyze {args:?} differs from {}\n--- got ---\n{got}\n--- want ---\n{want}\n(KTAPE_BLESS=1 rewrites goldens)",
        path.display()
    );
}

#[test]
fn summary() {
    golden("summary", &["summary", "$REC"]);
}

#[test]
fn summary_window_and_pid() {
    golden(
        "summary_window_pid",
        &["summary", "--from", "+10s", "-p", "1234", "$REC"],
    );
}

#[test]
fn summary_json() {
    golden("summary_json", &["summary", "--json", "$REC"]);
}

#[test]
fn biolatency() {
    golden("biolatency", &["biolatency", "$REC"]);
}

#[test]
fn biolatency_millis() {
    golden("biolatency_m", &["biolatency", "-m", "$REC"]);
}

#[test]
fn biolatency_per_disk() {
    golden("biolatency_D", &["biolatency", "-D", "$REC"]);
}

#[test]
fn biolatency_per_flag() {
    golden("biolatency_F", &["biolatency", "-F", "$REC"]);
}

#[test]
fn biolatency_per_disk_and_flag() {
    golden(
        "biolatency_DF",
        &["biolatency", "-D", "-F", "-d", "vdb", "$REC"],
    );
}

#[test]
fn biolatency_queued() {
    golden("biolatency_Q", &["biolatency", "-Q", "$REC"]);
}

#[test]
fn biolatency_timestamp() {
    golden("biolatency_T", &["biolatency", "-T", "-m", "$REC"]);
}

#[test]
fn biolatency_interval() {
    golden(
        "biolatency_interval",
        &[
            "biolatency",
            "-m",
            "--interval",
            "5",
            "--count",
            "3",
            "$REC",
        ],
    );
}

#[test]
fn biolatency_json() {
    golden("biolatency_json", &["biolatency", "--json", "-m", "$REC"]);
}

#[test]
fn biolatency_interval_json() {
    golden(
        "biolatency_interval_json",
        &["biolatency", "--json", "-D", "-m", "-i", "10s", "$REC"],
    );
}

#[test]
fn biolatency_window() {
    golden(
        "biolatency_window",
        &[
            "biolatency",
            "--from",
            "+8s",
            "--to",
            "2023-11-14T22:13:32Z",
            "$REC",
        ],
    );
}

#[test]
fn biolatency_pid() {
    golden("biolatency_pid", &["biolatency", "-p", "1234", "$REC"]);
}

#[test]
fn biolatency_comm() {
    golden("biolatency_comm", &["biolatency", "--comm", "dd", "$REC"]);
}

#[test]
fn biolatency_glob_of_two_recordings() {
    golden("biolatency_glob", &["biolatency", "-m", "$DIR/*.parquet"]);
}

#[test]
fn biosnoop() {
    golden("biosnoop", &["biosnoop", "$REC"]);
}

#[test]
fn biosnoop_queued_one_disk() {
    golden("biosnoop_Q", &["biosnoop", "-Q", "-d", "vdb", "$REC"]);
}

#[test]
fn biosnoop_min_latency() {
    golden(
        "biosnoop_min_latency",
        &["biosnoop", "--min-latency", "20ms", "$REC"],
    );
}

#[test]
fn biosnoop_window_comm() {
    golden(
        "biosnoop_window_comm",
        &[
            "biosnoop", "--comm", "postgres", "--from", "+6s", "--to", "+9s", "$REC",
        ],
    );
}

#[test]
fn biosnoop_json() {
    golden(
        "biosnoop_json",
        &["biosnoop", "--json", "-Q", "--min-latency", "50ms", "$REC"],
    );
}

#[test]
fn execsnoop() {
    golden("execsnoop", &["execsnoop", "$DIR/procs/exec.parquet"]);
}

#[test]
fn execsnoop_failed_time_uid_quote() {
    golden(
        "execsnoop_xtUq",
        &[
            "execsnoop",
            "-x",
            "-t",
            "-U",
            "-q",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn execsnoop_clock_name_max_args() {
    golden(
        "execsnoop_T_n_max_args",
        &[
            "execsnoop",
            "-T",
            "-x",
            "-n",
            "a",
            "--max-args",
            "2",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn execsnoop_pid_line_json() {
    golden(
        "execsnoop_json",
        &[
            "execsnoop",
            "--json",
            "-x",
            "-l",
            "c",
            "--from",
            "+2s",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn exitsnoop() {
    golden("exitsnoop", &["exitsnoop", "$DIR/procs/exec.parquet"]);
}

#[test]
fn exitsnoop_threads_failed_time() {
    golden(
        "exitsnoop_Txt",
        &["exitsnoop", "-T", "-x", "-t", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn exitsnoop_json_pid() {
    golden(
        "exitsnoop_json",
        &[
            "exitsnoop",
            "--json",
            "-T",
            "-p",
            "3042",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn pidpersec() {
    golden("pidpersec", &["pidpersec", "$DIR/procs/exec.parquet"]);
}

#[test]
fn pidpersec_processes_interval() {
    golden(
        "pidpersec_processes_i3",
        &[
            "pidpersec",
            "--processes",
            "-i",
            "3",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn pidpersec_json_pid() {
    golden(
        "pidpersec_json",
        &[
            "pidpersec",
            "--json",
            "-p",
            "3042",
            "$DIR/procs/exec.parquet",
        ],
    );
}

#[test]
fn pidpersec_on_a_bio_recording_says_what_records_forks() {
    golden_fails("pidpersec_no_table", &["pidpersec", "$DIR/other.parquet"]);
}

#[test]
fn execsnoop_on_a_bio_recording_says_what_records_exec() {
    golden_fails("execsnoop_no_table", &["execsnoop", "$DIR/other.parquet"]);
}

#[test]
fn same_result_through_the_library() {
    // The binary is a thin shell: the library gives the same text.
    let f = fixtures();
    let recs = ktape_analyze::common::open_recordings(std::slice::from_ref(&f.main)).unwrap();
    let opts = ktape_analyze::biolatency::BiolatencyOptions {
        per_disk: true,
        ..Default::default()
    };
    let (mut o, mut e) = (Vec::new(), Vec::new());
    ktape_analyze::biolatency::run(
        &recs,
        &opts,
        &mut ktape_analyze::output::Out::new(&mut o, &mut e),
    )
    .unwrap();
    let (_, bin) = run(&["biolatency", "-D", "$REC"]);
    assert!(bin.starts_with(&String::from_utf8(o).unwrap()));
}

#[test]
fn histogram_totals_match_row_counts() {
    // Every bio row lands in exactly one slot.
    let f = fixtures();
    let recs = ktape_analyze::common::open_recordings(std::slice::from_ref(&f.main)).unwrap();
    let r = ktape_analyze::biolatency::compute(&recs, &Default::default()).unwrap();
    let total: u64 = r
        .intervals
        .iter()
        .flat_map(|i| &i.groups)
        .map(|g| g.hist.total())
        .sum();
    let rows: i64 = recs[0].segments("bio").iter().map(|s| s.rows()).sum();
    assert_eq!(total, rows as u64);
    assert_eq!(r.loss.total(), 17);
}

#[test]
fn runqlat() {
    golden("runqlat", &["runqlat", "$DIR/sched/sched.parquet"]);
    golden("runqlat_m", &["runqlat", "-m", "$DIR/sched/sched.parquet"]);
    golden("runqlat_P", &["runqlat", "-P", "$DIR/sched/sched.parquet"]);
    golden("runqlat_L", &["runqlat", "-L", "$DIR/sched/sched.parquet"]);
    golden(
        "runqlat_pid",
        &["runqlat", "-L", "-p", "1234", "$DIR/sched/sched.parquet"],
    );
    golden(
        "runqlat_comm",
        &["runqlat", "--comm", "dd", "$DIR/sched/sched.parquet"],
    );
    golden(
        "runqlat_interval",
        &[
            "runqlat",
            "-m",
            "--interval",
            "5",
            "--count",
            "3",
            "$DIR/sched/sched.parquet",
        ],
    );
    golden(
        "runqlat_T_window",
        &[
            "runqlat",
            "-T",
            "--from",
            "+2s",
            "--to",
            "+6s",
            "$DIR/sched/sched.parquet",
        ],
    );
    golden(
        "runqlat_json",
        &["runqlat", "-L", "--json", "$DIR/sched/sched.parquet"],
    );
}

#[test]
fn tcp_reports() {
    let cases: &[(&str, &[&str])] = &[
        ("tcpconnect", &["tcpconnect", "$DIR/tcp/tcp.parquet"]),
        (
            "tcpconnect_ts",
            &[
                "tcpconnect",
                "-t",
                "-s",
                "-P",
                "443",
                "$DIR/tcp/tcp.parquet",
            ],
        ),
        (
            "tcpconnect_c",
            &["tcpconnect", "-c", "$DIR/tcp/tcp.parquet"],
        ),
        ("tcpaccept", &["tcpaccept", "-T", "$DIR/tcp/tcp.parquet"]),
        ("tcplife", &["tcplife", "$DIR/tcp/tcp.parquet"]),
        (
            "tcplife_w_D",
            &["tcplife", "-w", "-D", "5432", "$DIR/tcp/tcp.parquet"],
        ),
        (
            "tcplife_L",
            &["tcplife", "-L", "8080", "-p", "900", "$DIR/tcp/tcp.parquet"],
        ),
        ("tcpconnlat", &["tcpconnlat", "-L", "$DIR/tcp/tcp.parquet"]),
        (
            "tcpconnlat_min",
            &["tcpconnlat", "--min", "900", "-t", "$DIR/tcp/tcp.parquet"],
        ),
        ("tcpretrans", &["tcpretrans", "$DIR/tcp/tcp.parquet"]),
        (
            "tcpretrans_c",
            &["tcpretrans", "-c", "$DIR/tcp/tcp.parquet"],
        ),
        (
            "tcpstates",
            &["tcpstates", "-D", "51001", "$DIR/tcp/tcp.parquet"],
        ),
        (
            "tcpstates_json",
            &[
                "tcpstates",
                "--json",
                "-4",
                "-L",
                "8080",
                "--from",
                "+5s",
                "--to",
                "+6s",
                "$DIR/tcp/tcp.parquet",
            ],
        ),
    ];
    for (name, args) in cases {
        golden(name, args);
    }
}

#[test]
fn biolatency_by_host_over_a_fleet() {
    golden(
        "biolatency_by_host",
        &["biolatency", "-m", "--by", "host", "$DIR/fleet"],
    );
}

#[test]
fn biolatency_by_partition_json() {
    golden(
        "biolatency_by_dc_json",
        &["biolatency", "--by", "dc", "-D", "--json", "$DIR/fleet"],
    );
}

#[test]
fn a_fleet_is_the_sum_of_its_recordings() {
    // The folder and the explicit list of its recordings give one result.
    let (ok, fleet) = run(&["biolatency", "-m", "$DIR/fleet"]);
    assert!(ok, "{fleet}");
    let (ok, list) = run(&[
        "biolatency",
        "-m",
        "$DIR/fleet/dc=eu/host=web1/out.parquet",
        "$DIR/fleet/dc=us/host=web2/out.parquet",
    ]);
    assert!(ok, "{list}");
    assert_eq!(fleet, list);
}

#[test]
fn by_an_unknown_partition_names_the_recording() {
    let (ok, out) = run(&["biolatency", "--by", "rack", "$DIR/fleet"]);
    assert!(!ok);
    assert!(
        out.contains("--by rack") && out.contains("host=web1"),
        "{out}"
    );
}

#[test]
fn tcp_uid_and_localtime() {
    let cases: &[(&str, &[&str])] = &[
        (
            "tcpconnect_U",
            &["tcpconnect", "-U", "-t", "$DIR/tcp/tcp.parquet"],
        ),
        // Files written before tcp_state had `uid`, beside newer ones:
        // the old connects show `?`, -u leaves them out, a note says so.
        (
            "tcpconnect_U_old",
            &[
                "tcpconnect",
                "-U",
                "-P",
                "5432",
                "$DIR/tcp/tcp.parquet",
                "$DIR/tcp_old/tcp.parquet",
            ],
        ),
        (
            "tcpconnect_u_old",
            &[
                "tcpconnect",
                "-u",
                "1000",
                "--json",
                "-P",
                "5432",
                "$DIR/tcp/tcp.parquet",
                "$DIR/tcp_old/tcp.parquet",
            ],
        ),
        (
            "tcpconnect_u_none",
            &["tcpconnect", "-u", "33", "$DIR/tcp/tcp.parquet"],
        ),
        (
            "tcpconnect_c_s",
            &["tcpconnect", "-c", "-s", "$DIR/tcp/tcp.parquet"],
        ),
        // The accepts of files without `uid` read as null in JSON.
        (
            "tcpaccept_old_json",
            &["tcpaccept", "--json", "$DIR/tcp_old/tcp.parquet"],
        ),
    ];
    for (name, args) in cases {
        golden(name, args);
    }
    // --localtime: the same instants in another zone (UTC+5:30, no DST).
    let tz = "Asia/Kolkata";
    golden_tz(
        "tcpaccept_T_localtime",
        &["tcpaccept", "-T", "--localtime", "$DIR/tcp/tcp.parquet"],
        tz,
    );
    golden_tz(
        "tcplife_T_localtime",
        &["tcplife", "-T", "--localtime", "$DIR/tcp/tcp.parquet"],
        tz,
    );
    golden_tz(
        "tcpretrans_localtime",
        &["tcpretrans", "--localtime", "$DIR/tcp/tcp.parquet"],
        tz,
    );
    golden_tz(
        "tcpstates_T_localtime",
        &[
            "tcpstates",
            "-T",
            "--localtime",
            "-L",
            "8080",
            "$DIR/tcp/tcp.parquet",
        ],
        tz,
    );
}

#[test]
fn runqslower() {
    let rec = "$DIR/sched/sched.parquet";
    golden("runqslower", &["runqslower", rec]);
    golden(
        "runqslower_P_min",
        &["runqslower", "-P", "--min-latency", "2ms", rec],
    );
    golden(
        "runqslower_tid",
        &[
            "runqslower",
            "-P",
            "--min-latency",
            "100",
            "-t",
            "1240",
            rec,
        ],
    );
    golden(
        "runqslower_json",
        &["runqslower", "--json", "--min-latency", "5ms", rec],
    );
}

#[test]
fn stack_reports() {
    let rec = "$DIR/stacks/stacks.parquet";
    let cases: &[(&str, &[&str])] = &[
        ("profile", &["profile", rec]),
        ("profile_f", &["profile", "-f", rec]),
        ("profile_f_d", &["profile", "-f", "-d", rec]),
        ("profile_K", &["profile", "-K", rec]),
        ("profile_U_pid", &["profile", "-U", "-p", "4242", rec]),
        (
            "profile_comm_window",
            &[
                "profile", "-f", "--comm", "app", "--from", "+2s", "--to", "+6s", rec,
            ],
        ),
        ("profile_json", &["profile", "--json", "-p", "77", rec]),
        ("offcputime", &["offcputime", rec]),
        ("offcputime_f", &["offcputime", "-f", rec]),
        (
            "offcputime_m_M",
            &["offcputime", "-f", "-m", "1000", "-M", "10000", rec],
        ),
        (
            "offcputime_state",
            &["offcputime", "-f", "--state", "2", rec],
        ),
        (
            "offcputime_state0_K",
            &["offcputime", "-K", "--state", "0", rec],
        ),
    ];
    for (name, args) in cases {
        golden(name, args);
    }
}

#[test]
fn flamegraph_svg() {
    let dir = fixture::scratch("flamegraph");
    let svg = dir.join("cpu.svg");
    let (ok, err) = run(&[
        "flamegraph",
        "-o",
        svg.to_str().unwrap(),
        "$DIR/stacks/stacks.parquet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml"), "{}", &text[..100]);
    assert!(
        text.contains("CPU flame graph: stacks-host 2023-11-14T22:13:20"),
        "title"
    );
    assert!(text.contains("200 samples, 3 lost"), "title counts");
    for f in [
        "inner",
        "middle",
        "outer",
        "spin",
        "app-worker",
        "[Missed User Stack]",
    ] {
        assert!(text.contains(f), "{f} missing from the SVG");
    }
    let off = dir.join("off.svg");
    let (ok, err) = run(&[
        "flamegraph",
        "--type",
        "offcpu",
        "-o",
        off.to_str().unwrap(),
        "$DIR/stacks/stacks.parquet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&off).unwrap();
    assert!(text.contains("Off-CPU flame graph") && text.contains("do_nanosleep"));
    let diff = dir.join("diff.svg");
    let (ok, err) = run(&[
        "flamegraph",
        "--diff",
        "--before",
        "+0s,+5s",
        "--from",
        "+5s",
        "-o",
        diff.to_str().unwrap(),
        "$DIR/stacks/stacks.parquet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&diff).unwrap();
    assert!(text.contains("Differential cpu flame graph") && text.contains("before: stacks-host"));
    let (ok, err) = run(&[
        "flamegraph",
        "--diff",
        "-o",
        "x.svg",
        "$DIR/stacks/stacks.parquet",
    ]);
    assert!(!ok && err.contains("--diff needs two recordings"), "{err}");
    let (ok, err) = run(&["profile", "-U", "-K", "$DIR/stacks/stacks.parquet"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn runqlen() {
    let rec = "$DIR/sched/sched.parquet";
    golden("runqlen", &["runqlen", rec]);
    golden("runqlen_C", &["runqlen", "-C", rec]);
    golden("runqlen_O", &["runqlen", "-O", rec]);
    golden(
        "runqlen_CO_T_window",
        &[
            "runqlen", "-C", "-O", "-T", "--from", "+5s", "--to", "+10s", rec,
        ],
    );
    golden("runqlen_json", &["runqlen", "-C", "--json", rec]);
    golden_fails("runqlen_on_a_bio_recording", &["runqlen", "$REC"]);
}

#[test]
fn cpudist() {
    let rec = "$DIR/sched/sched.parquet";
    golden("cpudist", &["cpudist", rec]);
    golden("cpudist_O", &["cpudist", "-O", rec]);
    golden("cpudist_L_m", &["cpudist", "-L", "-m", rec]);
    golden(
        "cpudist_P_interval",
        &["cpudist", "-P", "--interval", "5", "--count", "2", rec],
    );
    golden("cpudist_pid", &["cpudist", "-O", "-p", "1234", rec]);
    golden("cpudist_json", &["cpudist", "--json", rec]);
}

#[test]
fn time_slices_change_no_scheduler_result() {
    // The sched fixture's row groups hold 50 rows: with 120-row slices the
    // pairing crosses dozens of slice boundaries, carrying waiting threads
    // and each CPU's last switch across them.
    let rec = "$DIR/sched/sched.parquet";
    let cases: &[&[&str]] = &[
        &["runqlat", "-L", rec],
        &["runqlat", "-P", "--comm", "dd", rec],
        &["runqlat", "--interval", "5", "--json", rec],
        &["runqslower", "-P", "--min-latency", "100", rec],
        &["cpudist", "-L", rec],
        &["cpudist", "-O", "-P", rec],
        &["cpudist", "--json", rec],
    ];
    for args in cases {
        let (ok, whole) = run(args);
        assert!(ok, "{whole}");
        let (ok, sliced) = run_env(args, &[("KTAPE_SLICE_ROWS", "120")]);
        assert!(ok, "{sliced}");
        assert_eq!(whole, sliced, "ktape-analyze {args:?}");
    }
}

#[test]
fn opensnoop() {
    golden("opensnoop", &["opensnoop", "$DIR/files/files.parquet"]);
    golden(
        "opensnoop_x_e_T_U",
        &[
            "opensnoop",
            "-x",
            "-e",
            "-T",
            "-U",
            "$DIR/files/files.parquet",
        ],
    );
    golden(
        "opensnoop_n_p",
        &["opensnoop", "-n", "post", "-e", "$DIR/files/files.parquet"],
    );
    golden(
        "opensnoop_json",
        &["opensnoop", "-x", "--json", "$DIR/files/files.parquet"],
    );
    golden_fails(
        "opensnoop_no_table",
        &["opensnoop", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn fsslower() {
    let rec = "$DIR/files/files.parquet";
    golden("fsslower", &["fsslower", rec]);
    golden("fsslower_m0", &["fsslower", "-m", "0", rec]);
    golden(
        "fsslower_t_xfs_m1",
        &["fsslower", "-t", "xfs", "-m", "1", rec],
    );
    golden(
        "fsslower_json",
        &["fsslower", "-m", "5", "-p", "5120", "--json", rec],
    );
    golden_fails(
        "fsslower_no_table",
        &["fsslower", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn filetop() {
    let rec = "$DIR/files/files.parquet";
    golden("filetop", &["filetop", rec]);
    golden(
        "filetop_s_wbytes_r3",
        &["filetop", "-s", "wbytes", "-r", "3", rec],
    );
    golden(
        "filetop_interval",
        &["filetop", "-i", "4", "--count", "2", rec],
    );
    golden("filetop_json", &["filetop", "-s", "reads", "--json", rec]);
    let (ok, err) = run(&["filetop", "-s", "size", rec]);
    assert!(
        !ok && err.contains("invalid value 'size'")
            && err.contains("[possible values: all, reads, writes, rbytes, wbytes]"),
        "{err}"
    );
}

#[test]
fn cachestat() {
    let rec = "$DIR/files/files.parquet";
    golden("cachestat", &["cachestat", rec]);
    golden("cachestat_T_i3", &["cachestat", "-T", "-i", "3", rec]);
    golden(
        "cachestat_json",
        &["cachestat", "--count", "4", "--json", rec],
    );
    golden_fails(
        "cachestat_no_table",
        &["cachestat", "$DIR/procs/exec.parquet"],
    );
    let (ok, err) = run(&["cachestat", "-p", "1", rec]);
    assert!(
        !ok && err.contains("record with ktape-record -p PID"),
        "{err}"
    );
}

#[test]
fn a_missing_table_is_an_error_or_a_warning() {
    let d = "$DIR/damaged";
    // Without wakeups only the waits of preempted tasks pair.
    golden(
        "runqlat_no_wakeup",
        &["runqlat", &format!("{d}/sched_nowake.parquet")],
    );
    golden(
        "runqlat_no_wakeup_json",
        &["runqlat", "--json", &format!("{d}/sched_nowake.parquet")],
    );
    golden(
        "runqslower_no_wakeup",
        &[
            "runqslower",
            "--min-latency",
            "5ms",
            &format!("{d}/sched_nowake.parquet"),
        ],
    );
    // Without the stacks table every stack is missed; with some of it,
    // the rows that refer to the rest are counted.
    golden(
        "profile_no_stacks",
        &["profile", "-f", &format!("{d}/nostacks.parquet")],
    );
    golden(
        "profile_partial_stacks_json",
        &["profile", "--json", &format!("{d}/partial_stacks.parquet")],
    );
    golden(
        "offcputime_partial_stacks",
        &["offcputime", "-f", &format!("{d}/partial_stacks.parquet")],
    );
    // The own table in one of two recordings: a warning names the other.
    golden(
        "biolatency_one_without_bio",
        &["biolatency", "-m", "$REC", "$DIR/procs/exec.parquet"],
    );
    golden(
        "biosnoop_no_loss_json",
        &["biosnoop", "--json", &format!("{d}/noloss.parquet")],
    );
    golden_fails(
        "profile_no_profile",
        &["profile", "$DIR/sched/sched.parquet"],
    );
    // A flame graph says it too (on stderr: an SVG has no room for it).
    let svg = fixture::scratch("flamegraph-nostacks").join("cpu.svg");
    let (ok, out) = run(&[
        "flamegraph",
        "-o",
        svg.to_str().unwrap(),
        &format!("{d}/nostacks.parquet"),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("WARNING: no `stacks` table in $DIR/damaged/nostacks.parquet"),
        "{out}"
    );
}

#[test]
fn negative_times_are_left_out_and_said() {
    let d = "$DIR/damaged";
    golden(
        "biolatency_negative",
        &["biolatency", "-m", &format!("{d}/negative_bio.parquet")],
    );
    golden(
        "biolatency_negative_json",
        &[
            "biolatency",
            "--json",
            "-Q",
            &format!("{d}/negative_bio.parquet"),
        ],
    );
    golden(
        "runqlen_negative",
        &["runqlen", &format!("{d}/negative_sched.parquet")],
    );
    golden(
        "offcputime_negative",
        &["offcputime", "-f", &format!("{d}/negative_stacks.parquet")],
    );
}

#[test]
fn syscount() {
    let rec = "$DIR/syscall/syscall.parquet";
    golden("syscount", &["syscount", rec]);
    golden("syscount_P_L", &["syscount", "-P", "-L", rec]);
    golden("syscount_L_m_T3", &["syscount", "-L", "-m", "-T", "3", rec]);
    golden("syscount_x_i4", &["syscount", "-x", "-i", "4", rec]);
    golden(
        "syscount_e_enoent",
        &["syscount", "-e", "enoent", "-P", rec],
    );
    golden("syscount_json", &["syscount", "-s", "read", "--json", rec]);
    golden_fails(
        "syscount_no_table",
        &["syscount", "$DIR/procs/exec.parquet"],
    );
    let (ok, err) = run(&["syscount", "--cgroup", "5", rec]);
    assert!(!ok && err.contains("per process"), "{err}");
}

#[test]
fn hardirqs_softirqs() {
    let rec = "$DIR/irq/irq.parquet";
    golden("hardirqs", &["hardirqs", rec]);
    golden("hardirqs_C_c1", &["hardirqs", "-C", "-c", "1", rec]);
    golden("hardirqs_d", &["hardirqs", "-d", rec]);
    golden("hardirqs_N_i5_T", &["hardirqs", "-N", "-i", "5", "-T", rec]);
    golden("softirqs", &["softirqs", rec]);
    golden("softirqs_d_N", &["softirqs", "-d", "-N", rec]);
    golden("softirqs_json", &["softirqs", "-C", "--json", rec]);
    golden_fails(
        "hardirqs_no_table",
        &["hardirqs", "$DIR/procs/exec.parquet"],
    );
    let (ok, err) = run(&["softirqs", "-p", "5", rec]);
    assert!(!ok && err.contains("no process"), "{err}");
    let (ok, err) = run(&["hardirqs", "-C", "-d", rec]);
    assert!(!ok && err.contains("cannot be combined"), "{err}");
}

#[test]
fn syscallslower() {
    let rec = "$DIR/syscall/syscall.parquet";
    golden("syscallslower", &["syscallslower", rec]);
    golden(
        "syscallslower_min30_waits",
        &[
            "syscallslower",
            "--min-latency",
            "30",
            "--exclude-waits",
            rec,
        ],
    );
    golden(
        "syscallslower_x_json",
        &["syscallslower", "-x", "--json", rec],
    );
}

#[test]
fn bitesize() {
    golden("bitesize", &["bitesize", "$REC"]);
    golden(
        "bitesize_interval_T",
        &["bitesize", "-T", "-i", "5", "--count", "2", "$REC"],
    );
    golden(
        "bitesize_disk_pid",
        &["bitesize", "-d", "vdb", "-p", "1234", "$REC"],
    );
    golden(
        "bitesize_json",
        &["bitesize", "--json", "--comm", "dd", "$REC"],
    );
}

#[test]
fn biotop() {
    golden("biotop", &["biotop", "$REC"]);
    golden("biotop_s_io_r5", &["biotop", "-s", "io", "-r", "5", "$REC"]);
    golden(
        "biotop_interval",
        &[
            "biotop", "-i", "5", "--count", "2", "-s", "time", "-r", "4", "$REC",
        ],
    );
    golden("biotop_json", &["biotop", "--json", "-p", "2001", "$REC"]);
    let (ok, err) = run(&["biotop", "-s", "reads", "$REC"]);
    assert!(
        !ok && err.contains("[possible values: all, io, bytes, time]"),
        "{err}"
    );
}

#[test]
fn fsdist() {
    let rec = "$DIR/files/files.parquet";
    golden("fsdist", &["fsdist", rec]);
    golden("fsdist_m_interval", &["fsdist", "-m", "-i", "5", rec]);
    golden(
        "fsdist_t_xfs_pid",
        &["fsdist", "-t", "xfs", "-p", "4410", rec],
    );
    golden("ext4dist", &["ext4dist", "-T", rec]);
    golden("btrfsdist_json", &["btrfsdist", "--json", rec]);
    golden("fsdist_json", &["fsdist", "--json", "-m", rec]);
    // Recorded with --min-latency 2ms: the report says the histograms
    // miss the faster calls.
    golden(
        "fsdist_min_latency",
        &["fsdist", "-m", "$DIR/files_min/files.parquet"],
    );
    // The aliases are fsdist -t FS.
    let (_, a) = run(&["xfsdist", rec]);
    let (_, b) = run(&["fsdist", "-t", "xfs", rec]);
    assert_eq!(a, b);
}

#[test]
fn mountsnoop() {
    let rec = "$DIR/vfs/vfs.parquet";
    golden("mountsnoop", &["mountsnoop", rec]);
    golden("mountsnoop_t_p", &["mountsnoop", "-t", "-p", "1210", rec]);
    golden(
        "mountsnoop_json",
        &["mountsnoop", "--json", "--comm", "umount", rec],
    );
    golden_fails(
        "mountsnoop_no_table",
        &["mountsnoop", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn statsnoop() {
    let rec = "$DIR/vfs/vfs.parquet";
    golden("statsnoop", &["statsnoop", rec]);
    golden("statsnoop_x_t_s", &["statsnoop", "-x", "-t", "-s", rec]);
    golden(
        "statsnoop_p_json",
        &["statsnoop", "-p", "2300", "--json", rec],
    );
    golden_fails(
        "statsnoop_no_table",
        &["statsnoop", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn syncsnoop() {
    let rec = "$DIR/vfs/vfs.parquet";
    golden("syncsnoop", &["syncsnoop", rec]);
    golden(
        "syncsnoop_p_json",
        &["syncsnoop", "-p", "4410", "--json", rec],
    );
    golden_fails(
        "syncsnoop_no_table",
        &["syncsnoop", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn killsnoop() {
    let rec = "$DIR/signal/signal.parquet";
    golden("killsnoop", &["killsnoop", rec]);
    golden("killsnoop_T_x", &["killsnoop", "-T", "-x", rec]);
    golden(
        "killsnoop_s_usr1_no_kernel",
        &["killsnoop", "-s", "SIGUSR1", "--no-kernel", rec],
    );
    golden(
        "killsnoop_s9_p",
        &["killsnoop", "-s", "9", "-p", "902", rec],
    );
    golden(
        "killsnoop_json",
        &["killsnoop", "--json", "-s", "kill", rec],
    );
    golden_fails(
        "killsnoop_no_table",
        &["killsnoop", "$DIR/procs/exec.parquet"],
    );
    let (ok, err) = run(&["killsnoop", "-s", "SIGFOO", rec]);
    assert!(!ok && err.contains("unknown signal"), "{err}");
}

#[test]
fn wakeuptime() {
    let rec = "$DIR/wakeup/wakeup.parquet";
    golden("wakeuptime", &["wakeuptime", rec]);
    golden("wakeuptime_f", &["wakeuptime", "-f", rec]);
    golden("wakeuptime_u", &["wakeuptime", "-f", "-u", rec]);
    golden(
        "wakeuptime_k_m",
        &["wakeuptime", "-f", "-k", "-m", "5000", rec],
    );
    golden(
        "wakeuptime_p_json",
        &["wakeuptime", "-p", "600", "--json", rec],
    );
    golden_fails(
        "wakeuptime_no_table",
        &["wakeuptime", "$DIR/procs/exec.parquet"],
    );
}

#[test]
fn offwaketime() {
    let rec = "$DIR/wakeup/wakeup.parquet";
    golden("offwaketime", &["offwaketime", rec]);
    golden("offwaketime_f", &["offwaketime", "-f", rec]);
    golden("offwaketime_f_d", &["offwaketime", "-f", "-d", rec]);
    golden("offwaketime_K_t", &["offwaketime", "-K", "-t", "601", rec]);
    golden(
        "offwaketime_U_M",
        &["offwaketime", "-f", "-U", "-M", "1000", rec],
    );
    golden(
        "offwaketime_state2",
        &["offwaketime", "-f", "--state", "2", rec],
    );
    golden(
        "offwaketime_json",
        &["offwaketime", "--json", "--comm", "cons", rec],
    );
    let (ok, err) = run(&["offwaketime", "-m", "10", "-M", "5", rec]);
    assert!(!ok && err.contains("above -M"), "{err}");
}

#[test]
fn flamegraph_offwake() {
    let dir = fixture::scratch("flamegraph_offwake");
    let svg = dir.join("offwake.svg");
    let (ok, err) = run(&[
        "flamegraph",
        "--type",
        "offwake",
        "-o",
        svg.to_str().unwrap(),
        "$DIR/wakeup/wakeup.parquet",
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&svg).unwrap();
    for f in ["cons", "prod", "pipe_read", "pipe_write", "db-worker", "--"] {
        assert!(text.contains(f), "{f} missing from the offwake flame graph");
    }
}

#[test]
fn oomkill() {
    let rec = "$DIR/oom/oom.parquet";
    golden("oomkill", &["oomkill", rec]);
    golden("oomkill_v", &["oomkill", "-v", rec]);
    golden_tz(
        "oomkill_localtime",
        &["oomkill", "--localtime", rec],
        "Asia/Kolkata",
    );
    golden("oomkill_json", &["oomkill", "--json", rec]);
    // -p and --comm match either side: the victim 5120, the trigger java.
    golden("oomkill_p_victim", &["oomkill", "-p", "5120", rec]);
    golden(
        "oomkill_comm_trigger",
        &["oomkill", "--comm", "kswapd0", rec],
    );
    golden("oomkill_window_empty", &["oomkill", "--from", "+8s", rec]);
    golden_fails("oomkill_no_table", &["oomkill", "$DIR/procs/exec.parquet"]);
}

#[test]
fn cpuunclaimed() {
    let rec = "$DIR/runq/runq.parquet";
    golden("cpuunclaimed", &["cpuunclaimed", rec]);
    golden(
        "cpuunclaimed_T_interval",
        &["cpuunclaimed", "-T", "-i", "2", "--count", "3", rec],
    );
    golden(
        "cpuunclaimed_json",
        &["cpuunclaimed", "--json", "--to", "+4s", rec],
    );
    golden(
        "cpuunclaimed_sched",
        &["cpuunclaimed", "--to", "+5s", "$DIR/sched/sched.parquet"],
    );
    golden_fails(
        "cpuunclaimed_without_idle",
        &["cpuunclaimed", "$DIR/runq_old/runq.parquet"],
    );
    golden_fails("cpuunclaimed_p", &["cpuunclaimed", "-p", "1", rec]);
    golden_fails("cpuunclaimed_no_table", &["cpuunclaimed", "$REC"]);
}

#[test]
fn heatmap() {
    // The cells are biolatency's (runqlat's, fsdist's) histograms, one per
    // step: compare with biolatency_D's and runqlat's totals.
    golden(
        "heatmap_bio_json",
        &["heatmap", "--json", "-D", "-s", "5", "$REC"],
    );
    golden(
        "heatmap_runqlat_json",
        &[
            "heatmap",
            "--json",
            "--of",
            "runqlat",
            "-m",
            "$DIR/sched/sched.parquet",
        ],
    );
    golden(
        "heatmap_fileio_json",
        &[
            "heatmap",
            "--json",
            "--op",
            "fsync",
            "$DIR/files/files.parquet",
        ],
    );
    golden(
        "heatmap_offcpu_json",
        &[
            "heatmap",
            "--json",
            "--of",
            "offcpu",
            "-s",
            "2",
            "$DIR/stacks/stacks.parquet",
        ],
    );
    golden(
        "heatmap_profile_json",
        &[
            "heatmap",
            "--json",
            "--of",
            "profile",
            "--rows",
            "10",
            "$DIR/stacks/stacks.parquet",
        ],
    );
    golden_fails(
        "heatmap_profile_step",
        &[
            "heatmap",
            "--json",
            "--of",
            "profile",
            "-s",
            "2",
            "$DIR/stacks/stacks.parquet",
        ],
    );
    golden(
        "heatmap_runqlat_linear_json",
        &[
            "heatmap",
            "--json",
            "--of",
            "runqlat",
            "--linear",
            "500",
            "$DIR/sched/sched.parquet",
        ],
    );
    golden(
        "heatmap_tcpconnlat_json",
        &[
            "heatmap",
            "--json",
            "--of",
            "tcpconnlat",
            "$DIR/tcp/tcp.parquet",
        ],
    );
    golden_fails(
        "heatmap_profile_linear",
        &[
            "heatmap",
            "--json",
            "--of",
            "profile",
            "--linear",
            "10",
            "$DIR/stacks/stacks.parquet",
        ],
    );
    golden_fails("report_to_stdout", &["report", "-o", "-", "$REC"]);
    golden_fails("heatmap_no_output", &["heatmap", "$REC"]);
    golden_fails(
        "heatmap_D_runqlat",
        &["heatmap", "--json", "--of", "runqlat", "-D", "$REC"],
    );
    golden_fails(
        "heatmap_bad_op",
        &[
            "heatmap",
            "--json",
            "--op",
            "stat",
            "$DIR/files/files.parquet",
        ],
    );
    golden_fails(
        "heatmap_nothing",
        &["heatmap", "--json", "$DIR/procs/exec.parquet"],
    );
}

/// The trace of a fixture, decoded with the message definitions and
/// rendered as text: per kind of packet, its count, then its first
/// packets in short form, so a golden shows what the trace holds.
fn perfetto_dump(name: &str, args: &[&str]) {
    use ktape_analyze::perfetto::proto::{Trace, TracePacket};
    use prost::Message;
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    const SHOWN: usize = 12;
    let f = fixtures();
    let out = f.dir.join(format!("{name}.pftrace"));
    let mut full = vec!["perfetto", "-o"];
    let out_s = out.to_string_lossy().to_string();
    full.push(&out_s);
    full.extend_from_slice(args);
    let (ok, log) = run(&full);
    assert!(ok, "{log}");
    let bytes = std::fs::read(&out).unwrap();
    let trace = Trace::decode(&bytes[..]).unwrap();
    let kind = |p: &TracePacket| -> &'static str {
        if p.ftrace_events.is_some() {
            "ftrace_events"
        } else if p.process_tree.is_some() {
            "process_tree"
        } else if p.clock_snapshot.is_some() {
            "clock_snapshot"
        } else if p.system_info.is_some() {
            "system_info"
        } else if p.perf_sample.is_some() {
            "perf_sample"
        } else if p.track_descriptor.is_some() {
            "track_descriptor"
        } else if p.track_event.is_some() {
            "track_event"
        } else {
            "other"
        }
    };
    let mut by: BTreeMap<&str, Vec<&TracePacket>> = BTreeMap::new();
    for p in &trace.packet {
        by.entry(kind(p)).or_default().push(p);
    }
    let mut text = format!(
        "{log}--- trace: {} packets, {} bytes ---\n",
        trace.packet.len(),
        bytes.len()
    );
    for (k, ps) in &by {
        writeln!(text, "{k}: {}", ps.len()).unwrap();
        for p in ps.iter().take(SHOWN) {
            let mut p = (*p).clone();
            // Long columns are summarized: the golden stays readable.
            if let Some((cpu, Some(c))) =
                p.ftrace_events.as_ref().map(|b| (b.cpu, &b.compact_sched))
            {
                writeln!(
                    text,
                    "  cpu {cpu:?}: {} switches (first {:?}), {} wakings, {} names",
                    c.switch_timestamp.len(),
                    c.switch_next_pid
                        .iter()
                        .zip(&c.switch_prev_state)
                        .take(4)
                        .collect::<Vec<_>>(),
                    c.waking_timestamp.len(),
                    c.intern_table.len()
                )
                .unwrap();
                continue;
            }
            if let Some(t) = p.process_tree.as_mut() {
                t.processes.truncate(3);
                t.threads.truncate(3);
            }
            writeln!(text, "  {p:?}").unwrap();
        }
    }
    let text = text.replace(&f.dir.to_string_lossy().to_string(), "$DIR");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("KTAPE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with KTAPE_BLESS=1", path.display()));
    assert!(
        text == want,
        "{name} differs from {}\n--- got ---\n{text}",
        path.display()
    );
}

#[test]
fn perfetto() {
    perfetto_dump("perfetto_sched", &["$DIR/sched/sched.parquet"]);
    perfetto_dump("perfetto_stacks", &["$DIR/stacks/stacks.parquet"]);
    perfetto_dump("perfetto_bio", &["$REC"]);
    perfetto_dump("perfetto_exec", &["$DIR/procs/exec.parquet"]);
    perfetto_dump(
        "perfetto_files_tcp",
        &["$DIR/files/files.parquet", "$DIR/tcp/tcp.parquet"],
    );
    perfetto_dump(
        "perfetto_bio_pid_window",
        &["-p", "1234", "--from", "+5s", "--to", "+15s", "$REC"],
    );
    golden(
        "perfetto_json",
        &[
            "perfetto",
            "--json",
            "-o",
            "$DIR/sched.pftrace",
            "$DIR/sched/sched.parquet",
        ],
    );
    golden_fails(
        "perfetto_json_stdout",
        &["perfetto", "--json", "-o", "-", "$DIR/sched/sched.parquet"],
    );
    golden_fails(
        "perfetto_no_tables",
        &[
            "perfetto",
            "-o",
            "$DIR/never.pftrace",
            "$DIR/syscall/syscall.parquet",
        ],
    );
    golden(
        "perfetto_cgroup",
        &[
            "perfetto",
            "--json",
            "--cgroup",
            "1",
            "-o",
            "$DIR/cg.pftrace",
            "$DIR/stacks/stacks.parquet",
        ],
    );
}
