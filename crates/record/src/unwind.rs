//! DWARF (CFI) unwinding of the user stacks that `profile` samples copy
//! (`--call-graph dwarf`), while the sampled process is alive.
//!
//! A sample carries the user registers (ip, sp, bp) and the top of the
//! user stack; the return addresses are found by applying each module's
//! call frame information (`.eh_frame`, or `.debug_frame` without it) to
//! those bytes, which is what `perf record --call-graph dwarf` does in
//! `perf report`, but here at recording time, so that the recording holds
//! addresses and names and never the stack bytes.
//!
//! The unwinder is framehop (samply's): it takes registers, a stack reader
//! and per-module section data, caches the rules per module address, and
//! falls back to frame pointers and instruction analysis where CFI is
//! missing (JIT code, prologues and epilogues). This module owns what
//! framehop leaves to its user: which modules each address space maps,
//! read from `/proc/PID/maps` when first sampled and again when an address
//! falls outside every known module (a `dlopen`), and each file's sections,
//! read once per file whatever process maps it (through
//! `/proc/PID/map_files`, so deleted and other-namespace binaries work;
//! the vDSO is read from the process's memory).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module, Unwinder as _};
use object::{Object, ObjectSection, ObjectSegment};

/// Section bytes, shared by every process mapping the file: a range of
/// the file mapped read-only (never copied: a binary with debug info can
/// be hundreds of MiB, of which the unwinder reads a few), or of a buffer
/// (the vDSO).
#[derive(Clone)]
struct Bytes {
    data: Arc<dyn AsRef<[u8]> + Send + Sync>,
    range: Range<usize>,
}

impl Default for Bytes {
    fn default() -> Self {
        Bytes {
            data: Arc::new(Image::Read(Vec::new())),
            range: 0..0,
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &(*self.data).as_ref()[self.range.clone()]
    }
}

/// A file's bytes: mapped, or read (the vDSO).
enum Image {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl AsRef<[u8]> for Image {
    fn as_ref(&self) -> &[u8] {
        match self {
            Image::Mapped(m) => m,
            Image::Read(v) => v,
        }
    }
}

/// An address space not sampled for this long is forgotten.
const IDLE: Duration = Duration::from_secs(30);
/// An address space's modules are re-read at most this often.
const REFRESH: Duration = Duration::from_millis(500);
/// Files whose sections are kept; past it the cache starts over.
const MAX_FILES: usize = 1024;

/// What one file gives the unwinder.
struct FileInfo {
    sections: ExplicitModuleSectionInfo<Bytes>,
    /// PT_LOAD segments: (file offset, vaddr, file size).
    loads: Vec<(u64, u64, u64)>,
}

impl FileInfo {
    fn parse(image: Image) -> Option<FileInfo> {
        let image: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(image);
        let data = (*image).as_ref();
        let obj = object::File::parse(data).ok()?;
        let sect = |name: &str| obj.section_by_name(name);
        let range = |name: &str| sect(name).map(|s| s.address()..s.address() + s.size());
        let bytes = |name: &str| {
            let (off, len) = sect(name)?.compressed_file_range().ok().and_then(|c| {
                (c.format == object::CompressionFormat::None)
                    .then_some((c.offset, c.uncompressed_size))
            })?;
            let start = usize::try_from(off).ok()?;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            (len > 0 && end <= data.len()).then(|| Bytes {
                data: image.clone(),
                range: start..end,
            })
        };
        let eh_frame = bytes(".eh_frame");
        let sections = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: range(".text"),
            text: bytes(".text"),
            got_svma: range(".got"),
            eh_frame_svma: range(".eh_frame"),
            eh_frame_hdr_svma: range(".eh_frame_hdr"),
            eh_frame_hdr: bytes(".eh_frame_hdr"),
            debug_frame: if eh_frame.is_none() {
                bytes(".debug_frame")
            } else {
                None
            },
            eh_frame,
            ..Default::default()
        };
        let loads = obj
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, s.address(), size)
            })
            .collect();
        Some(FileInfo { sections, loads })
    }

    /// The load bias of the file mapped with its `offset` at `start`:
    /// what is added to a vaddr in the file to get the address in the
    /// process.
    fn bias(&self, start: u64, offset: u64) -> u64 {
        // The segment mapped at this offset: its offset rounded down to the
        // page (segments may share a page, so containment alone could pick
        // the read-only one before the code).
        let seg = self
            .loads
            .iter()
            .find(|&&(off, _, _)| off & !0xfff == offset)
            .or_else(|| {
                self.loads
                    .iter()
                    .find(|&&(off, _, size)| offset >= off && offset < off + size.max(1))
            });
        match seg {
            Some(&(off, vaddr, _)) => start
                .wrapping_add(off)
                .wrapping_sub(offset)
                .wrapping_sub(vaddr),
            None => start.wrapping_sub(offset),
        }
    }
}

