//! Key-value metadata in every segment file's Parquet footer.
//!
//! Every file repeats the recording-wide keys, so a single file copied out
//! of a recording still says where and when it was recorded. Times are
//! wall-clock nanoseconds since the Unix epoch (UTC), written as decimal
//! strings.

/// Format version of the file (`"1"`).
pub const FORMAT_VERSION: &str = "ktape.format_version";
/// Version of the `ktape-record` that wrote the file.
pub const RECORDER_VERSION: &str = "ktape.recorder_version";
/// Table (folder) name the file belongs to.
pub const TABLE: &str = "ktape.table";
/// Host name of the recorded machine.
pub const HOST: &str = "ktape.host";
/// Kernel release (`uname -r`) of the recorded machine.
pub const KERNEL: &str = "ktape.kernel";
/// `/proc/sys/kernel/random/boot_id` of the recorded machine: two files
/// with the same boot id share one monotonic clock.
pub const BOOT_ID: &str = "ktape.boot_id";
/// Wall clock minus monotonic clock at start, in ns: `ts` columns were
/// computed as `monotonic + offset`.
pub const CLOCK_OFFSET_NS: &str = "ktape.clock_offset_ns";
/// The recorder's command line, arguments joined by spaces.
pub const COMMAND_LINE: &str = "ktape.command_line";
/// Event families recorded, comma-separated (`bio,sched`).
pub const FAMILIES: &str = "ktape.families";
/// Number of possible CPUs on the recorded machine.
pub const NCPUS: &str = "ktape.ncpus";
/// CPUs online when the recording started, in the kernel's list format
/// (`0-3,6`).
pub const ONLINE_CPUS: &str = "ktape.online_cpus";
/// When the recording started (ns since the epoch).
pub const RECORDING_START_NS: &str = "ktape.recording_start_ns";
/// Segment number of this file within its table (0, 1, …).
pub const SEGMENT: &str = "ktape.segment";
/// Start of the time range this segment covers (ns since the epoch).
pub const SEGMENT_START_NS: &str = "ktape.segment_start_ns";
/// End of the time range this segment covers (ns since the epoch).
pub const SEGMENT_END_NS: &str = "ktape.segment_end_ns";
/// How the segment ended: absent or `complete` when the recorder closed
/// it; `checkpoint` when it was sealed from its last checkpoint (the
/// recorder was killed, or the disk filled, while it was open): rows after
/// `ktape.segment_end_ns` may be missing.
pub const SEGMENT_STATE: &str = "ktape.segment_state";
/// Digests of every column chunk ([`crate::checksum::ChunkDigests`]).
pub const CHUNK_XXH3: &str = "ktape.chunk_xxh3";
/// Digest of the footer's content ([`crate::checksum::footer_digest`]).
pub const FOOTER_XXH3: &str = "ktape.footer_xxh3";

/// [`SEGMENT_STATE`] of a segment sealed from a checkpoint.
pub const STATE_CHECKPOINT: &str = "checkpoint";

/// Every key, with the sentence `formats/README.md` documents it with.
pub const KEYS: &[(&str, &str)] = &[
    (FORMAT_VERSION, "Format version of the file, e.g. `1`."),
    (
        RECORDER_VERSION,
        "Version of the `ktape-record` that wrote the file.",
    ),
    (TABLE, "Table (folder) the file belongs to."),
    (HOST, "Host name of the recorded machine."),
    (
        KERNEL,
        "Kernel release (`uname -r`) of the recorded machine.",
    ),
    (
        BOOT_ID,
        "Boot id of the recorded machine; files with one boot id share a monotonic clock.",
    ),
    (
        CLOCK_OFFSET_NS,
        "Wall clock minus monotonic clock at start, ns: `ts = monotonic + offset`.",
    ),
    (COMMAND_LINE, "The recorder's command line."),
    (FAMILIES, "Event families recorded, comma-separated."),
    (NCPUS, "Number of possible CPUs of the recorded machine."),
    (
        ONLINE_CPUS,
        "CPUs online when the recording started, in the kernel's list format (`0-3,6`); absent in recordings of ktape 0.1 before it was added.",
    ),
    (
        RECORDING_START_NS,
        "When the recording started, ns since the Unix epoch.",
    ),
    (SEGMENT, "Segment number of the file within its table."),
    (
        SEGMENT_START_NS,
        "Start of the time range the segment covers, ns since the Unix epoch.",
    ),
    (
        SEGMENT_END_NS,
        "End of the time range the segment covers, ns since the Unix epoch.",
    ),
    (
        SEGMENT_STATE,
        "How the segment ended: absent when the recorder closed it; `checkpoint` when it was sealed from its last checkpoint after the recorder was killed or the disk filled (rows after `ktape.segment_end_ns` may be missing).",
    ),
    (
        CHUNK_XXH3,
        "xxh3-64 digest of every column chunk's bytes: `xxh3-64:` then row groups separated by `;`, each a `,`-separated list of 16-digit hex digests in column order. Readers verify each chunk they read.",
    ),
    (
        FOOTER_XXH3,
        "xxh3-64 digest (16 hex digits) of the footer's content: the schema's leaf columns, the other key-value pairs, and every row group's and column chunk's offsets, sizes, counts and statistics (see `ktape_format::checksum`). Checked whenever a file is opened.",
    ),
];

