//! Stacks for the `profile`, `offcpu` and `wakeup` families: stack ids
//! unique in the recording, and symbolization while recording.
//!
//! Stacks arrive two ways. `profile` records carry their stacks' addresses
//! (a kernel walk, and a user stack unwound by [`crate::unwind`] or walked
//! with frame pointers); `offcpu` and `wakeup` store theirs in a shared
//! `STACK_TRACE` map and hand out bucket ids, which are read from the map
//! once per new id. Either way a stack is keyed by its addresses (with the
//! tgid for user stacks: they only mean something in their process's
//! address space) and given a recording-wide id: the `stacks.id` that
//! `kstack`/`ustack` columns hold. A new stack is symbolized once,
//! on a thread of its own (so the drain thread never waits on ELF parsing),
//! and right away, while the process is still alive:
//!
//! * kernel frames against `/proc/kallsyms`, read once at start;
//! * user frames with blazesym: normalized to (module path, build id, file
//!   offset), which stays valid anywhere, and named from the module's
//!   symbol table (demangled Rust/C++).
//!
//! The finished rows wait in a shared list until a decoder's flush writes
//! them into the `stacks` table, so the recording carries every name and
//! the analyzer never reads /proc or a binary. Names come from the
//! module's symbols or, when its debug file is installed (found by build
//! id or `.gnu_debuglink` under /usr/lib/debug), from its DWARF, inlined
//! functions included as frames of their own.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, Int32Array, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field};
use crossbeam_channel::Sender;
use ktape_format::schema::UTC;
use ktape_format::stacks::{
    KIND_KERNEL, KIND_USER, LOST_STACK, MAX_DEPTH, NO_STACK, TABLE as STACKS_TABLE,
};
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType, OpenMapMut};

use crate::bpf::BpfError;
use crate::family::Sink;

mod symbolize;

use symbolize::symbolize_loop;

/// Buckets in the stack map: 16384 stacks of 127 frames, 16 MiB.
pub const STACK_MAP_ENTRIES: u32 = 16384;

/// A stack waiting to be symbolized.
struct Job {
    id: i32,
    user: bool,
    tgid: u32,
    addrs: Box<[u64]>,
    ts_ns: i64,
}

/// Whose stacks: user or kernel, and the process of a user stack (0 for
/// kernel ones).
type Owner = (bool, u32);

/// One finished `stacks` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StackRow {
    pub ts_ns: i64,
    pub id: i32,
    pub user: bool,
    pub tgid: u32,
    pub frames: Vec<Frame>,
}

/// One symbolized frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub addr: u64,
    pub function: String,
    pub module: String,
    pub build_id: String,
    pub file_offset: i64,
}

/// The stack service the stack families share.
pub struct Stacks {
    /// The stack map, created when the first family that uses one loads.
    map: OnceLock<Result<MapHandle, String>>,
    ids: Mutex<Ids>,
    /// The next recording-wide id (ids are never reused, even forgotten
    /// ones).
    next_id: AtomicUsize,
    jobs: Sender<Job>,
    done: Arc<Mutex<Vec<StackRow>>>,
    pending: Arc<(AtomicUsize, Mutex<()>, Condvar)>,
}

/// Recording-wide ids by stack, and by stack map bucket.
#[derive(Default)]
struct Ids {
    /// By owner, then addresses leaf first (nested, so that a known stack
    /// is found from a borrowed slice without allocating).
    by_stack: HashMap<Owner, HashMap<Box<[u64]>, i32>>,
    by_bucket: HashMap<(bool, u32, u32), i32>,
}

static SHARED: OnceLock<Result<Arc<Stacks>, String>> = OnceLock::new();

/// The one stack service of this recorder, created by the first stack
/// family that loads (both families must write into the same map for
/// their ids to agree).
pub fn shared() -> Result<Arc<Stacks>, BpfError> {
    SHARED
        .get_or_init(|| Stacks::create().map(Arc::new).map_err(|e| format!("{e}")))
        .clone()
        .map_err(|msg| BpfError::Map {
            map: "ktape_stacks",
            source: libbpf_rs::Error::from(std::io::Error::other(msg)),
        })
}

/// The service if a stack family created it.
pub fn existing() -> Option<Arc<Stacks>> {
    SHARED.get().and_then(|r| r.as_ref().ok().cloned())
}