/// One mapped file of an address space, from `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq)]
struct Mapped {
    /// All its mappings, lowest start to highest end.
    range: Range<u64>,
    /// Its first executable mapping: its range (what `map_files` names it
    /// by) and file offset.
    exec: Option<(Range<u64>, u64)>,
    /// (dev, inode), or `None` for the vDSO.
    file: Option<(String, u64)>,
    path: String,
}

/// Parses `/proc/PID/maps` into the files with executable code.
fn parse_maps(text: &str) -> Vec<Mapped> {
    let mut out: Vec<Mapped> = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(6, char::is_whitespace);
        let (Some(range), Some(perms), Some(off), Some(dev), Some(inode)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let path = it.next().unwrap_or("").trim();
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(off), Ok(inode)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            u64::from_str_radix(off, 16),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        let file = match (inode, path) {
            (0, "[vdso]") => None,
            (0, _) => continue,
            (_, _) => Some((dev.to_string(), inode)),
        };
        let exec = perms.contains('x');
        match out.iter_mut().find(|m| m.file == file && m.path == path) {
            Some(m) => {
                m.range.start = m.range.start.min(start);
                m.range.end = m.range.end.max(end);
                if exec && m.exec.is_none() {
                    m.exec = Some((start..end, off));
                }
            }
            None => out.push(Mapped {
                range: start..end,
                exec: exec.then_some((start..end, off)),
                file,
                path: path.to_string(),
            }),
        }
    }
    out.retain(|m| m.exec.is_some());
    out
}

/// One sampled address space.
struct Space {
    unwinder: UnwinderX86_64<Bytes>,
    /// Module ranges added, sorted by start.
    modules: Vec<Range<u64>>,
    refreshed: Instant,
    used: Instant,
}

impl Space {
    fn covers(&self, addr: u64) -> bool {
        let i = self.modules.partition_point(|r| r.start <= addr);
        i > 0 && self.modules[i - 1].contains(&addr)
    }
}

/// Each file's sections, read on first sight whatever process maps it.
#[derive(Default)]
struct Files {
    by_inode: HashMap<(String, u64), Option<Arc<FileInfo>>>,
    vdso: Option<Option<Arc<FileInfo>>>,
}

/// The unwinder of every sampled process.
pub struct DwarfUnwinder {
    spaces: HashMap<(u32, u64), Space>,
    files: Files,
    cache: CacheX86_64,
    swept: Instant,
    max_depth: usize,
}

impl DwarfUnwinder {
    /// An unwinder keeping at most `max_depth` frames per stack.
    pub fn new(max_depth: usize) -> Self {
        DwarfUnwinder {
            spaces: HashMap::new(),
            files: Files::default(),
            cache: CacheX86_64::new(),
            swept: Instant::now(),
            max_depth,
        }
    }

