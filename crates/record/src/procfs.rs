//! What the recorder learns from /proc and /sys: disk names, the process
//! snapshot, and the facts every file's metadata carries.
//!
//! Parsing is split from reading so the parsers are unit-tested on fixed
//! text.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampNanosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use ktape_format::schema::UTC;

/// Device number (`major << 20 | minor`, as BPF forms it) → disk name.
pub type DiskNames = HashMap<u32, String>;

/// Parses `/proc/partitions` (`major minor #blocks name`).
pub fn parse_partitions(text: &str) -> DiskNames {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let major: u32 = f.next()?.parse().ok()?;
            let minor: u32 = f.next()?.parse().ok()?;
            let _blocks = f.next()?;
            let name = f.next()?;
            Some((
                ktape_format::bio::mkdev(major, minor) as u32,
                name.to_string(),
            ))
        })
        .collect()
}

/// Disk names from `/proc/partitions` now (empty if unreadable: every disk
/// then shows as `?`, which is not worth failing a recording for).
pub fn disk_names() -> DiskNames {
    fs::read_to_string("/proc/partitions")
        .map(|t| parse_partitions(&t))
        .unwrap_or_default()
}

/// The fields of `/proc/PID/status` the process table needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub tgid: i32,
    pub ppid: i32,
    /// Real uid.
    pub uid: i64,
}

/// Parses `/proc/PID/status`.
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let first = val.split_whitespace().next().unwrap_or("");
        match key {
            "Tgid" => s.tgid = first.parse().unwrap_or(0),
            "PPid" => s.ppid = first.parse().unwrap_or(0),
            "Uid" => s.uid = first.parse().unwrap_or(-1),
            _ => {}
        }
    }
    s
}

/// The cgroup v2 path from `/proc/PID/cgroup` (the `0::` line); `/` when
/// the process is in the root or there is no v2 hierarchy.
pub fn parse_cgroup(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string()
}

/// `/proc/PID/cmdline` (NUL-separated) as arguments joined by spaces.
pub fn join_cmdline(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(raw).replace('\0', " ")
}

/// Host name.
pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default()
}

/// Kernel release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain data and `uname` fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    // SAFETY: the kernel NUL-terminates every utsname field.
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// This boot's id: files with the same boot id share a monotonic clock.
pub fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Whether a process (not just a thread) with this id exists; `Err` holds
/// the process id a thread id belongs to.
pub fn process_exists(pid: u32) -> Result<bool, i32> {
    match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(text) => {
            let s = parse_status(&text);
            if s.tgid != pid as i32 {
                Err(s.tgid)
            } else {
                Ok(true)
            }
        }
        Err(_) => Ok(false),
    }
}

