//! Disk space: how much the recording's file system has free, which file
//! system that is (for messages), and the reserve the recorder leaves free.
//!
//! A recorder that fills the disk of a production host breaks the host's
//! own work, so ktape stops (or, in ring mode, drops its oldest segment)
//! while a reserve is still free, and checks before it starts.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How much space to leave free (`--min-free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinFree {
    /// This many bytes.
    Bytes(u64),
    /// This share of the file system, in hundredths of a percent.
    Basis(u32),
    /// The default: 5 % of the file system, at most 1 GiB.
    Default,
}

impl MinFree {
    /// Parses `--min-free`: a size (`512MiB`, `2G`, `0`) or a percentage
    /// of the file system (`5%`).
    pub fn parse(s: &str) -> Option<MinFree> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().ok()?;
            return (v.is_finite() && (0.0..=100.0).contains(&v))
                .then(|| MinFree::Basis((v * 100.0).round() as u32));
        }
        crate::cli::parse_size(t).map(MinFree::Bytes)
    }

    /// The reserve in bytes on a file system of `total` bytes.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            MinFree::Bytes(b) => b,
            MinFree::Basis(b) => ((total as u128 * b as u128) / 10_000) as u64,
            MinFree::Default => (total / 20).min(1 << 30),
        }
    }
}

/// Free and total bytes of the file system holding `path` (free as an
/// unprivileged process sees it: root's reserved blocks do not count, as
/// the host's other programs cannot use them).
pub fn statvfs(path: &Path) -> io::Result<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid C string and a zeroed out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((
        (st.f_bavail as u64).saturating_mul(frsize),
        (st.f_blocks as u64).saturating_mul(frsize),
    ))
}

/// The mount point and type of the file system holding `path`, as
/// `/var/log (ext4)`, for messages; the path itself when it cannot be told.
pub fn fs_name(path: &Path) -> String {
    let canon = nearest_existing(path)
        .and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_else(|| path.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match mount_of(&info, &canon) {
        Some((mp, fstype)) => format!("{mp} ({fstype})"),
        None => canon.display().to_string(),
    }
}

/// `path`, or its nearest ancestor that exists (OUT itself does not, yet).
pub fn nearest_existing(path: &Path) -> Option<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    abs.ancestors().find(|p| p.exists()).map(Path::to_path_buf)
}

/// The longest mount point in `/proc/self/mountinfo` text that contains
/// `path`, with its file system type.
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<(String, String)> {
    let mut best: Option<(String, String)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source super
        let mut fields = line.split(' ');
        let mp = fields.nth(4)?;
        let mp = unescape(mp);
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or("?")
            .to_string();
        if path.starts_with(&mp) && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            best = Some((mp, fstype));
        }
    }
    best
}

