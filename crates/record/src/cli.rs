//! Command line: parsed by clap, then validated into a [`Config`] before
//! anything touches the output directory or the kernel.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::family::{self, Family};
use crate::space::MinFree;
use crate::writer::Rotation;

mod units;

pub use units::{
    parse_duration, parse_min_time, parse_rotate, parse_size, RotateError, RotateSpec,
};

const EXAMPLES: &str = "\
Examples:
  ktape-record -e bio -d 60 out.parquet      record block I/O for a minute
  ktape-record -e bio -p 1234 out.parquet    only I/O submitted by process 1234, until Ctrl-C
  ktape-record -e bio --force out.parquet    replace an existing recording
  ktape-record -e bio --rotate 10m --keep 144 ring.parquet
                                             always on: a new segment every 10 minutes,
                                             the last day kept

Durability: every table's open segment is checkpointed every second and closed
(fsynced, moved into its table folder) every 10 s by default, so a SIGKILL or the
OOM killer costs about the last second and a power cut at most the open segment.
After such a stop, `ktape-analyze summary OUT` says what is complete and
`ktape-analyze recover OUT` makes the last checkpoints plain segment files.

Then, anywhere (no root needed):
  ktape-analyze biolatency out.parquet
  duckdb -c \"SELECT disk, count(*) FROM 'out.parquet/bio/*.parquet' GROUP BY 1\"";

/// Record kernel events with eBPF into a Parquet recording.
///
/// Creates the directory OUT with one folder of Parquet files per table
/// (e.g. OUT/bio/000000.parquet), plus OUT/loss (events the kernel could not
/// hand over), OUT/process (a /proc snapshot) and OUT/counters (the
/// kernel's own counters, to cross-check the rows). Stops after -d, on
/// Ctrl-C or any terminating signal (SIGTERM, SIGHUP from a dropped ssh
/// session, SIGQUIT), or when the disk reaches --min-free, finishing every
/// file. Needs root (or CAP_BPF and CAP_PERFMON, plus tracefs access for
/// classic tracepoints).
#[derive(Debug, Parser)]
#[command(name = "ktape-record", version, after_help = EXAMPLES)]
pub struct Args {
    #[arg(short = 'e', long = "events", value_name = "LIST", help = family::events_help())]
    pub events: String,

    /// Stop after this long: seconds (decimals allowed) or a number with a
    /// unit (`90s`, `10m`, `1h`). Default: until Ctrl-C or a terminating
    /// signal.
    #[arg(
        short = 'd',
        long = "duration",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub duration: Option<String>,

    /// Only record events of this process (its tgid); filtered in the
    /// kernel.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,

    /// Replace OUT if it is an existing ktape recording (never anything
    /// else).
    #[arg(long)]
    pub force: bool,

    /// Size of each per-CPU ring buffer: a power of two of at least 4K,
    /// with an optional K/M/G suffix.
    #[arg(long, value_name = "SIZE", default_value = "4M")]
    pub ring_size: String,

    /// Close the open segment of every table and start the next one every
    /// DURATION (`90s`, `10m`, `1h`), or once the open segments hold SIZE
    /// bytes (`256MiB`, `1G`), or both (`1h,256MiB`: whichever comes
    /// first). Default: every 10s. A closed segment survives a power cut
    /// and is what plain Parquet readers see; checkpoints every second
    /// protect the open one against a kill either way.
    #[arg(long, value_name = "DURATION|SIZE", allow_hyphen_values = true)]
    pub rotate: Option<String>,

    /// With --rotate: keep only the newest N complete segments of each
    /// table (plus the open one), deleting older ones: a ring for always-on
    /// recording. Default: keep all.
    #[arg(long, value_name = "N", requires = "rotate")]
    pub keep: Option<u32>,

    /// Space to leave free on OUT's file system: a size (`2GiB`, `0`) or a
    /// share of the file system (`10%`). Below it the recorder stops, with
    /// every file finished (with --keep, it deletes its oldest segment
    /// first). Checked before starting and before every write. Default: 5%
    /// of the file system, at most 1GiB.
    #[arg(long, value_name = "SIZE|PCT%")]
    pub min_free: Option<String>,

    /// Print no live status line (the closing summary is always printed).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Recording directory to create (its name may end in .parquet).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,

    /// Each family's own options, declared in its module.
    #[command(flatten)]
    pub options: family::Options,
}