/// One row per thread of every process in /proc, as a `process` batch with
/// `source = "snapshot"`. Threads that exit while we read are skipped.
pub fn snapshot(ts_ns: i64) -> RecordBatch {
    let mut b = ProcessRows::default();
    let Ok(dir) = fs::read_dir("/proc") else {
        return b.finish();
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(tgid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let base = entry.path();
        let Ok(status) = fs::read_to_string(base.join("status")) else {
            continue;
        };
        let st = parse_status(&status);
        let cmdline = fs::read(base.join("cmdline"))
            .map(|c| join_cmdline(&c))
            .unwrap_or_default();
        let cgroup = fs::read_to_string(base.join("cgroup"))
            .map(|c| parse_cgroup(&c))
            .unwrap_or_else(|_| "/".into());
        let Ok(tasks) = fs::read_dir(base.join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Some(comm) = read_trimmed(task.path().join("comm")) else {
                continue;
            };
            b.push(
                ts_ns, tid, tgid, st.ppid, st.uid, &comm, &cmdline, &cgroup, "snapshot",
            );
        }
    }
    b.finish()
}

/// Builders for the `process` table.
pub(crate) struct ProcessRows {
    ts: TimestampNanosecondBuilder,
    pid: Int32Builder,
    tgid: Int32Builder,
    ppid: Int32Builder,
    uid: Int64Builder,
    comm: StringDictionaryBuilder<Int32Type>,
    cmdline: StringBuilder,
    cgroup: StringDictionaryBuilder<Int32Type>,
    source: StringDictionaryBuilder<Int32Type>,
}

impl Default for ProcessRows {
    fn default() -> Self {
        ProcessRows {
            ts: TimestampNanosecondBuilder::new().with_timezone(UTC),
            pid: Int32Builder::new(),
            tgid: Int32Builder::new(),
            ppid: Int32Builder::new(),
            uid: Int64Builder::new(),
            comm: StringDictionaryBuilder::new(),
            cmdline: StringBuilder::new(),
            cgroup: StringDictionaryBuilder::new(),
            source: StringDictionaryBuilder::new(),
        }
    }
}

impl ProcessRows {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        ts: i64,
        pid: i32,
        tgid: i32,
        ppid: i32,
        uid: i64,
        comm: &str,
        cmdline: &str,
        cgroup: &str,
        source: &str,
    ) {
        self.ts.append_value(ts);
        self.pid.append_value(pid);
        self.tgid.append_value(tgid);
        self.ppid.append_value(ppid);
        self.uid.append_value(uid);
        self.comm.append_value(comm);
        self.cmdline.append_value(cmdline);
        self.cgroup.append_value(cgroup);
        self.source.append_value(source);
    }

    pub(crate) fn finish(mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.pid.finish()),
            Arc::new(self.tgid.finish()),
            Arc::new(self.ppid.finish()),
            Arc::new(self.uid.finish()),
            Arc::new(self.comm.finish()),
            Arc::new(self.cmdline.finish()),
            Arc::new(self.cgroup.finish()),
            Arc::new(self.source.finish()),
        ];
        RecordBatch::try_new(ktape_format::process::TABLE.schema(), cols)
            .expect("process builders match the process table")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        let text = "major minor  #blocks  name\n\n 254        0  268435456 vda\n 254        1     1024 vda1\n   7        0      1 loop0\n";
        let d = parse_partitions(text);
        assert_eq!(d.get(&(254u32 << 20)).map(String::as_str), Some("vda"));
        assert_eq!(
            d.get(&((254u32 << 20) | 1)).map(String::as_str),
            Some("vda1")
        );
        assert_eq!(d.get(&(7u32 << 20)).map(String::as_str), Some("loop0"));
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn status() {
        let text = "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1234\nNgid:\t0\nPid:\t1235\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(
            parse_status(text),
            Status {
                tgid: 1234,
                ppid: 1,
                uid: 1000
            }
        );
    }

    #[test]
    fn cgroup_and_cmdline() {
        assert_eq!(
            parse_cgroup("0::/system.slice/sshd.service\n"),
            "/system.slice/sshd.service"
        );
        assert_eq!(parse_cgroup("12:cpu:/x\n0::/\n"), "/");
        assert_eq!(parse_cgroup("12:cpu:/x\n"), "/");
        assert_eq!(
            join_cmdline(b"dd\0if=/dev/zero\0of=x\0"),
            "dd if=/dev/zero of=x"
        );
        assert_eq!(join_cmdline(b""), "");
    }

    #[test]
    fn snapshot_sees_this_thread() {
        let batch = snapshot(1);
        assert_eq!(batch.schema(), ktape_format::process::TABLE.schema());
        let pid = std::process::id() as i32;
        let pids = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::Int32Array>()
            .unwrap();
        assert!(pids.iter().any(|p| p == Some(pid)));
        assert!(pids.iter().any(|p| p == Some(1)));
    }

    #[test]
    fn host_facts() {
        assert!(!kernel_release().is_empty());
        assert_eq!(boot_id().len(), 36);
        assert_eq!(process_exists(std::process::id()), Ok(true));
    }
}
