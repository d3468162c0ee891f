//! The `file_op` table: reads, writes and syncs of regular files, with the
//! file each one touched, what bcc's ext4slower/xfsslower (fsslower) and
//! filetop show.
//!
//! The recorder hooks the syscalls (there are no kprobes on the kernels
//! ktape targets), resolves the fd to the file in the kernel and keeps
//! regular files only, so one family covers every filesystem. What does not
//! pass through these syscalls is not seen: page faults on mmap'ed files,
//! io_uring, POSIX/Linux aio, sendfile/splice/copy_file_range, and writeback
//! done later by the kernel (that is `bio`).

use crate::schema::{ColumnSpec, ColumnType::*, TableSpec};

/// Operation names, indexed by the kernel's `KTAPE_FOP_*` code.
pub const OPS: [&str; 8] = [
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "fsync",
    "fdatasync",
];

/// The operation name of a `KTAPE_FOP_*` code.
pub fn op_name(code: u8) -> &'static str {
    OPS.get(code as usize).copied().unwrap_or("unknown")
}

/// bcc's one-letter type of an operation (fsslower's `T` column): R, W or
/// F (fsync/fdatasync).
pub fn op_letter(op: &str) -> char {
    match op {
        "read" | "pread64" | "readv" => 'R',
        "write" | "pwrite64" | "writev" => 'W',
        "fsync" | "fdatasync" => 'F',
        _ => '?',
    }
}

/// The `file_op` table.
pub static TABLE: TableSpec = TableSpec {
    name: "file_op",
    family: "fileio",
    row: "one read, write, pread64, pwrite64, readv, writev, fsync or fdatasync call on a regular file, at its return, at least --min-latency long",
    columns: &[
        ColumnSpec { name: "ts", ty: Timestamp, unit: "ns", nullable: false, doc: "When the call returned (UTC), from the kernel's monotonic clock." },
        ColumnSpec { name: "cpu", ty: Int32, unit: "-", nullable: false, doc: "CPU on which the call returned." },
        ColumnSpec { name: "pid", ty: Int32, unit: "-", nullable: false, doc: "Thread id of the caller." },
        ColumnSpec { name: "tgid", ty: Int32, unit: "-", nullable: false, doc: "Process id of the caller." },
        ColumnSpec { name: "comm", ty: DictString, unit: "-", nullable: false, doc: "Command name of the calling thread." },
        ColumnSpec { name: "op", ty: DictString, unit: "-", nullable: false, doc: "The system call: `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `fsync` or `fdatasync`." },
        ColumnSpec { name: "fs", ty: DictString, unit: "-", nullable: false, doc: "Type of the file's filesystem as the kernel names it (`ext4`, `xfs`, `btrfs`, `tmpfs` …; at most 15 bytes)." },
        ColumnSpec { name: "dev", ty: Int64, unit: "-", nullable: false, doc: "Device number of the filesystem (`s_dev`), `(major << 20) + minor` as the kernel keeps it." },
        ColumnSpec { name: "inode", ty: Int64, unit: "-", nullable: false, doc: "Inode number of the file: with `dev`, identifies it." },
        ColumnSpec { name: "path", ty: DictString, unit: "-", nullable: false, doc: "The file's name (last path component, from the dentry the fd was opened through), at most 255 bytes; not the full path." },
        ColumnSpec { name: "offset", ty: Int64, unit: "bytes", nullable: false, doc: "File offset the operation started at: the position argument of pread64/pwrite64, the file position at entry for the others (for an O_APPEND write the data goes to the end of the file instead); 0 for fsync and fdatasync." },
        ColumnSpec { name: "bytes", ty: Int64, unit: "bytes", nullable: false, doc: "Bytes read or written (the return value when it is not an error); 0 for fsync, fdatasync and failed calls." },
        ColumnSpec { name: "ret", ty: Int64, unit: "-", nullable: false, doc: "Return value: bytes done, 0, or a negative errno." },
        ColumnSpec { name: "latency_ns", ty: Int64, unit: "ns", nullable: false, doc: "Time from the call's entry to its return." },
        ColumnSpec { name: "cgroup_id", ty: Int64, unit: "-", nullable: false, doc: "cgroup v2 id of the caller." },
    ],
};

/// The tables of this module.
pub static TABLES: &[&TableSpec] = &[&TABLE];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_and_letters() {
        assert_eq!(op_name(0), "read");
        assert_eq!(op_name(7), "fdatasync");
        assert_eq!(op_name(200), "unknown");
        assert_eq!(op_letter(op_name(3)), 'W');
        assert_eq!(op_letter("fsync"), 'F');
        assert_eq!(op_letter("readv"), 'R');
    }
}