/// A validated command line.
#[derive(Debug)]
pub struct Config {
    pub families: Vec<&'static dyn Family>,
    pub duration: Option<Duration>,
    pub pid: Option<u32>,
    /// Each family's own options, validated.
    pub options: family::Options,
    pub force: bool,
    /// Bytes per per-CPU ring.
    pub ring_size: u32,
    pub rotation: Rotation,
    pub min_free: MinFree,
    pub quiet: bool,
    pub out: PathBuf,
}

/// A command line that parses but makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CliError {
    #[error("unknown event family `{0}`; valid families are: {valid}", valid = family::names().join(", "))]
    UnknownFamily(String),
    #[error("-e needs at least one event family; valid families are: {valid}", valid = family::names().join(", "))]
    NoFamily,
    #[error("-d {0}: give a positive duration: seconds (30, 1.5) or a number with a unit (90s, 10m, 1h)")]
    BadDuration(String),
    #[error("-d {0}: longer than ktape-record can count (at most 1e9 s, about 31 years); leave -d out to record until Ctrl-C")]
    HugeDuration(String),
    #[error("-p {0}: no such process")]
    NoProcess(u32),
    #[error("-p {0}: that is a thread of process {1}; -p takes a process id")]
    ThreadNotProcess(u32, i32),
    #[error("-p must be a positive process id")]
    ZeroPid,
    #[error("--ring-size {0}: {1}")]
    BadRingSize(String, &'static str),
    #[error("--rotate {0}: give a duration with a unit (90s, 10m, 1h), a size with a unit (256MiB, 1G), or both (1h,256MiB)")]
    BadRotate(String),
    #[error("--rotate {0}: a segment must last longer than 0 and hold more than 0 bytes")]
    ZeroRotate(String),
    #[error("--min-free {0}: give a size (2GiB, 0) or a percentage of the file system (10%)")]
    BadMinFree(String),
    #[error("--keep must be at least 1")]
    ZeroKeep,
    /// A family's own option (the family says what is wrong).
    #[error(transparent)]
    Family(#[from] family::OptionError),
}

impl Args {
    /// Checks everything that can be checked without the kernel.
    pub fn validate(self) -> Result<Config, CliError> {
        let mut families: Vec<&'static dyn Family> = Vec::new();
        for name in self
            .events
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let f =
                family::by_name(name).ok_or_else(|| CliError::UnknownFamily(name.to_string()))?;
            if !families.iter().any(|g| g.name() == f.name()) {
                families.push(f);
            }
        }
        if families.is_empty() {
            return Err(CliError::NoFamily);
        }
        let duration = self.duration.as_deref().map(parse_duration).transpose()?;
        if let Some(pid) = self.pid {
            if pid == 0 {
                return Err(CliError::ZeroPid);
            }
            match crate::procfs::process_exists(pid) {
                Ok(true) => {}
                Ok(false) => return Err(CliError::NoProcess(pid)),
                Err(tgid) => return Err(CliError::ThreadNotProcess(pid, tgid)),
            }
        }
        let ring_size = match parse_size(&self.ring_size) {
            None => return Err(CliError::BadRingSize(self.ring_size, "not a size (try 4M)")),
            Some(n) if !n.is_power_of_two() => {
                return Err(CliError::BadRingSize(
                    self.ring_size,
                    "must be a power of two",
                ))
            }
            Some(n) if n < 4096 => {
                return Err(CliError::BadRingSize(self.ring_size, "must be at least 4K"))
            }
            Some(n) if n > 1 << 30 => {
                return Err(CliError::BadRingSize(self.ring_size, "must be at most 1G"))
            }
            Some(n) => n as u32,
        };
        let rotate = match &self.rotate {
            None => RotateSpec {
                every: Some(crate::writer::DEFAULT_EVERY),
                size: None,
            },
            Some(r) => parse_rotate(r).map_err(|e| match e {
                RotateError::Zero => CliError::ZeroRotate(r.clone()),
                RotateError::Unreadable => CliError::BadRotate(r.clone()),
            })?,
        };
        let min_free = match &self.min_free {
            None => MinFree::Default,
            Some(m) => MinFree::parse(m).ok_or_else(|| CliError::BadMinFree(m.clone()))?,
        };
        if self.keep == Some(0) {
            return Err(CliError::ZeroKeep);
        }
        let mut options = self.options;
        options.validate()?;
        Ok(Config {
            families,
            duration,
            pid: self.pid,
            options,
            force: self.force,
            ring_size,
            rotation: Rotation {
                every: rotate.every,
                size: rotate.size,
                keep: self.keep,
            },
            min_free,
            quiet: self.quiet,
            out: self.out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::units::parse_min_block;
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, CliError> {
        let mut v = vec!["ktape-record"];
        v.extend_from_slice(args);
        Args::try_parse_from(v).expect("clap accepts it").validate()
    }

    #[test]
    fn minimal() {
        let c = parse(&["-e", "bio", "out.parquet"]).unwrap();
        assert_eq!(c.families.len(), 1);
        assert_eq!(c.families[0].name(), "bio");
        assert_eq!(c.duration, None);
        assert_eq!(c.ring_size, 4 << 20);
        assert!(!c.force && !c.quiet);
        assert_eq!(c.out, PathBuf::from("out.parquet"));
    }

    #[test]
    fn full() {
        let pid = std::process::id().to_string();
        let c = parse(&[
            "-e",
            "bio,bio",
            "-d",
            "1.5",
            "-p",
            &pid,
            "--force",
            "--ring-size",
            "256K",
            "-q",
            "x",
        ])
        .unwrap();
        assert_eq!(c.families.len(), 1, "duplicates collapse");
        assert_eq!(c.duration, Some(Duration::from_millis(1500)));
        assert_eq!(c.pid, Some(std::process::id()));
        assert_eq!(c.ring_size, 256 << 10);
        assert!(c.force && c.quiet);
    }

    #[test]
    fn rotation() {
        let c = parse(&["-e", "bio", "--rotate", "90s", "--keep", "3", "x"]).unwrap();
        assert_eq!(c.rotation.every, Some(Duration::from_secs(90)));
        assert_eq!(c.rotation.size, None);
        assert_eq!(c.rotation.keep, Some(3));
        let every = |d| {
            Ok(RotateSpec {
                every: Some(d),
                size: None,
            })
        };
        let size = |n| {
            Ok(RotateSpec {
                every: None,
                size: Some(n),
            })
        };
        assert_eq!(parse_rotate("10m"), every(Duration::from_secs(600)));
        assert_eq!(parse_rotate("1.5h"), every(Duration::from_secs(5400)));
        assert_eq!(parse_rotate("500ms"), every(Duration::from_millis(500)));
        assert_eq!(parse_rotate("256MiB"), size(256 << 20));
        assert_eq!(parse_rotate("1G"), size(1 << 30));
        assert_eq!(
            parse_rotate("1h, 256MiB"),
            Ok(RotateSpec {
                every: Some(Duration::from_secs(3600)),
                size: Some(256 << 20)
            })
        );
        assert_eq!(
            parse_rotate("60"),
            Err(RotateError::Unreadable),
            "a bare number is ambiguous"
        );
        assert_eq!(parse_rotate("0s"), Err(RotateError::Zero));
        assert_eq!(parse_rotate("-5s"), Err(RotateError::Zero));
        assert_eq!(parse_rotate("0MiB"), Err(RotateError::Zero));
        assert_eq!(parse_rotate("soon"), Err(RotateError::Unreadable));
        assert_eq!(parse_rotate("1m,2m"), Err(RotateError::Unreadable));
        assert_eq!(
            parse(&["-e", "bio", "x"]).unwrap().rotation,
            Rotation::default()
        );
        assert_eq!(Rotation::default().every, Some(Duration::from_secs(10)));
        assert!(matches!(
            parse(&["-e", "bio", "--rotate", "60", "x"]),
            Err(CliError::BadRotate(_))
        ));
        let e = parse(&["-e", "bio", "--rotate", "0s", "x"]).unwrap_err();
        assert_eq!(e, CliError::ZeroRotate("0s".into()));
        assert!(e.to_string().contains("longer than 0"), "{e}");
        assert_eq!(
            parse(&["-e", "bio", "--rotate", "1m", "--keep", "0", "x"]).unwrap_err(),
            CliError::ZeroKeep
        );
        let v = ["ktape-record", "-e", "bio", "--keep", "2", "x"];
        assert!(Args::try_parse_from(v).is_err(), "--keep needs --rotate");
    }

    #[test]
    fn unknown_family_lists_valid_ones() {
        let e = parse(&["-e", "bio,nosuch", "x"]).unwrap_err();
        assert_eq!(e, CliError::UnknownFamily("nosuch".into()));
        let msg = e.to_string();
        assert!(msg.contains("nosuch") && msg.contains("bio"), "{msg}");
        assert_eq!(parse(&["-e", ",", "x"]).unwrap_err(), CliError::NoFamily);
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse(&["-e", "bio", "-d", s, "x"]).map(|c| c.duration);
        assert_eq!(d("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(d("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(d("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(d("250ms"), Ok(Some(Duration::from_millis(250))));
        // `-d -5` is a bad value, not a flag (and not OUT).
        let e = d("-5").unwrap_err();
        assert_eq!(e, CliError::BadDuration("-5".into()));
        assert!(
            e.to_string().starts_with("-d -5: give a positive duration"),
            "{e}"
        );
        let e = d("1e12").unwrap_err();
        assert_eq!(e, CliError::HugeDuration("1e12".into()));
        assert!(e.to_string().contains("31 years"), "{e}");
        for bad in ["0", "nan", "inf", "soon", "-1s"] {
            assert!(matches!(d(bad), Err(CliError::BadDuration(_))), "{bad}");
        }
    }

    #[test]
    fn min_free() {
        assert_eq!(
            parse(&["-e", "bio", "x"]).unwrap().min_free,
            MinFree::Default
        );
        assert_eq!(
            parse(&["-e", "bio", "--min-free", "1GiB", "x"])
                .unwrap()
                .min_free,
            MinFree::Bytes(1 << 30)
        );
        assert_eq!(
            parse(&["-e", "bio", "--min-free", "lots", "x"]).unwrap_err(),
            CliError::BadMinFree("lots".into())
        );
    }

    #[test]
    fn bad_values() {
        assert!(matches!(
            parse(&["-e", "bio", "-d", "0", "x"]),
            Err(CliError::BadDuration(_))
        ));
        assert!(matches!(
            parse(&["-e", "bio", "-d=-3", "x"]),
            Err(CliError::BadDuration(_))
        ));
        assert!(matches!(
            parse(&["-e", "bio", "-d", "nan", "x"]),
            Err(CliError::BadDuration(_))
        ));
        assert_eq!(
            parse(&["-e", "bio", "-p", "0", "x"]).unwrap_err(),
            CliError::ZeroPid
        );
        assert_eq!(
            parse(&["-e", "bio", "-p", "999999999", "x"]).unwrap_err(),
            CliError::NoProcess(999999999)
        );
        for bad in ["0", "129"] {
            assert_eq!(
                parse(&["-e", "exec", "--max-args", bad, "x"])
                    .unwrap_err()
                    .to_string(),
                format!("--max-args must be between 1 and 128, not {bad}")
            );
        }
        assert_eq!(
            parse(&["-e", "exec", "x"]).unwrap().options.exec.max_args,
            20
        );
        for bad in ["3M", "1K", "huge", "2G"] {
            assert!(
                matches!(
                    parse(&["-e", "bio", "--ring-size", bad, "x"]),
                    Err(CliError::BadRingSize(..))
                ),
                "{bad}"
            );
        }
        assert!(
            Args::try_parse_from(["ktape-record", "x"]).is_err(),
            "-e is required"
        );
        assert!(
            Args::try_parse_from(["ktape-record", "-e", "bio"]).is_err(),
            "OUT is required"
        );
    }

    #[test]
    fn stack_options() {
        let o = |c: Config| {
            (
                c.options.sampling.frequency,
                c.options.profile.idle,
                c.options.offcpu.min_block_ns,
            )
        };
        let c = parse(&["-e", "profile,offcpu", "x"]).unwrap();
        assert_eq!(o(c), (None, false, 1000));
        let c = parse(&[
            "-e",
            "profile",
            "-F",
            "99",
            "--idle",
            "--min-block",
            "2ms",
            "x",
        ])
        .unwrap();
        assert_eq!(o(c), (Some(99), true, 2_000_000));
        assert_eq!(parse_min_block("10"), Some(10_000));
        assert_eq!(parse_min_block("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_min_block("soon"), None);
        assert_eq!(
            parse(&["-e", "profile", "-F", "0", "x"])
                .unwrap_err()
                .to_string(),
            "-F must be between 1 and 10000 samples per second, not 0"
        );
        assert_eq!(
            parse(&["-e", "offcpu", "--min-block=-1ms", "x"])
                .unwrap_err()
                .to_string(),
            "--min-block -1ms: give a time such as 500us, 1ms or 2s (a bare number is microseconds)"
        );
    }

    #[test]
    fn min_latency() {
        let ns = |c: Config| c.options.fileio.min_latency_ns;
        assert_eq!(ns(parse(&["-e", "fileio", "x"]).unwrap()), 0);
        let c = parse(&["-e", "fileio", "--min-latency", "10ms", "x"]).unwrap();
        assert_eq!(ns(c), 10_000_000);
        assert_eq!(
            parse(&["-e", "fileio", "--min-latency", "slow", "x"])
                .unwrap_err()
                .to_string(),
            "--min-latency slow: give a time such as 500us, 1ms or 2s (a bare number is microseconds)"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4M"), Some(4 << 20));
        assert_eq!(parse_size("4MiB"), Some(4 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size(""), None);
    }
}
