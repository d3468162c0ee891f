//! Naming the frames of a stack, on the symbolization thread: kernel
//! frames from `/proc/kallsyms`, user frames with blazesym (normalized to
//! module, build id and file offset, named from debug files or symbol
//! tables, inlined functions as frames of their own), while the process
//! is alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use blazesym::normalize::{Normalizer, UserMeta};
use blazesym::symbolize::source::{Process, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use crossbeam_channel::Receiver;

use super::{Frame, Job, StackRow};

/// The symbolization thread: one job per distinct stack.
pub(super) fn symbolize_loop(
    rx: Receiver<Job>,
    done: Arc<Mutex<Vec<StackRow>>>,
    pending: Arc<(AtomicUsize, Mutex<()>, Condvar)>,
) {
    let ksyms = Kallsyms::load();
    let normalizer = Normalizer::builder()
        .enable_build_ids(true)
        .enable_build_id_caching(true)
        .build();
    // Code info is only asked for because blazesym reports inlined
    // functions only with it; the file and line are not kept.
    let symbolizer = Symbolizer::builder()
        .enable_code_info(true)
        .enable_inlined_fns(true)
        .build();
    for job in rx {
        let addrs = &job.addrs[..];
        let frames = if job.user {
            symbolize_user(&normalizer, &symbolizer, job.tgid, addrs)
        } else {
            without_tracing_frames(
                addrs
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| ksyms.frame(a, i > 0))
                    .collect(),
            )
        };
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(StackRow {
                ts_ns: job.ts_ns,
                id: job.id,
                user: job.user,
                tgid: job.tgid,
                frames,
            });
        let (n, m, cv) = &*pending;
        let _g = m.lock().unwrap_or_else(|e| e.into_inner());
        n.fetch_sub(1, Ordering::SeqCst);
        cv.notify_all();
    }
}

/// Drops the leading frames of the tracing machinery itself (the BPF
/// program, `bpf_trace_run*`, `__traceiter_*`): a stack taken in a
/// tracepoint program starts there, and they would sit above every
/// off-CPU stack's `schedule`. Perf-event samples have none.
fn without_tracing_frames(frames: Vec<Frame>) -> Vec<Frame> {
    let tracing = |f: &Frame| {
        ["bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_"]
            .iter()
            .any(|p| f.function.starts_with(p))
    };
    let skip = frames.iter().take_while(|f| tracing(f)).count();
    frames.into_iter().skip(skip).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Names user frames. Return addresses point after their call, so callers
/// are looked up at `addr - 1` (still inside the calling function even when
/// the call was its last instruction); the stored address stays raw.
fn symbolize_user(
    normalizer: &Normalizer,
    symbolizer: &Symbolizer,
    tgid: u32,
    addrs: &[u64],
) -> Vec<Frame> {
    let mut frames: Vec<Frame> = addrs
        .iter()
        .map(|&a| Frame {
            addr: a,
            function: String::new(),
            module: String::new(),
            build_id: String::new(),
            file_offset: -1,
        })
        .collect();
    if tgid == 0 || addrs.is_empty() {
        return unknown_names(frames);
    }
    let pid = blazesym::Pid::from(tgid);
    if let Ok(out) = normalizer.normalize_user_addrs(pid, addrs) {
        for (f, (off, meta)) in frames.iter_mut().zip(&out.outputs) {
            if let Some(UserMeta::Elf(elf)) = out.meta.get(*meta) {
                f.module = elf.path.to_string_lossy().into_owned();
                f.build_id = elf.build_id.as_deref().map(hex).unwrap_or_default();
                f.file_offset = *off as i64;
            }
        }
    }
    let lookup: Vec<u64> = addrs
        .iter()
        .enumerate()
        .map(|(i, &a)| if i > 0 { a.saturating_sub(1) } else { a })
        .collect();
    let src = Source::Process(Process::new(pid));
    // Per address, the functions inlined at it, innermost first: each
    // becomes a frame of its own above the function it was inlined into
    // (as perf shows them), sharing its address.
    let mut inlined: Vec<Vec<String>> = vec![Vec::new(); frames.len()];
    // One module blazesym cannot read (a compressed section it lacks
    // support for, a corrupt debug file) fails the whole batch: then each
    // address is tried alone, so the others keep their names.
    let syms: Vec<Option<Symbolized<'_>>> =
        match symbolizer.symbolize(&src, Input::AbsAddr(&lookup)) {
            Ok(syms) => syms.into_iter().map(Some).collect(),
            Err(_) => lookup
                .iter()
                .map(|&a| symbolizer.symbolize_single(&src, Input::AbsAddr(a)).ok())
                .collect(),
        };
    {
        // Only code is named: an address outside executable mappings (a
        // junk frame of a frame-pointer walk through code built without
        // them) would otherwise take the name of whatever data symbol
        // precedes it.
        let code = exec_ranges(tgid);
        let in_code = |a: u64| {
            code.as_ref()
                .is_none_or(|c| c.iter().any(|r| r.contains(&a)))
        };
        for ((f, s), inl) in frames.iter_mut().zip(syms).zip(&mut inlined) {
            if let Some(Symbolized::Sym(sym)) = s.filter(|_| in_code(f.addr)) {
                f.function = sym.name.into_owned();
                *inl = sym
                    .inlined
                    .iter()
                    .rev()
                    .map(|i| format!("{} (inlined)", i.name))
                    .collect();
                if f.module.is_empty() {
                    if let Some(m) = sym.module {
                        f.module = m.to_string_lossy().into_owned();
                    }
                }
            }
        }
    }
    let frames = unknown_names(frames);
    if inlined.iter().all(Vec::is_empty) {
        return frames;
    }
    let mut out = Vec::with_capacity(frames.len() + inlined.iter().map(Vec::len).sum::<usize>());
    for (f, inl) in frames.into_iter().zip(inlined) {
        out.extend(inl.into_iter().map(|function| Frame {
            function,
            ..f.clone()
        }));
        out.push(f);
    }
    out
}

/// The executable mappings of a process (`None` if they cannot be read).
fn exec_ranges(tgid: u32) -> Option<Vec<std::ops::Range<u64>>> {
    let maps = std::fs::read_to_string(format!("/proc/{tgid}/maps")).ok()?;
    Some(
        maps.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let (range, perms) = (it.next()?, it.next()?);
                let (a, b) = range.split_once('-')?;
                perms
                    .contains('x')
                    .then_some(u64::from_str_radix(a, 16).ok()?..u64::from_str_radix(b, 16).ok()?)
            })
            .collect(),
    )
}

