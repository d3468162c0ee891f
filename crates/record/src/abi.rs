//! The Rust side of `bpf/ktape.h`: record kinds, family ids and loss
//! reasons. The normalized bio codes live in `ktape_format::bio`; the test
//! below checks every `#define` of the header against its Rust twin.

/// First u32 of a ring record: which family's record it is.
pub const KIND_BIO: u32 = 1;
/// Record kind of an exec (`struct ktape_exec_event`, variable length).
pub const KIND_EXEC: u32 = 2;
/// Record kind of a task exit (`struct ktape_exit_event`).
pub const KIND_EXIT: u32 = 3;
/// A `sched_switch` record.
pub const KIND_SCHED_SWITCH: u32 = 20;
/// A `sched_wakeup` or `sched_wakeup_new` record.
pub const KIND_SCHED_WAKEUP: u32 = 21;
/// A TCP state transition (`tcp_state`).
pub const KIND_TCP_STATE: u32 = 30;
/// An accepted TCP connection (`tcp_accept`).
pub const KIND_TCP_ACCEPT: u32 = 31;
/// A retransmitted TCP segment (`tcp_retransmit`).
pub const KIND_TCP_RETRANSMIT: u32 = 32;
/// A run-queue length sample (`runqlen`).
pub const KIND_RUNQLEN: u32 = 22;

/// A CPU sample (`struct ktape_profile_event`).
pub const KIND_PROFILE: u32 = 50;
/// An off-CPU episode (`struct ktape_offcpu_event`).
pub const KIND_OFFCPU: u32 = 51;
/// An open/openat/openat2 call (`struct ktape_open_event`).
pub const KIND_OPEN: u32 = 40;
/// A file operation (`struct ktape_file_op_event`).
pub const KIND_FILE_OP: u32 = 41;

/// The bytes of a kernel string field before its first NUL, as text
/// (lossy only when not UTF-8).
pub fn cstr(b: &[u8]) -> std::borrow::Cow<'_, str> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n])
}

/// Loss-counter index of the bio family.
pub const FAMILY_BIO: u32 = 0;
/// Loss-counter index of the exec family.
pub const FAMILY_EXEC: u32 = 1;
/// Loss-counter index of the sched family.
pub const FAMILY_SCHED: u32 = 2;
/// Loss-counter index of the tcp family.
pub const FAMILY_TCP: u32 = 3;
/// Loss-counter index of the profile family.
pub const FAMILY_PROFILE: u32 = 8;
/// Loss-counter index of the offcpu family.
pub const FAMILY_OFFCPU: u32 = 9;
/// Loss-counter index of the runqlen family.
pub const FAMILY_RUNQLEN: u32 = 4;
/// Loss-counter index of the open family.
pub const FAMILY_OPEN: u32 = 5;
/// Loss-counter index of the fileio family.
pub const FAMILY_FILEIO: u32 = 6;
/// Loss-counter index of the cache family (it loses nothing: no rings).
pub const FAMILY_CACHE: u32 = 7;
/// Size of the family dimension of the loss counters.
pub const MAX_FAMILIES: u32 = 16;

/// A ring reservation failed.
pub const LOSS_RINGBUF_FULL: u32 = 0;
/// A pairing map was full.
pub const LOSS_MAP_FULL: u32 = 1;
/// Loss reason: an operation's start was seen but its end never was.
pub const LOSS_UNPAIRED: u32 = 2;
/// A stack reference was refused by the stack map (`-EEXIST`).
pub const LOSS_STACK_COLLISION: u32 = 3;
/// A stack could not be walked.
pub const LOSS_STACK_MISSING: u32 = 4;
/// Size of the reason dimension of the loss counters.
pub const LOSS_REASONS: u32 = 5;

