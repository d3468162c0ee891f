//! The Rust side of `bpf/ktape.h`: its defines and record structs,
//! generated from the header ([`ktape_bpf::abi`], re-exported here), and
//! what the recorder builds on them (loss keys, record kinds). The
//! normalized codes that the format crate also defines (bio ops and flags,
//! file ops, exec truncation bits) are checked against the header by the
//! test below.

pub use ktape_bpf::abi::*;

/// The bytes of a kernel string field before its first NUL, as text
/// (lossy only when not UTF-8).
pub fn cstr(b: &[u8]) -> std::borrow::Cow<'_, str> {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n])
}

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

    /// The value ktape-format gives a define of the header, if it has one.
    fn format_value(name: &str) -> Option<i64> {
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
        // The rest of the header is generated into Rust (build/abi.rs):
        // only the codes that ktape-format defines too are checked here.
        Some(match name {
            "KTAPE_EXEC_MAX_ARGS" => ktape_format::exec::MAX_ARGS as i64,
            "KTAPE_EXEC_MORE_ARGS" => ktape_format::exec::truncated::MORE_ARGS as i64,
            "KTAPE_EXEC_CUT" => ktape_format::exec::truncated::CUT as i64,
            n if n.starts_with("KTAPE_FOP_") => {
                // Op codes index ktape_format::fileio::OPS.
                let op = n["KTAPE_FOP_".len()..].to_ascii_lowercase();
                ktape_format::fileio::OPS.iter().position(|o| *o == op)? as i64
            }
            n if n.starts_with("KTAPE_SIGNAL_") => {
                // Sources index ktape_format::signal::SOURCES (the HAS_
                // bits are not vocabulary, and find no twin).
                let src = n["KTAPE_SIGNAL_".len()..].to_ascii_lowercase();
                ktape_format::signal::SOURCES
                    .iter()
                    .position(|s| *s == src)? as i64
            }
            "KTAPE_STACK_DEPTH" => ktape_format::stacks::MAX_DEPTH as i64,
            // Call codes index their table's CALLS.
            n if n.starts_with("KTAPE_MOUNT_CALL_") => {
                let call = n["KTAPE_MOUNT_CALL_".len()..].to_ascii_lowercase();
                ktape_format::mount::CALLS.iter().position(|c| *c == call)? as i64
            }
            n if n.starts_with("KTAPE_STAT_CALL_") => {
                let call = n["KTAPE_STAT_CALL_".len()..].to_ascii_lowercase();
                ktape_format::stat::CALLS.iter().position(|c| *c == call)? as i64
            }
            n if n.starts_with("KTAPE_SYNC_CALL_") => {
                let call = n["KTAPE_SYNC_CALL_".len()..].to_ascii_lowercase();
                ktape_format::sync::CALLS.iter().position(|c| *c == call)? as i64
            }
            _ => return None,
        })
    }

    #[test]
    fn header_matches_rust() {
        let defines = DEFINES;
        assert!(defines.len() > 30, "parsed only {} defines", defines.len());
        let mut checked = 0;
        for &(name, value) in defines {
            let Some(want) = format_value(name) else {
                continue;
            };
            checked += 1;
            assert_eq!(
                value as i64, want,
                "bpf/ktape.h {name} = {value}, ktape-format says {want}"
            );
        }
        assert!(checked >= 36, "only {checked} defines have a format twin");
        // And the other way: every Rust code is in the header.
        for o in 0..=255u8 {
            if ktape_format::bio::op::name(o) != "Unknown" {
                assert!(
                    defines
                        .iter()
                        .any(|(n, v)| n.starts_with("KTAPE_OP_") && *v == o as u32),
                    "op {o} missing"
                );
            }
        }
        for (bit, _) in flag::NAMES {
            assert!(
                defines
                    .iter()
                    .any(|(n, v)| n.starts_with("KTAPE_FLAG_") && *v == *bit as u32),
                "flag {bit:#x} missing"
            );
        }
    }

    #[test]
    fn record_kinds_are_distinct() {
        // (Family ids are checked with the registry, in family.rs.)
        let mut seen = std::collections::HashMap::new();
        for (n, v) in DEFINES.iter().filter(|(n, _)| n.starts_with("KTAPE_KIND_")) {
            if let Some(other) = seen.insert(*v, *n) {
                panic!("bpf/ktape.h: {n} and {other} are both {v}");
            }
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(record_kind(&KIND_BIO.to_ne_bytes()), Some(KIND_BIO));
        assert_eq!(record_kind(&[1, 2]), None);
        assert_eq!(loss_key(FAMILY_BIO, LOSS_MAP_FULL), 1);
    }
}