/// Frames no symbol covers are named `module+0xOFFSET` (or
/// `[unknown]+0xADDR`), so they still group and can be re-symbolized.
fn unknown_names(mut frames: Vec<Frame>) -> Vec<Frame> {
    for f in frames.iter_mut().filter(|f| f.function.is_empty()) {
        f.function = if f.module.is_empty() || f.file_offset < 0 {
            format!("[unknown]+{:#x}", f.addr)
        } else {
            format!("{}+{:#x}", basename(&f.module), f.file_offset)
        };
    }
    frames
}

/// Kernel text symbols, sorted by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String, Option<String>)>,
}

impl Kallsyms {
    /// Reads `/proc/kallsyms` (needs root for real addresses).
    pub fn load() -> Kallsyms {
        std::fs::read_to_string("/proc/kallsyms")
            .map(|s| Kallsyms::parse(&s))
            .unwrap_or_default()
    }

    /// Parses kallsyms text, keeping function symbols.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String, Option<String>)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let ty = it.next()?;
                let name = it.next()?;
                let module = it
                    .next()
                    .map(|m| m.trim_matches(|c| c == '[' || c == ']').to_string());
                (addr != 0 && matches!(ty, "t" | "T" | "w" | "W"))
                    .then(|| (addr, name.to_string(), module))
            })
            .collect();
        syms.sort_by_key(|s| s.0);
        Kallsyms { syms }
    }

    /// The frame of a kernel address (`caller`: look up `addr - 1`).
    pub fn frame(&self, addr: u64, caller: bool) -> Frame {
        let a = if caller { addr.saturating_sub(1) } else { addr };
        let i = self.syms.partition_point(|s| s.0 <= a);
        let (function, module) = match i.checked_sub(1).map(|i| &self.syms[i]) {
            Some((_, name, module)) => (
                name.clone(),
                module
                    .as_ref()
                    .map(|m| format!("[{m}]"))
                    .unwrap_or_else(|| "[kernel]".to_string()),
            ),
            None => (format!("[unknown]+{addr:#x}"), String::new()),
        };
        Frame {
            addr,
            function,
            module,
            build_id: String::new(),
            file_offset: -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kallsyms_lookup() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81000100 t schedule\nffffffff81000200 D data\nffffffffc0000000 t ext4_read [ext4]\n0000000000000000 T zero\n",
        );
        assert_eq!(k.frame(0xffffffff81000150, false).function, "schedule");
        assert_eq!(k.frame(0xffffffff81000150, false).module, "[kernel]");
        assert_eq!(k.frame(0xffffffff81000100, true).function, "_stext");
        assert_eq!(k.frame(0xffffffff81000300, false).function, "schedule");
        let m = k.frame(0xffffffffc0000010, false);
        assert_eq!(
            (m.function.as_str(), m.module.as_str()),
            ("ext4_read", "[ext4]")
        );
        assert_eq!(k.frame(0x10, false).function, "[unknown]+0x10");
    }

    #[test]
    fn tracing_frames_are_dropped_from_the_top() {
        let f = |n: &str| Frame {
            function: n.into(),
            ..Default::default()
        };
        let got = without_tracing_frames(vec![
            f("bpf_prog_c94a_ktape_offcpu_switch"),
            f("bpf_trace_run3"),
            f("__traceiter_sched_switch"),
            f("__schedule"),
            f("schedule"),
        ]);
        let names: Vec<&str> = got.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["__schedule", "schedule"]);
    }

    #[test]
    fn unknown_frames_keep_module_and_offset() {
        let f = unknown_names(vec![
            Frame {
                addr: 0x7f00,
                module: "/usr/lib/libc.so.6".into(),
                file_offset: 0x1234,
                ..Default::default()
            },
            Frame {
                addr: 0x7f01,
                ..Default::default()
            },
        ]);
        assert_eq!(f[0].function, "libc.so.6+0x1234");
        assert_eq!(f[1].function, "[unknown]+0x7f01");
    }

    #[test]
    fn symbolizes_this_process_by_name() {
        let here = symbolizes_this_process_by_name as *const () as usize as u64;
        let n = Normalizer::builder().enable_build_ids(true).build();
        let s = Symbolizer::new();
        let f = symbolize_user(&n, &s, std::process::id(), &[here + 1]);
        // Functions inlined at the address come first, each a frame of its
        // own with the same address; the function itself is last.
        let (outer, inlined) = f.split_last().unwrap();
        assert!(
            outer.function.contains("symbolizes_this_process_by_name"),
            "{f:?}"
        );
        assert!(inlined
            .iter()
            .all(|i| i.function.ends_with(" (inlined)") && i.addr == outer.addr));
        assert!(outer.module.contains("ktape_record"), "{outer:?}");
        assert!(outer.file_offset > 0);
        assert!(!outer.build_id.is_empty(), "{outer:?}");
    }
}
