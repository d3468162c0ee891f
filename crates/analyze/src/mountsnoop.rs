//! `mountsnoop`: one line per mount, umount, fsopen, fsconfig, fsmount or
//! move_mount call, like bcc's libbpf-tools `mountsnoop`, in time order,
//! from the `mount` table of `-e mount`.
//!
//! Columns and printf widths are bcc's: `[TIME    ]COMM PID TID MNT_NS
//! CALL`, where PID is the process id, TID the thread and CALL the call as
//! bcc writes it: `mount("tmpfs", "/mnt/x", "tmpfs", MS_NOSUID | MS_NODEV,
//! "size=1m") = 0`, the return `0`, an fd, or `-ENOENT`. Where bcc decodes
//! umount's and fsopen's flags with mount's MS_* names, this report uses
//! their own (MNT_FORCE, MNT_DETACH …, FSOPEN_CLOEXEC), and it names
//! MOUNT_ATTR_* as the kernel means them (the atime field is a value, not
//! bits); its MS_* names are the kernel's (bcc's are one bit off from
//! MS_NOATIME on). `-t` prints the time of day of the call (bcc: the time it was
//! printed), UTC unless `--localtime`. bcc's `-d` (one line per field) is
//! what `--json` gives.

use std::sync::Arc;

use ktape_format::mount::TABLE;
use ktape_format::read::Recording;
use rayon::prelude::*;
use serde::Serialize;

use crate::columns::{self, Strings};
use crate::common::{json_warnings, run_listing, scan_rows, Listing, Options};
use crate::error::Result;
use crate::execsnoop::{loss_warning, stream_json};
use crate::output::Out;
use crate::syscount::errno_name;
use crate::time::{format_hms, format_rfc3339, secs_between};

/// Options of `mountsnoop`. The default prints every call.
#[derive(Debug, Clone, Default)]
pub struct MountsnoopOptions {
    /// Common options (`--from/--to`, `-p`, `--comm`, `--json`).
    pub common: Options,
    /// `-t`: print the time of day. Default: off.
    pub time: bool,
    /// `--localtime`: `-t` in the local time zone. Default: UTC.
    pub localtime: bool,
}

/// One call, with what mountsnoop prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRow {
    /// Return of the call, ns since the epoch.
    pub ts: i64,
    /// Index of the recording it came from.
    pub recording: usize,
    /// Command name of the caller.
    pub comm: Arc<str>,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Mount namespace inode number.
    pub mnt_ns: i64,
    /// The syscall.
    pub call: Arc<str>,
    /// Return value (-errno on failure).
    pub ret: i64,
    /// Entry → return, ns.
    pub latency_ns: i64,
    /// The string arguments (see the `mount` table).
    pub source: Arc<str>,
    /// Mount point or to path.
    pub target: Arc<str>,
    /// Filesystem type or fsconfig key.
    pub fstype: Arc<str>,
    /// Mount data or fsconfig value.
    pub data: Arc<str>,
    /// The flags argument.
    pub flags: i64,
    /// fsmount's attributes.
    pub attr_flags: i64,
    /// fsconfig's command.
    pub cmd: i32,
    /// fsconfig's aux.
    pub aux: i32,
    /// First fd argument.
    pub fd: i32,
    /// move_mount's to fd.
    pub to_fd: i32,
}

/// The computed mountsnoop report.
pub type Mountsnoop = Listing<MountRow>;