/// The recording-wide (kernel, user) stack ids of a sample taken in
/// process `tgid`; without the stack service (tests) the map ids as they
/// are.
pub fn resolve_pair(
    stacks: Option<&Stacks>,
    tgid: u32,
    kstack: i32,
    ustack: i32,
    ts_ns: i64,
) -> (i32, i32) {
    match stacks {
        Some(s) => (
            s.resolve(false, 0, kstack, ts_ns),
            s.resolve(true, tgid, ustack, ts_ns),
        ),
        None => (kstack, ustack),
    }
}

/// What a stack family's decoder owes the writer after its rows: the
/// stacks they refer to that are symbolized by now, or at the `last` flush
/// every one (waiting for those still being symbolized).
pub fn hand_over(stacks: Option<&Stacks>, sink: &mut Sink<'_>, last: bool) {
    match stacks {
        Some(s) if last => s.finish(sink, Duration::from_secs(30)),
        Some(s) => s.flush(sink),
        None => {}
    }
}

impl Stacks {
    fn create() -> Result<Stacks, BpfError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let done = Arc::new(Mutex::new(Vec::new()));
        let pending = Arc::new((AtomicUsize::new(0), Mutex::new(()), Condvar::new()));
        let (d, p) = (done.clone(), pending.clone());
        std::thread::Builder::new()
            .name("ktape-symbolize".into())
            .spawn(move || symbolize_loop(rx, d, p))
            .map_err(|e| BpfError::Map {
                map: "ktape_stacks",
                source: libbpf_rs::Error::from(e),
            })?;
        Ok(Stacks {
            map: OnceLock::new(),
            ids: Mutex::new(Ids::default()),
            next_id: AtomicUsize::new(0),
            jobs: tx,
            done,
            pending,
        })
    }

    /// The stack map (16 MiB of kernel memory: made only for the families
    /// that use it).
    fn map(&self) -> Result<&MapHandle, libbpf_rs::Error> {
        self.map
            .get_or_init(|| {
                let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
                    sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
                    ..Default::default()
                };
                MapHandle::create(
                    MapType::StackTrace,
                    Some("ktape_stacks"),
                    4,
                    (MAX_DEPTH * 8) as u32,
                    STACK_MAP_ENTRIES,
                    &opts,
                )
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| libbpf_rs::Error::from(std::io::Error::other(e.clone())))
    }

    /// Points a family object's declared `ktape_stacks` at the shared map.
    pub fn share_with(&self, map: &mut OpenMapMut<'_>) -> Result<(), libbpf_rs::Error> {
        map.reuse_fd(self.map()?.as_fd())
    }

    /// Kernel id of the map, if one was made.
    pub fn map_id(&self) -> Option<u32> {
        match self.map.get() {
            Some(Ok(m)) => crate::bpf::map_id(m.as_fd()),
            _ => None,
        }
    }

    /// The recording-wide id of a stack map id (-1 "none" and -2 "lost"
    /// pass through): a bucket seen for the first time is read from the
    /// map (which never overwrites a stored stack) and resolved by its
    /// addresses.
    pub fn resolve(&self, user: bool, tgid: u32, map_id: i32, ts_ns: i64) -> i32 {
        if map_id < 0 {
            return map_id.clamp(LOST_STACK, NO_STACK);
        }
        let bucket = (user, if user { tgid } else { 0 }, map_id as u32);
        if let Some(&id) = self.lock().by_bucket.get(&bucket) {
            return id;
        }
        let addrs = match self.map.get() {
            Some(Ok(m)) => read_stack(m, bucket.2),
            _ => Vec::new(),
        };
        let id = self.resolve_addrs(user, tgid, &addrs, ts_ns);
        self.lock().by_bucket.insert(bucket, id);
        id
    }

    /// The recording-wide id of a stack given by its addresses, leaf
    /// first; a stack seen for the first time is queued for
    /// symbolization.
    pub fn resolve_addrs(&self, user: bool, tgid: u32, addrs: &[u64], ts_ns: i64) -> i32 {
        let tgid = if user { tgid } else { 0 };
        let mut ids = self.lock();
        let known = ids.by_stack.entry((user, tgid)).or_default();
        if let Some(&id) = known.get(addrs) {
            return id;
        }
        let n = self.next_id.fetch_add(1, Ordering::SeqCst) as i32;
        self.pending.0.fetch_add(1, Ordering::SeqCst);
        let addrs: Box<[u64]> = addrs.into();
        known.insert(addrs.clone(), n);
        let _ = self.jobs.send(Job {
            id: n,
            user,
            tgid,
            addrs,
            ts_ns,
        });
        n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of distinct stacks so far.
    pub fn distinct(&self) -> usize {
        self.next_id.load(Ordering::SeqCst)
    }

    /// Forgets these stack ids (their rows left the recording with a
    /// deleted segment, in ring mode): a later sample of the same stack
    /// gets a new id and a new row, symbolized again. Also what keeps this
    /// map's size bounded in an always-on recording.
    pub fn forget(&self, gone: &std::collections::HashSet<i32>) {
        if gone.is_empty() {
            return;
        }
        let mut ids = self.lock();
        for known in ids.by_stack.values_mut() {
            known.retain(|_, id| !gone.contains(id));
        }
        ids.by_stack.retain(|_, known| !known.is_empty());
        ids.by_bucket.retain(|_, id| !gone.contains(id));
    }

    /// Writes the stacks symbolized so far as one `stacks` batch.
    pub fn flush(&self, sink: &mut Sink<'_>) {
        let rows = std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()));
        if !rows.is_empty() {
            sink(&STACKS_TABLE, stacks_batch(&rows));
        }
    }

    /// Waits (up to `timeout`) until every queued stack is symbolized, then
    /// flushes: the last flush of a recording must leave no stack behind.
    pub fn finish(&self, sink: &mut Sink<'_>, timeout: Duration) {
        let (n, m, cv) = &*self.pending;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + timeout;
        while n.load(Ordering::SeqCst) > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            g = cv
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(g);
        self.flush(sink);
    }
}

