//! What the recorder says while it runs (a live line on a terminal) and
//! when it ends (a summary, always, to stderr).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ktape_format::write::SegmentSummary;

/// Prints a line on stderr. A write that fails (the terminal of a dropped
/// ssh session, a closed pipe) is ignored: nothing the recorder says is
/// worth losing the recording for, and `eprintln!` would panic.
pub fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// Prints text as it is on stderr, ignoring failures (see [`say`]).
pub fn say_raw(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "{text}");
    let _ = e.flush();
}

/// `90 s` → `1m30s`; `0.5 s` → `500ms`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The live status line's text.
pub fn status_line(elapsed: Duration, per_sec: u64, rows: u64, lost: u64) -> String {
    format!(
        "ktape-record: {:>5.0}s  {:>9} events/s  {:>12} rows  {} lost",
        elapsed.as_secs_f64(),
        thousands(per_sec),
        thousands(rows),
        thousands(lost)
    )
}

/// Rewrites the live line in place.
pub fn show_live(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[K{line}");
    let _ = e.flush();
}

/// Clears the live line.
pub fn clear_live() {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[K");
    let _ = e.flush();
}

/// Clears the live line if stderr is a terminal (before an error message).
pub fn clear_live_if_tty() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        clear_live();
    }
}

/// The closing summary.
pub fn summary(
    root: &Path,
    elapsed: Duration,
    segments: &[SegmentSummary],
    lost: &[(&'static str, u64)],
    malformed: u64,
) -> String {
    let mut s = format!(
        "ktape-record: recorded {:.1}s into {}\n",
        elapsed.as_secs_f64(),
        root.display()
    );
    let mut tables: Vec<(String, u64, u64)> = Vec::new();
    for seg in segments {
        let table = seg
            .path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match tables.iter_mut().find(|t| t.0 == table) {
            Some(t) => {
                t.1 += seg.rows;
                t.2 += seg.bytes;
            }
            None => tables.push((table, seg.rows, seg.bytes)),
        }
    }
    let width = tables.iter().map(|t| t.0.len()).max().unwrap_or(0);
    for (name, rows, bytes) in &tables {
        s.push_str(&format!(
            "  {name:<width$}  {:>12} rows  {:>10}\n",
            thousands(*rows),
            human_bytes(*bytes)
        ));
    }
    let total: u64 = tables.iter().map(|t| t.2).sum();
    s.push_str(&format!("  on disk: {}\n", human_bytes(total)));
    let lost_total: u64 = lost.iter().map(|l| l.1).sum();
    if lost_total == 0 {
        s.push_str("  lost events: 0\n");
    } else {
        let parts: Vec<String> = lost
            .iter()
            .filter(|l| l.1 > 0)
            .map(|(f, n)| format!("{f} {}", thousands(*n)))
            .collect();
        s.push_str(&format!(
            "  lost events: {} ({}); see the loss table\n",
            thousands(lost_total),
            parts.join(", ")
        ));
    }
    if malformed > 0 {
        s.push_str(&format!(
            "  malformed records skipped: {}\n",
            thousands(malformed)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(human_duration(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn summary_lists_tables_and_loss() {
        let seg = |t: &str, rows, bytes| SegmentSummary {
            path: PathBuf::from(format!("/r/{t}/000000.parquet")),
            rows,
            bytes,
        };
        let s = summary(
            Path::new("/r"),
            Duration::from_secs(5),
            &[
                seg("bio", 3000, 40_000),
                seg("loss", 0, 900),
                seg("process", 120, 5000),
            ],
            &[("bio", 7)],
            0,
        );
        assert!(s.contains("bio") && s.contains("3,000 rows"), "{s}");
        assert!(s.contains("process") && s.contains("loss"), "{s}");
        assert!(s.contains("lost events: 7 (bio 7)"), "{s}");
        assert!(status_line(Duration::from_secs(3), 1500, 4500, 0).contains("1,500 events/s"));
    }
}