/// Collects and sorts the calls.
pub fn compute(recordings: &[Recording], opts: &MountsnoopOptions) -> Result<Mountsnoop> {
    let window = crate::common::Window::resolve(&opts.common, recordings)?;
    let range = window.range;
    let mut cols = vec![
        "ts", "pid", "tgid", "comm", "mntns", "call", "ret", "latency_ns", "source", "target",
        "fstype", "data", "flags", "attr_flags", "cmd", "aux", "fd", "to_fd",
    ];
    opts.common.filter.add_columns(&mut cols);
    let mut rows: Vec<MountRow> = scan_rows(
        recordings,
        TABLE.name,
        range,
        &cols,
        |acc: &mut Vec<MountRow>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let filter = opts.common.filter.prepare(batch, path)?;
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| range.contains(ts[i]) && filter.keep(i))
                .collect();
            if keep.is_empty() {
                return Ok(());
            }
            let i32s = |c| columns::i32s(batch, c, path);
            let i64s = |c| columns::i64s(batch, c, path);
            let strs = |c| Strings::from_batch(batch, c, path);
            let (pid, tgid, cmd, aux, fd, to_fd) = (
                i32s("pid")?,
                i32s("tgid")?,
                i32s("cmd")?,
                i32s("aux")?,
                i32s("fd")?,
                i32s("to_fd")?,
            );
            let (mnt_ns, ret, lat, flags, attr) = (
                i64s("mntns")?,
                i64s("ret")?,
                i64s("latency_ns")?,
                i64s("flags")?,
                i64s("attr_flags")?,
            );
            let (comm, call, source, target, fstype, data) = (
                strs("comm")?,
                strs("call")?,
                strs("source")?,
                strs("target")?,
                strs("fstype")?,
                strs("data")?,
            );
            for i in keep {
                acc.push(MountRow {
                    ts: ts[i],
                    recording: unit.recording,
                    comm: comm.get(i).clone(),
                    pid: tgid[i],
                    tid: pid[i],
                    mnt_ns: mnt_ns[i],
                    call: call.get(i).clone(),
                    ret: ret[i],
                    latency_ns: lat[i],
                    source: source.get(i).clone(),
                    target: target.get(i).clone(),
                    fstype: fstype.get(i).clone(),
                    data: data.get(i).clone(),
                    flags: flags[i],
                    attr_flags: attr[i],
                    cmd: cmd[i],
                    aux: aux[i],
                    fd: fd[i],
                    to_fd: to_fd[i],
                });
            }
            Ok(())
        },
    )?;
    rows.par_sort_by_key(|r| (r.ts, r.recording));
    let loss = crate::loss::Loss::read(recordings, TABLE.family, range)?;
    Ok(Mountsnoop {
        window,
        rows,
        loss,
        warnings: Vec::new(),
    })
}