/// Recording-wide facts, the same in every file of one recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingInfo {
    /// Host name.
    pub host: String,
    /// Kernel release.
    pub kernel: String,
    /// Boot id.
    pub boot_id: String,
    /// Wall clock minus monotonic clock, ns.
    pub clock_offset_ns: i64,
    /// The recorder's command line.
    pub command_line: String,
    /// Recorder version.
    pub recorder_version: String,
    /// Event families recorded.
    pub families: Vec<String>,
    /// Possible CPUs.
    pub ncpus: u32,
    /// CPUs online at the start (empty when the recording does not say).
    pub online_cpus: Vec<u32>,
    /// Recording start, ns since the epoch.
    pub start_ns: i64,
}

impl RecordingInfo {
    /// The key-value pairs this info contributes to every file.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            (FORMAT_VERSION.into(), crate::FORMAT_VERSION.to_string()),
            (RECORDER_VERSION.into(), self.recorder_version.clone()),
            (HOST.into(), self.host.clone()),
            (KERNEL.into(), self.kernel.clone()),
            (BOOT_ID.into(), self.boot_id.clone()),
            (CLOCK_OFFSET_NS.into(), self.clock_offset_ns.to_string()),
            (COMMAND_LINE.into(), self.command_line.clone()),
            (FAMILIES.into(), self.families.join(",")),
            (NCPUS.into(), self.ncpus.to_string()),
            (ONLINE_CPUS.into(), format_cpu_list(&self.online_cpus)),
            (RECORDING_START_NS.into(), self.start_ns.to_string()),
        ]
    }

    /// Reads the info back from a file's key-value metadata; missing keys
    /// stay at their defaults.
    pub fn from_pairs(kv: &std::collections::BTreeMap<String, String>) -> Self {
        let s = |k: &str| kv.get(k).cloned().unwrap_or_default();
        let n = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or_default();
        RecordingInfo {
            host: s(HOST),
            kernel: s(KERNEL),
            boot_id: s(BOOT_ID),
            clock_offset_ns: n(CLOCK_OFFSET_NS),
            command_line: s(COMMAND_LINE),
            recorder_version: s(RECORDER_VERSION),
            families: s(FAMILIES)
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            ncpus: n(NCPUS) as u32,
            online_cpus: parse_cpu_list(&s(ONLINE_CPUS)),
            start_ns: n(RECORDING_START_NS),
        }
    }
}

/// Parses the kernel's CPU list format (`0-3,6`, as in
/// `/sys/devices/system/cpu/online`); parts that are not numbers or
/// ranges are skipped.
pub fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            out.extend(a..=b);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Writes CPUs (sorted, without duplicates) in the kernel's list format.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips() {
        let info = RecordingInfo {
            host: "h".into(),
            kernel: "6.18".into(),
            boot_id: "b".into(),
            clock_offset_ns: -5,
            command_line: "ktape-record -e bio x".into(),
            recorder_version: "0.1.0".into(),
            families: vec!["bio".into(), "sched".into()],
            ncpus: 2,
            online_cpus: vec![0, 1, 2, 3, 6, 8, 9],
            start_ns: 42,
        };
        let kv = info.to_pairs().into_iter().collect();
        assert_eq!(RecordingInfo::from_pairs(&kv), info);
    }

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpu_list("0-3,6,8-9\n"), vec![0, 1, 2, 3, 6, 8, 9]);
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(format_cpu_list(&[]), "");
        assert!(parse_cpu_list("x,").is_empty());
    }

    #[test]
    fn every_written_key_is_documented() {
        let info = RecordingInfo::default();
        for (k, _) in info.to_pairs() {
            assert!(KEYS.iter().any(|(d, _)| *d == k), "{k} is not in KEYS");
        }
    }
}