/// A stack's addresses from the map, leaf first, without the zero padding.
fn read_stack(map: &MapHandle, id: u32) -> Vec<u64> {
    match map.lookup(&id.to_ne_bytes(), MapFlags::ANY) {
        Ok(Some(v)) => v
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .take_while(|&a| a != 0)
            .collect(),
        _ => Vec::new(),
    }
}

/// The `stacks` batch of some rows.
pub fn stacks_batch(rows: &[StackRow]) -> RecordBatch {
    let ts: Vec<i64> = rows.iter().map(|r| r.ts_ns).collect();
    let id: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let tgid: Vec<i32> = rows.iter().map(|r| r.tgid as i32).collect();
    let mut kind = StringDictionaryBuilder::<Int32Type>::new();
    let int_list = || {
        ListBuilder::new(Int64Builder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Int64, false)))
    };
    let str_list = || {
        ListBuilder::new(StringBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Utf8, false)))
    };
    let (mut addr, mut offset) = (int_list(), int_list());
    let (mut func, mut module, mut build) = (str_list(), str_list(), str_list());
    for r in rows {
        kind.append_value(if r.user { KIND_USER } else { KIND_KERNEL });
        for f in &r.frames {
            addr.values().append_value(f.addr as i64);
            offset.values().append_value(f.file_offset);
            func.values().append_value(&f.function);
            module.values().append_value(&f.module);
            build.values().append_value(&f.build_id);
        }
        addr.append(true);
        offset.append(true);
        func.append(true);
        module.append(true);
        build.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(ts).with_timezone(UTC)),
        Arc::new(Int32Array::from(id)),
        Arc::new(kind.finish()),
        Arc::new(Int32Array::from(tgid)),
        Arc::new(addr.finish()),
        Arc::new(func.finish()),
        Arc::new(module.finish()),
        Arc::new(build.finish()),
        Arc::new(offset.finish()),
    ];
    RecordBatch::try_new(STACKS_TABLE.schema(), cols).expect("stacks columns match the table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_matches_schema() {
        let rows = vec![StackRow {
            ts_ns: 5,
            id: 0,
            user: true,
            tgid: 7,
            frames: vec![Frame {
                addr: 1,
                function: "f".into(),
                module: "m".into(),
                build_id: "ab".into(),
                file_offset: 3,
            }],
        }];
        let b = stacks_batch(&rows);
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.schema(), STACKS_TABLE.schema());
    }
}