    /// The stack of a sample of process `tgid` (address space `mm`), leaf
    /// first, into `out`: the ip, then return addresses. `stack` holds the
    /// user stack from `sp` upwards.
    pub fn unwind(
        &mut self,
        tgid: u32,
        mm: u64,
        regs: (u64, u64, u64),
        stack: &[u8],
        out: &mut Vec<u64>,
    ) {
        let now = Instant::now();
        if now.duration_since(self.swept) > IDLE {
            self.spaces.retain(|_, s| now.duration_since(s.used) < IDLE);
            self.swept = now;
        }
        let DwarfUnwinder {
            spaces,
            files,
            cache,
            max_depth,
            ..
        } = self;
        // One lookup per sample; the space stays in place.
        let s = spaces.entry((tgid, mm)).or_insert_with(|| {
            let mut s = Space {
                unwinder: UnwinderX86_64::new(),
                modules: Vec::new(),
                refreshed: now,
                used: now,
            };
            files.refresh(tgid, &mut s);
            s
        });
        s.used = now;
        let complete = walk(s, cache, regs, stack, *max_depth, out);
        if !complete && now.duration_since(s.refreshed) >= REFRESH {
            s.refreshed = now;
            if files.refresh(tgid, s) {
                walk(s, cache, regs, stack, *max_depth, out);
            }
        }
    }
}

impl Files {
    /// Adds the modules `tgid` maps now that `s` lacks; whether any was
    /// added.
    fn refresh(&mut self, tgid: u32, s: &mut Space) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{tgid}/maps")) else {
            return false;
        };
        let mut added = false;
        for m in parse_maps(&text) {
            if s.modules.contains(&m.range) {
                continue;
            }
            let Some(info) = self.file(tgid, &m) else {
                continue;
            };
            let Some((exec, offset)) = &m.exec else {
                continue;
            };
            let base = info.bias(exec.start, *offset);
            s.unwinder.add_module(Module::new(
                m.path.clone(),
                m.range.clone(),
                base,
                info.sections.clone(),
            ));
            let i = s.modules.partition_point(|r| r.start < m.range.start);
            s.modules.insert(i, m.range);
            added = true;
        }
        added
    }

    /// The sections of a mapped file, read on first sight.
    fn file(&mut self, tgid: u32, m: &Mapped) -> Option<Arc<FileInfo>> {
        let Some(key) = &m.file else {
            return self
                .vdso
                .get_or_insert_with(|| {
                    read_memory(tgid, &m.range)
                        .and_then(|d| FileInfo::parse(Image::Read(d)))
                        .map(Arc::new)
                })
                .clone();
        };
        let (exec, _) = m.exec.as_ref()?;
        if let Some(f) = self.by_inode.get(key) {
            return f.clone();
        }
        if self.by_inode.len() >= MAX_FILES {
            self.by_inode.clear();
        }
        let file = std::fs::File::open(format!(
            "/proc/{tgid}/map_files/{:x}-{:x}",
            exec.start, exec.end
        ))
        .or_else(|_| std::fs::File::open(format!("/proc/{tgid}/root{}", m.path)));
        // SAFETY: read-only; a binary rewritten in place while mapped
        // would also break the process that runs it.
        let image = file
            .ok()
            .and_then(|f| unsafe { memmap2::Mmap::map(&f) }.ok());
        let info = image
            .and_then(|m| FileInfo::parse(Image::Mapped(m)))
            .map(Arc::new);
        self.by_inode.insert(key.clone(), info.clone());
        info
    }
}