/// mount(2)'s MS_* flags, as the kernel defines them (bcc's table is
/// shifted by one bit from MS_NOATIME on, and names MS_SILENT twice).
const MS_NAMES: &[(i64, &str)] = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
    (1 << 26, "MS_SUBMOUNT"),
    (1 << 27, "MS_NOREMOTELOCK"),
    (1 << 28, "MS_NOSEC"),
    (1 << 29, "MS_BORN"),
    (1 << 30, "MS_ACTIVE"),
    (1 << 31, "MS_NOUSER"),
];
/// umount2(2)'s flags.
const UMOUNT_NAMES: &[(i64, &str)] = &[
    (1, "MNT_FORCE"),
    (2, "MNT_DETACH"),
    (4, "MNT_EXPIRE"),
    (8, "UMOUNT_NOFOLLOW"),
];
const FSOPEN_NAMES: &[(i64, &str)] = &[(1, "FSOPEN_CLOEXEC")];
const FSMOUNT_NAMES: &[(i64, &str)] = &[(1, "FSMOUNT_CLOEXEC")];
/// fsmount(2)'s attributes outside the atime field (0x70).
const ATTR_NAMES: &[(i64, &str)] = &[
    (0x1, "MOUNT_ATTR_RDONLY"),
    (0x2, "MOUNT_ATTR_NOSUID"),
    (0x4, "MOUNT_ATTR_NODEV"),
    (0x8, "MOUNT_ATTR_NOEXEC"),
    (0x80, "MOUNT_ATTR_NODIRATIME"),
    (0x10_0000, "MOUNT_ATTR_IDMAP"),
    (0x20_0000, "MOUNT_ATTR_NOSYMFOLLOW"),
];
const MOVE_MOUNT_NAMES: &[(i64, &str)] = &[
    (0x1, "MOVE_MOUNT_F_SYMLINKS"),
    (0x2, "MOVE_MOUNT_F_AUTOMOUNTS"),
    (0x4, "MOVE_MOUNT_F_EMPTY_PATH"),
    (0x10, "MOVE_MOUNT_T_SYMLINKS"),
    (0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
    (0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
    (0x100, "MOVE_MOUNT_SET_GROUP"),
    (0x200, "MOVE_MOUNT_BENEATH"),
];
/// fsconfig(2)'s commands, by value (bcc's table).
const FSCONFIG_CMDS: [&str; 9] = [
    "FSCONFIG_SET_FLAG",
    "FSCONFIG_SET_STRING",
    "FSCONFIG_SET_BINARY",
    "FSCONFIG_SET_PATH",
    "FSCONFIG_SET_PATH_EMPTY",
    "FSCONFIG_SET_FD",
    "FSCONFIG_CMD_CREATE",
    "FSCONFIG_CMD_RECONFIGURE",
    "FSCONFIG_CMD_CREATE_EXCL",
];
/// mount(2) ignores flags whose top 16 bits are this old magic number.
const MS_MGC_VAL: i64 = 0xC0ED_0000;
const MS_MGC_MSK: i64 = 0xffff_0000;

/// `A | B | 0x40` for the named bits of `flags` and what is left; `0x0`
/// for none (bcc's spelling).
pub fn flag_names(flags: i64, names: &[(i64, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = flags;
    for &(bit, name) in names {
        if flags & bit == bit && bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0x0".into()
    } else {
        parts.join(" | ")
    }
}

fn mount_flags(flags: i64) -> String {
    let flags = if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags & !MS_MGC_MSK
    } else {
        flags
    };
    flag_names(flags, MS_NAMES)
}

fn attr_flags(attr: i64) -> String {
    let mut s = flag_names(attr & !0x70, ATTR_NAMES);
    let atime = match attr & 0x70 {
        0 => None,
        0x10 => Some("MOUNT_ATTR_NOATIME".to_string()),
        0x20 => Some("MOUNT_ATTR_STRICTATIME".to_string()),
        other => Some(format!("{other:#x}")),
    };
    if let Some(a) = atime {
        s = if s == "0x0" { a } else { format!("{s} | {a}") };
    }
    s
}

/// A directory fd as bcc prints one: AT_FDCWD or the number.
fn dirfd(fd: i32) -> String {
    if fd == -100 {
        "AT_FDCWD".into()
    } else {
        fd.to_string()
    }
}

/// A return value as bcc prints one: `0`, an fd, or `-ENOENT`.
pub fn ret_text(ret: i64) -> String {
    if ret < 0 {
        match i32::try_from(-ret).ok().and_then(errno_name) {
            Some(name) => format!("-{name}"),
            None => ret.to_string(),
        }
    } else {
        ret.to_string()
    }
}

/// The CALL column: the call with its arguments and result, as bcc
/// writes it.
pub fn call_text(r: &MountRow) -> String {
    let ret = ret_text(r.ret);
    match &*r.call {
        "mount" => format!(
            "mount(\"{}\", \"{}\", \"{}\", {}, \"{}\") = {ret}",
            r.source,
            r.target,
            r.fstype,
            mount_flags(r.flags),
            r.data
        ),
        "umount" => format!(
            "umount(\"{}\", {}) = {ret}",
            r.target,
            flag_names(r.flags, UMOUNT_NAMES)
        ),
        "fsopen" => format!(
            "fsopen(\"{}\", {}) = {ret}",
            r.fstype,
            flag_names(r.flags, FSOPEN_NAMES)
        ),
        "fsconfig" => format!(
            "fsconfig({}, \"{}\", \"{}\", \"{}\", {}) = {ret}",
            r.fd,
            usize::try_from(r.cmd)
                .ok()
                .and_then(|c| FSCONFIG_CMDS.get(c))
                .copied()
                .unwrap_or("UNKNOWN"),
            r.fstype,
            r.data,
            r.aux
        ),
        "fsmount" => format!(
            "fsmount({}, \"{}\", \"{}\") = {ret}",
            r.fd,
            flag_names(r.flags, FSMOUNT_NAMES),
            attr_flags(r.attr_flags)
        ),
        "move_mount" => format!(
            "move_mount({}, \"{}\", {}, \"{}\", \"{}\") = {ret}",
            dirfd(r.fd),
            r.source,
            dirfd(r.to_fd),
            r.target,
            flag_names(r.flags, MOVE_MOUNT_NAMES)
        ),
        other => format!("{other}() = {ret}"),
    }
}

/// Runs mountsnoop and prints it.
pub fn run(recordings: &[Recording], opts: &MountsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    run_listing(
        recordings,
        TABLE.name,
        opts.common.json,
        out,
        || compute(recordings, opts),
        write_json,
        |r, out| write_text(r, opts, out),
    )
}

/// Prints the rows as libbpf-tools `mountsnoop` does.
pub fn write_text(r: &Mountsnoop, opts: &MountsnoopOptions, out: &mut Out<'_>) -> Result<()> {
    if opts.time {
        write!(out.out, "{:<8} ", "TIME")?;
    }
    writeln!(
        out.out,
        "{:<16} {:<7} {:<7} {:<11} CALL",
        "COMM", "PID", "TID", "MNT_NS"
    )?;
    let mut flagged = 0u64;
    for row in &r.rows {
        if opts.time {
            write!(out.out, "{} ", format_hms(row.ts, opts.localtime))?;
        }
        writeln!(
            out.out,
            "{:<16} {:<7} {:<7} {:<11} {}",
            row.comm,
            row.pid,
            row.tid,
            row.mnt_ns,
            call_text(row)
        )?;
        if r.loss.affects(row.recording, row.ts) {
            flagged += 1;
        }
    }
    loss_warning(&r.loss, flagged, out)
}

#[derive(Serialize)]
struct MountJson<'a> {
    ts: String,
    time_s: f64,
    comm: &'a str,
    pid: i32,
    tid: i32,
    mnt_ns: i64,
    call: &'a str,
    ret: i64,
    latency_ns: i64,
    source: &'a str,
    target: &'a str,
    fstype: &'a str,
    data: &'a str,
    flags: i64,
    attr_flags: i64,
    cmd: i32,
    aux: i32,
    fd: i32,
    to_fd: i32,
    text: String,
    in_loss_second: bool,
}

/// Prints mountsnoop as JSON (every field, as bcc's `-d` lists them).
pub fn write_json(r: &Mountsnoop, out: &mut Out<'_>) -> Result<()> {
    let mut head = serde_json::json!({
        "report": "mountsnoop",
        "from": format_rfc3339(r.window.start_ns),
        "to": format_rfc3339(r.window.end_ns),
    });
    json_warnings(&mut head, &r.warnings);
    stream_json(out, head, &r.rows, &r.loss, |row| {
        serde_json::to_string(&MountJson {
            ts: format_rfc3339(row.ts),
            time_s: secs_between(r.window.start_ns, row.ts),
            comm: &row.comm,
            pid: row.pid,
            tid: row.tid,
            mnt_ns: row.mnt_ns,
            call: &row.call,
            ret: row.ret,
            latency_ns: row.latency_ns,
            source: &row.source,
            target: &row.target,
            fstype: &row.fstype,
            data: &row.data,
            flags: row.flags,
            attr_flags: row.attr_flags,
            cmd: row.cmd,
            aux: row.aux,
            fd: row.fd,
            to_fd: row.to_fd,
            text: call_text(row),
            in_loss_second: r.loss.affects(row.recording, row.ts),
        })
    })
}

/// `mountsnoop` on the command line.
#[derive(clap::Args)]
pub struct MountsnoopArgs {
    /// Include a TIME column (HH:MM:SS of the call, UTC unless --localtime).
    #[arg(short = 't', long)]
    timestamp: bool,
    /// Print -t times in this machine's local time zone instead of UTC.
    #[arg(long)]
    localtime: bool,
    #[command(flatten)]
    common: crate::cli::CommonArgs,
}

impl crate::cli::Run for MountsnoopArgs {
    fn run(self, out: &mut Out<'_>) -> anyhow::Result<std::process::ExitCode> {
        use anyhow::Context;
        let recs = self.common.open()?;
        let opts = MountsnoopOptions {
            common: self.common.options(),
            time: self.timestamp,
            localtime: self.localtime,
        };
        run(&recs, &opts, out).context("mountsnoop")?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_returns_read_like_bcc() {
        assert_eq!(mount_flags(0), "0x0");
        assert_eq!(mount_flags(0x6), "MS_NOSUID | MS_NODEV");
        assert_eq!(mount_flags(MS_MGC_VAL | 1), "MS_RDONLY");
        assert_eq!(mount_flags(4096 | 16384), "MS_BIND | MS_REC");
        assert_eq!(mount_flags(1024 | (1 << 21)), "MS_NOATIME | MS_RELATIME");
        assert_eq!(flag_names(2 | 0x40, UMOUNT_NAMES), "MNT_DETACH | 0x40");
        assert_eq!(attr_flags(0x11), "MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME");
        assert_eq!(attr_flags(0), "0x0");
        assert_eq!(ret_text(0), "0");
        assert_eq!(ret_text(3), "3");
        assert_eq!(ret_text(-2), "-ENOENT");
        assert_eq!(ret_text(-4000), "-4000");
    }
}