/// Mount points escape space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(u8::is_ascii_digit));
        if let (b'\\', Some(d)) = (b[i], octal) {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(d).unwrap_or(""), 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How long a stop may take, at the most, from the check that asks for it
/// to the last footer on disk: the main thread notices within 50 ms, then
/// the programs are detached, the rings drained, the decoders flushed and
/// every file finished, all of it slower on a loaded machine. The reserve
/// check keeps room for this long at the rate the file system is filling.
pub const STOP_SECONDS: f64 = 2.0;

/// How fast the recording fills its file system, in bytes per second,
/// from successive readings of the space left (free space less what the
/// open segments hold in memory; smoothed; space that grows, such as a
/// deleted segment, counts as no filling).
#[derive(Debug, Default)]
pub struct FillRate {
    last: Option<(Instant, u64)>,
    /// `None` until two readings are far enough apart.
    rate: Option<f64>,
}

impl FillRate {
    /// Adds a reading of `free` bytes left at `now`; returns the rate. Readings
    /// closer than 200 ms to the last one used only wait for a later one.
    pub fn update(&mut self, now: Instant, free: u64) -> f64 {
        match self.last {
            None => self.last = Some((now, free)),
            Some((t, before)) => {
                let dt = now.saturating_duration_since(t).as_secs_f64();
                if dt >= 0.2 {
                    let r = before.saturating_sub(free) as f64 / dt;
                    self.rate = Some(self.rate.map_or(r, |old| (old + r) / 2.0));
                    self.last = Some((now, free));
                }
            }
        }
        self.rate.unwrap_or(0.0)
    }

    /// What the file system will take while a stop finishes.
    pub fn headroom(&self) -> u64 {
        (self.rate.unwrap_or(0.0) * STOP_SECONDS) as u64
    }
}

/// The disk-space policy of one recording.
#[derive(Debug, Clone)]
pub struct Space {
    /// The recording's directory (or, before it exists, where it will be).
    pub dir: PathBuf,
    /// Bytes to leave free.
    pub reserve: u64,
    /// The file system, for messages.
    pub fs: String,
}

impl Space {
    /// The policy for a recording at `out`: the reserve resolved against
    /// its file system's size.
    pub fn new(out: &Path, min_free: MinFree) -> io::Result<Space> {
        let dir = nearest_existing(out).unwrap_or_else(|| PathBuf::from("."));
        let (_, total) = statvfs(&dir)?;
        Ok(Space {
            reserve: min_free.bytes(total),
            fs: fs_name(&dir),
            dir,
        })
    }

    /// Bytes free now.
    pub fn free(&self) -> io::Result<u64> {
        statvfs(&self.dir).map(|(free, _)| free)
    }

    /// The sentence that says the reserve is reached; `pending` is what
    /// finishing the open segments will still write (rows still coming
    /// included).
    pub fn low_message(&self, free: u64, pending: u64) -> String {
        let reserve = crate::status::human_bytes(self.reserve);
        if pending == 0 {
            format!(
                "{} has {} free, below the {reserve} ktape-record leaves free (--min-free)",
                self.fs,
                crate::status::human_bytes(free)
            )
        } else {
            format!(
                "{} has {} free, less than the {reserve} ktape-record leaves free (--min-free) plus the {} that finishing its open segments needs at the rate it is writing",
                self.fs,
                crate::status::human_bytes(free),
                crate::status::human_bytes(pending)
            )
        }
    }
}

/// Whether an error (or any error in its chain) is the file system being
/// out of space or quota, or refusing a larger file.
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if matches!(
                io.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The OS error of a disk-full chain, said once (`No space left on
/// device`).
pub fn os_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(code) = io.raw_os_error() {
                let text = io::Error::from_raw_os_error(code).to_string();
                // Said once, in words: `No space left on device`.
                return match text.rfind(" (os error") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
            }
        }
        cur = err.source();
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_rate_follows_the_free_space() {
        use std::time::Duration;
        let t0 = Instant::now();
        let mut f = FillRate::default();
        assert_eq!(f.update(t0, 10_000), 0.0);
        // Too close to the last reading: wait for a later one.
        assert_eq!(f.update(t0 + Duration::from_millis(100), 9_000), 0.0);
        assert_eq!(f.update(t0 + Duration::from_secs(1), 8_000), 2_000.0);
        assert_eq!(f.headroom(), (2_000.0 * STOP_SECONDS) as u64);
        // Space freed (a deleted segment) is no filling; the rate decays.
        assert_eq!(f.update(t0 + Duration::from_secs(2), 20_000), 1_000.0);
        assert_eq!(f.update(t0 + Duration::from_secs(3), 19_000), 1_000.0);
    }

    #[test]
    fn min_free_forms() {
        assert_eq!(MinFree::parse("0"), Some(MinFree::Bytes(0)));
        assert_eq!(MinFree::parse("512MiB"), Some(MinFree::Bytes(512 << 20)));
        assert_eq!(MinFree::parse("2G"), Some(MinFree::Bytes(2 << 30)));
        assert_eq!(MinFree::parse("5%").unwrap().bytes(1000), 50);
        assert_eq!(MinFree::parse("101%"), None);
        assert_eq!(MinFree::parse("lots"), None);
        assert_eq!(MinFree::Default.bytes(3 << 20), (3 << 20) / 20);
        assert_eq!(MinFree::Default.bytes(1 << 40), 1 << 30);
    }

    #[test]
    fn mounts() {
        let info = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /tmp/small rw - tmpfs tmpfs rw,size=3072k
31 22 0:27 / /mnt/with\\040space rw - xfs /dev/vdb rw
";
        assert_eq!(
            mount_of(info, Path::new("/tmp/small/out.parquet")),
            Some(("/tmp/small".into(), "tmpfs".into()))
        );
        assert_eq!(
            mount_of(info, Path::new("/var/x")),
            Some(("/".into(), "ext4".into()))
        );
        assert_eq!(
            mount_of(info, Path::new("/mnt/with space/r")),
            Some(("/mnt/with space".into(), "xfs".into()))
        );
        assert_eq!(
            mount_of(info, Path::new("/tmp/smaller")),
            Some(("/".into(), "ext4".into())),
            "a mount point matches whole path components only"
        );
    }

    #[test]
    fn disk_full_is_found_in_a_chain() {
        let io = io::Error::from_raw_os_error(libc::ENOSPC);
        let e = ktape_format::Error::Io {
            path: "/x".into(),
            source: io,
        };
        assert!(is_disk_full(&e));
        assert_eq!(os_error(&e), "No space left on device");
        let other = io::Error::from_raw_os_error(libc::EIO);
        assert!(!is_disk_full(&other));
    }
}
