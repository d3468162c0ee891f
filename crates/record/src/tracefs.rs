//! tracefs, which classic tracepoints (`tracepoint/...` programs) need to
//! resolve event ids. A fresh machine may not have it mounted; the recorder
//! mounts it itself rather than failing. tp_btf and raw_tp hooks do not
//! need it, so only families that declare classic tracepoints call this.

use std::path::{Path, PathBuf};

/// Where tracefs is conventionally mounted.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Why tracefs could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error("tracefs is not mounted and mounting it at {path} failed (mounting needs root or CAP_SYS_ADMIN)")]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{family} uses classic tracepoints, whose ids are in tracefs, and {path} is not readable by this user (tracefs is root's by default): run ktape-record as root, or give this user read access to {path}")]
    Access {
        family: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks that this process can read tracefs's event ids (with CAP_BPF and
/// CAP_PERFMON but not root, loading works and attaching a classic
/// tracepoint then fails on tracefs's permissions).
pub fn check_access(root: &Path, family: &'static str) -> Result<(), TracefsError> {
    let events = root.join("events");
    std::fs::read_dir(&events)
        .map(|_| ())
        .map_err(|source| TracefsError::Access {
            family,
            path: events,
            source,
        })
}

/// The mount point of tracefs in `/proc/self/mounts` text, if any.
/// Prefers the canonical place when it is mounted more than once.
pub fn mount_point(mounts: &str) -> Option<PathBuf> {
    let points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let _src = f.next()?;
            let dir = f.next()?;
            let fstype = f.next()?;
            (fstype == "tracefs").then_some(dir)
        })
        .collect();
    points
        .iter()
        .find(|p| **p == TRACEFS)
        .or_else(|| points.first())
        .map(|p| PathBuf::from(unescape(p)))
}

/// Undoes the octal escapes (`\040` for space) of /proc/self/mounts.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes sure tracefs is mounted; returns where.
pub fn ensure_tracefs() -> Result<PathBuf, TracefsError> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if let Some(p) = mount_point(&mounts) {
        return Ok(p);
    }
    mount(Path::new(TRACEFS))?;
    Ok(PathBuf::from(TRACEFS))
}

/// Whether the kernel has tracepoint `group/name` (e.g. `syscalls`,
/// `sys_enter_open`, absent on arm64); false when tracefs cannot be had.
pub fn event_exists(group: &str, name: &str) -> bool {
    ensure_tracefs()
        .map(|root| root.join("events").join(group).join(name).exists())
        .unwrap_or(false)
}

fn mount(target: &Path) -> Result<(), TracefsError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let err = |source| TracefsError::Mount {
        path: target.to_path_buf(),
        source,
    };
    let dir = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| err(std::io::ErrorKind::InvalidInput.into()))?;
    let fstype = c"tracefs";
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(
            fstype.as_ptr(),
            dir.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tracefs() {
        let m = "sysfs /sys sysfs rw 0 0\ntracefs /sys/kernel/debug/tracing tracefs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw,nosuid 0 0\n";
        assert_eq!(mount_point(m), Some(PathBuf::from("/sys/kernel/tracing")));
        let m = "none /mnt/my\\040trace tracefs rw 0 0\n";
        assert_eq!(mount_point(m), Some(PathBuf::from("/mnt/my trace")));
        assert_eq!(mount_point("proc /proc proc rw 0 0\n"), None);
        assert_eq!(mount_point(""), None);
    }

    #[test]
    fn ensure_is_idempotent_when_mounted() {
        // Only meaningful where tracefs already is (or can be) mounted;
        // then a second call must find it and not mount again.
        if let Ok(p) = ensure_tracefs() {
            assert_eq!(ensure_tracefs().unwrap(), p);
            assert!(p.join("events").exists() || p.join("available_events").exists());
        }
    }
}