/// Loss reasons by index, with their `loss.reason` names.
pub const REASONS: [(u32, &str); LOSS_REASONS as usize] = [
    (LOSS_RINGBUF_FULL, ktape_format::loss::REASON_RINGBUF_FULL),
    (LOSS_MAP_FULL, ktape_format::loss::REASON_MAP_FULL),
    (LOSS_UNPAIRED, ktape_format::loss::REASON_UNPAIRED),
    (
        LOSS_STACK_COLLISION,
        ktape_format::loss::REASON_STACK_COLLISION,
    ),
    (LOSS_STACK_MISSING, ktape_format::loss::REASON_STACK_MISSING),
];

/// Index of a (family, reason) counter in the `ktape_loss` map.
pub fn loss_key(family: u32, reason: u32) -> u32 {
    family * LOSS_REASONS + reason
}

/// The kind of a ring record (its first four bytes).
#[inline]
pub fn record_kind(rec: &[u8]) -> Option<u32> {
    rec.get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktape_format::bio::{flag, op};

    /// `#define KTAPE_NAME value` lines, with `value` an integer or
    /// `(1 << n)`.
    fn header_defines() -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for line in ktape_bpf::KTAPE_H.lines() {
            let Some(rest) = line.trim().strip_prefix("#define ") else {
                continue;
            };
            let Some((name, value)) = rest.split_once(char::is_whitespace) else {
                continue;
            };
            if !name.starts_with("KTAPE_") {
                continue;
            }
            let v = value.trim();
            let parsed = if let Some(inner) = v.strip_prefix('(').and_then(|v| v.strip_suffix(')'))
            {
                let (a, b) = inner.split_once("<<").expect("only (a << b) expressions");
                a.trim().parse::<i64>().unwrap() << b.trim().parse::<i64>().unwrap()
            } else {
                v.parse::<i64>()
                    .unwrap_or_else(|_| panic!("cannot read {name} = {v}"))
            };
            out.push((name.to_string(), parsed));
        }
        out
    }

    fn rust_value(name: &str) -> Option<i64> {
        let ops = [
            ("READ", op::READ),
            ("WRITE", op::WRITE),
            ("FLUSH", op::FLUSH),
            ("DISCARD", op::DISCARD),
            ("SECURE_ERASE", op::SECURE_ERASE),
            ("WRITE_ZEROES", op::WRITE_ZEROES),
            ("ZONE_OPEN", op::ZONE_OPEN),
            ("ZONE_CLOSE", op::ZONE_CLOSE),
            ("ZONE_FINISH", op::ZONE_FINISH),
            ("ZONE_APPEND", op::ZONE_APPEND),
            ("ZONE_RESET", op::ZONE_RESET),
            ("ZONE_RESET_ALL", op::ZONE_RESET_ALL),
            ("DRV_IN", op::DRV_IN),
            ("DRV_OUT", op::DRV_OUT),
            ("UNKNOWN", op::UNKNOWN),
        ];
        let flags = [
            ("SYNC", flag::SYNC),
            ("META", flag::META),
            ("PRIO", flag::PRIO),
            ("NOMERGE", flag::NOMERGE),
            ("IDLE", flag::IDLE),
            ("INTEGRITY", flag::INTEGRITY),
            ("FUA", flag::FUA),
            ("PREFLUSH", flag::PREFLUSH),
            ("RAHEAD", flag::RAHEAD),
            ("BACKGROUND", flag::BACKGROUND),
            ("NOWAIT", flag::NOWAIT),
        ];
        if let Some(o) = name.strip_prefix("KTAPE_OP_") {
            return ops.iter().find(|(n, _)| *n == o).map(|(_, v)| *v as i64);
        }
        if let Some(f) = name.strip_prefix("KTAPE_FLAG_") {
            return flags.iter().find(|(n, _)| *n == f).map(|(_, v)| *v as i64);
        }
        Some(match name {
            "KTAPE_KIND_BIO" => KIND_BIO as i64,
            "KTAPE_KIND_EXEC" => KIND_EXEC as i64,
            "KTAPE_KIND_EXIT" => KIND_EXIT as i64,
            "KTAPE_FAMILY_BIO" => FAMILY_BIO as i64,
            "KTAPE_FAMILY_EXEC" => FAMILY_EXEC as i64,
            "KTAPE_EXEC_ARGS_BUF" => crate::exec::ARGS_BUF as i64,
            "KTAPE_EXEC_ARG_LEN" => crate::exec::ARG_LEN as i64,
            "KTAPE_EXEC_MAX_ARGS" => ktape_format::exec::MAX_ARGS as i64,
            "KTAPE_EXEC_FILENAME_LEN" => crate::exec::FILENAME_LEN as i64,
            "KTAPE_EXEC_MORE_ARGS" => ktape_format::exec::truncated::MORE_ARGS as i64,
            "KTAPE_EXEC_CUT" => ktape_format::exec::truncated::CUT as i64,
            "KTAPE_EXEC_EVENT_HDR" => crate::exec::EXEC_HDR as i64,
            "KTAPE_EXEC_EVENT_SIZE" => std::mem::size_of::<crate::exec::ExecEvent>() as i64,
            "KTAPE_EXIT_EVENT_SIZE" => std::mem::size_of::<crate::exec::ExitEvent>() as i64,
            "KTAPE_KIND_SCHED_SWITCH" => KIND_SCHED_SWITCH as i64,
            "KTAPE_KIND_SCHED_WAKEUP" => KIND_SCHED_WAKEUP as i64,
            "KTAPE_FAMILY_SCHED" => FAMILY_SCHED as i64,
            "KTAPE_SCHED_SWITCH_EVENT_SIZE" => {
                std::mem::size_of::<crate::sched::SwitchEvent>() as i64
            }
            "KTAPE_SCHED_WAKEUP_EVENT_SIZE" => {
                std::mem::size_of::<crate::sched::WakeupEvent>() as i64
            }
            "KTAPE_MAX_FAMILIES" => MAX_FAMILIES as i64,
            "KTAPE_LOSS_RINGBUF_FULL" => LOSS_RINGBUF_FULL as i64,
            "KTAPE_LOSS_MAP_FULL" => LOSS_MAP_FULL as i64,
            "KTAPE_LOSS_UNPAIRED" => LOSS_UNPAIRED as i64,
            "KTAPE_LOSS_REASONS" => LOSS_REASONS as i64,
            "KTAPE_BIO_HAS_QUEUE" => crate::bio::HAS_QUEUE as i64,
            "KTAPE_BIO_HAS_SUBMITTER" => crate::bio::HAS_SUBMITTER as i64,
            "KTAPE_KIND_TCP_STATE" => KIND_TCP_STATE as i64,
            "KTAPE_KIND_TCP_ACCEPT" => KIND_TCP_ACCEPT as i64,
            "KTAPE_KIND_TCP_RETRANSMIT" => KIND_TCP_RETRANSMIT as i64,
            "KTAPE_FAMILY_TCP" => FAMILY_TCP as i64,
            "KTAPE_TCP_HAS_TASK" => crate::tcp::HAS_TASK as i64,
            "KTAPE_TCP_HAS_OWNER" => crate::tcp::HAS_OWNER as i64,
            "KTAPE_TCP_HAS_PREV" => crate::tcp::HAS_PREV as i64,
            "KTAPE_TCP_HAS_LIFETIME" => crate::tcp::HAS_LIFETIME as i64,
            "KTAPE_TCP_HAS_BYTES" => crate::tcp::HAS_BYTES as i64,
            "KTAPE_TCP_HAS_ERROR" => crate::tcp::HAS_ERROR as i64,
            "KTAPE_TCP_EVENT_SIZE" => std::mem::size_of::<crate::tcp::TcpEvent>() as i64,
            "KTAPE_KIND_OPEN" => KIND_OPEN as i64,
            "KTAPE_FAMILY_OPEN" => FAMILY_OPEN as i64,
            "KTAPE_OPEN_PATH_LEN" => crate::open::PATH_LEN as i64,
            "KTAPE_OPEN_EVENT_SIZE" => std::mem::size_of::<crate::open::OpenEvent>() as i64,
            "KTAPE_FAMILY_CACHE" => FAMILY_CACHE as i64,
            "KTAPE_CACHE_COUNTERS_SIZE" => std::mem::size_of::<crate::cache::Counters>() as i64,
            "KTAPE_KIND_FILE_OP" => KIND_FILE_OP as i64,
            "KTAPE_FAMILY_FILEIO" => FAMILY_FILEIO as i64,
            "KTAPE_FILE_FS_LEN" => crate::fileio::FS_LEN as i64,
            "KTAPE_FILE_NAME_LEN" => crate::fileio::NAME_LEN as i64,
            "KTAPE_FILE_OP_EVENT_SIZE" => std::mem::size_of::<crate::fileio::FileOpEvent>() as i64,
            n if n.starts_with("KTAPE_FOP_") => {
                // Op codes index ktape_format::fileio::OPS.
                let op = n["KTAPE_FOP_".len()..].to_ascii_lowercase();
                ktape_format::fileio::OPS.iter().position(|o| *o == op)? as i64
            }
            "KTAPE_COMM_LEN" => 16,
            "KTAPE_KIND_PROFILE" => KIND_PROFILE as i64,
            "KTAPE_KIND_OFFCPU" => KIND_OFFCPU as i64,
            "KTAPE_FAMILY_PROFILE" => FAMILY_PROFILE as i64,
            "KTAPE_FAMILY_OFFCPU" => FAMILY_OFFCPU as i64,
            "KTAPE_LOSS_STACK_COLLISION" => LOSS_STACK_COLLISION as i64,
            "KTAPE_LOSS_STACK_MISSING" => LOSS_STACK_MISSING as i64,
            "KTAPE_STACK_DEPTH" => ktape_format::stacks::MAX_DEPTH as i64,
            "KTAPE_PROFILE_EVENT_SIZE" => {
                std::mem::size_of::<crate::profile::ProfileEvent>() as i64
            }
            "KTAPE_OFFCPU_EVENT_SIZE" => std::mem::size_of::<crate::offcpu::OffcpuEvent>() as i64,
            "KTAPE_BIO_EVENT_SIZE" => std::mem::size_of::<crate::bio::BioEvent>() as i64,
            "KTAPE_KIND_RUNQLEN" => KIND_RUNQLEN as i64,
            "KTAPE_FAMILY_RUNQLEN" => FAMILY_RUNQLEN as i64,
            "KTAPE_RUNQLEN_EVENT_SIZE" => {
                std::mem::size_of::<crate::runqlen::RunqlenEvent>() as i64
            }
            _ => return None,
        })
    }

    #[test]
    fn header_matches_rust() {
        let defines = header_defines();
        assert!(defines.len() > 30, "parsed only {} defines", defines.len());
        for (name, value) in &defines {
            let want = rust_value(name).unwrap_or_else(|| {
                panic!("bpf/ktape.h defines {name}, which has no Rust twin in this test")
            });
            assert_eq!(
                *value, want,
                "bpf/ktape.h {name} = {value}, Rust says {want}"
            );
        }
        // And the other way: every Rust code is in the header.
        for o in 0..=255u8 {
            if ktape_format::bio::op::name(o) != "Unknown" {
                assert!(
                    defines
                        .iter()
                        .any(|(n, v)| n.starts_with("KTAPE_OP_") && *v == o as i64),
                    "op {o} missing"
                );
            }
        }
        for (bit, _) in flag::NAMES {
            assert!(
                defines
                    .iter()
                    .any(|(n, v)| n.starts_with("KTAPE_FLAG_") && *v == *bit as i64),
                "flag {bit:#x} missing"
            );
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(record_kind(&KIND_BIO.to_ne_bytes()), Some(KIND_BIO));
        assert_eq!(record_kind(&[1, 2]), None);
        assert_eq!(loss_key(FAMILY_BIO, LOSS_MAP_FULL), 1);
    }
}
