//! The `mount` table: mount, umount, fsopen, fsconfig, fsmount and
//! move_mount calls, what bcc's mountsnoop shows.
//!
//! The kernel copies the arguments (strings bounded) at the syscall's
//! entry and hands over one record at its return, failed calls included,
//! with the result, the time the call took and the caller's mount
//! namespace. The string columns are shared by the calls, each using
//! those its arguments need; the others are empty.

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// Call names, indexed by the kernel's `KTAPE_MOUNT_CALL_*` code.
pub const CALLS: [&str; 6] = ["mount", "umount", "fsopen", "fsconfig", "fsmount", "move_mount"];

/// The call name of a `KTAPE_MOUNT_CALL_*` code.
pub fn call_name(code: u8) -> &'static str {
    CALLS.get(code as usize).copied().unwrap_or("unknown")
}

/// The `mount` table.
pub static TABLE: TableSpec = TableSpec {
    name: "mount",
    family: "mount",
    row: "one mount, umount, fsopen, fsconfig, fsmount or move_mount call, at its return (failed calls too)",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "mntns", ty: Int64, unit: "-", nullable: false, doc: "Inode number of the caller's mount namespace (as in /proc/PID/ns/mnt)." },
        ColumnSpec { name: "call", ty: DictString, unit: "-", nullable: false, doc: "The syscall: mount, umount (umount2 on x86_64), fsopen, fsconfig, fsmount or move_mount." },
        ColumnSpec { name: "ret", ty: Int64, unit: "-", nullable: false, doc: "Return value: 0, a file descriptor (fsopen, fsmount), or -errno when the call failed." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time from the call's entry to its return." },
        ColumnSpec { name: "source", ty: DictString, unit: "-", nullable: false, doc: "mount: the source (device, or the fs name for virtual ones); move_mount: the from path. Empty for the other calls. At most 255 bytes." },
        ColumnSpec { name: "target", ty: DictString, unit: "-", nullable: false, doc: "mount, umount: the mount point; move_mount: the to path. Empty for the other calls. At most 255 bytes." },
        ColumnSpec { name: "fstype", ty: DictString, unit: "-", nullable: false, doc: "mount: the filesystem type; fsopen: the filesystem name; fsconfig: the key. Empty for the other calls. At most 63 bytes." },
        ColumnSpec { name: "data", ty: DictString, unit: "-", nullable: false, doc: "mount: the data (options) read as a string; fsconfig: the value when it is a string or path. Empty otherwise. At most 255 bytes." },
        ColumnSpec { name: "flags", ty: Int64, unit: "-", nullable: false, doc: "The flags argument: MS_* (mount), MNT_*/UMOUNT_NOFOLLOW (umount), FSOPEN_* (fsopen), FSMOUNT_* (fsmount), MOVE_MOUNT_* (move_mount); 0 for fsconfig." },
        ColumnSpec { name: "attr_flags", ty: Int64, unit: "-", nullable: false, doc: "fsmount: the MOUNT_ATTR_* attributes; 0 for the other calls." },
        ColumnSpec { name: "cmd", ty: Int32, unit: "-", nullable: false, doc: "fsconfig: the FSCONFIG_* command (0 SET_FLAG … 6 CMD_CREATE, 7 CMD_RECONFIGURE, 8 CMD_CREATE_EXCL); -1 for the other calls." },
        ColumnSpec { name: "aux", ty: Int32, unit: "-", nullable: false, doc: "fsconfig: the aux argument; 0 for the other calls." },
        ColumnSpec { name: "fd", ty: Int32, unit: "-", nullable: false, doc: "fsconfig: the context fd; fsmount: the context fd; move_mount: the from directory fd (-100 is AT_FDCWD). -1 for the other calls." },
        ColumnSpec { name: "to_fd", ty: Int32, unit: "-", nullable: false, doc: "move_mount: the to directory fd (-100 is AT_FDCWD); -1 for the other calls." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];