/// Bytes of another process's memory (the vDSO has no file).
fn read_memory(tgid: u32, range: &Range<u64>) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(format!("/proc/{tgid}/mem")).ok()?;
    f.seek(SeekFrom::Start(range.start)).ok()?;
    let mut buf = vec![0u8; usize::try_from(range.end - range.start).ok()?];
    f.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Unwinds one stack; whether every address fell in a known module (if
/// not, the modules may be out of date).
fn walk(
    s: &Space,
    cache: &mut CacheX86_64,
    (ip, sp, bp): (u64, u64, u64),
    stack: &[u8],
    max_depth: usize,
    out: &mut Vec<u64>,
) -> bool {
    out.clear();
    let mut read = |addr: u64| -> Result<u64, ()> {
        let off = usize::try_from(addr.checked_sub(sp).ok_or(())?).map_err(|_| ())?;
        let b = stack.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
        Ok(u64::from_ne_bytes(b.try_into().map_err(|_| ())?))
    };
    let mut frames =
        s.unwinder
            .iter_frames(ip, UnwindRegsX86_64::new(ip, sp, bp), cache, &mut read);
    let mut complete = true;
    while out.len() < max_depth {
        match frames.next() {
            Ok(Some(f)) => {
                let a = f.address();
                complete &= s.covers(a);
                out.push(a);
            }
            Ok(None) => break,
            Err(_) => {
                // A stack that ends in an address outside every module
                // may be a library loaded since the modules were read.
                complete &= out.last().is_none_or(|&a| s.covers(a));
                break;
            }
        }
    }
    complete
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_group_files_and_keep_executable_ones() {
        let text = "\
5600000000-5600001000 r--p 00000000 08:01 11 /usr/bin/prog
5600001000-5600005000 r-xp 00001000 08:01 11 /usr/bin/prog
5600005000-5600006000 rw-p 00005000 08:01 11 /usr/bin/prog
7f00000000-7f00001000 rw-p 00000000 00:00 0
7f10000000-7f10002000 r--p 00000000 08:01 22 /data/only data.bin
7fff0000000-7fff0002000 r-xp 00000000 00:00 0 [vdso]
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].range, 0x5600000000..0x5600006000);
        assert_eq!(m[0].exec, Some((0x5600001000..0x5600005000, 0x1000)));
        assert_eq!(m[0].path, "/usr/bin/prog");
        assert_eq!(m[1].file, None);
    }

    #[test]
    fn bias_of_a_pie_text_mapping() {
        let f = FileInfo {
            sections: Default::default(),
            loads: vec![(0, 0, 0x800), (0x1000, 0x1000, 0x4000)],
        };
        assert_eq!(f.bias(0x5600001000, 0x1000), 0x5600000000);
        // A non-PIE executable maps at its vaddrs: bias 0.
        let g = FileInfo {
            sections: Default::default(),
            loads: vec![(0x1000, 0x401000, 0x4000)],
        };
        assert_eq!(g.bias(0x401000, 0x1000), 0);
        // lld: code one page above its file offset, sharing a page with the
        // read-only segment before it.
        let h = FileInfo {
            sections: Default::default(),
            loads: vec![(0, 0, 0x1c6bb8), (0x1c6bc0, 0x1c7bc0, 0x369600)],
        };
        assert_eq!(h.bias(0x55a215eda000, 0x1c6000), 0x55a215d13000);
    }

    #[inline(never)]
    fn here(out: &mut Vec<u64>, u: &mut DwarfUnwinder) {
        // Copy this thread's own stack, as the kernel would, and unwind it.
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers.
        unsafe {
            std::arch::asm!("lea {}, [rip]", "mov {}, rsp", "mov {}, rbp", out(reg) ip, out(reg) sp, out(reg) bp);
        }
        // As the kernel copies: page by page, up to the first unmapped one.
        let mut stack = Vec::new();
        let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
        while stack.len() < 16384 - 4096 {
            let at = sp + stack.len() as u64;
            let mut page = vec![0u8; (4096 - (at & 4095)) as usize];
            if mem.seek(SeekFrom::Start(at)).is_err() || mem.read_exact(&mut page).is_err() {
                break;
            }
            stack.extend_from_slice(&page);
        }
        u.unwind(std::process::id(), 1, (ip, sp, bp), &stack, out);
    }

    #[test]
    fn unwinds_this_process() {
        let mut u = DwarfUnwinder::new(127);
        let mut out = Vec::new();
        here(&mut out, &mut u);
        assert!(out.len() > 3, "{out:x?}");
        let me = here as *const () as usize as u64;
        assert!(out[0] >= me && out[0] < me + 4096, "{out:x?}");
    }
}
