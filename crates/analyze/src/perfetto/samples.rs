//! CPU samples: one `PerfSample` per `profile` row, its kernel and user
//! stacks from the `stacks` table as one interned callstack (root first:
//! the user frames, then the kernel frames above them).
//!
//! The samples are one packet sequence with incremental state: the first
//! packet clears it, every later one needs it, and each packet carries
//! the interned entries (function names, build ids, mapping paths,
//! mappings, frames, callstacks) first used by its sample, so a reader
//! never meets an iid before its definition. A frame is its function
//! name, module and file offset; a mapping its module and build id.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use ktape_format::read::TimeRange;
use ktape_format::stacks::{KIND_KERNEL, LOST_STACK, NO_STACK, TABLE as STACKS};

use super::proto::{self, Callstack, Frame, InternedData, InternedString, Mapping, PerfSample};
use super::{packet, Ctx, Sink, Summary, SEQ_SAMPLES};
use crate::columns;
use crate::common::scan_rows;
use crate::error::Result;

/// One frame of a stack, as recorded.
#[derive(Debug, Clone)]
struct RawFrame {
    function: String,
    module: String,
    build_id: String,
    /// File offset of a user frame (`None`: unknown, or a kernel frame).
    offset: Option<u64>,
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Sample {
    mono: u64,
    cpu: i32,
    rec: usize,
    pid: i32,
    tgid: i32,
    kstack: i32,
    ustack: i32,
}

/// The interning state of the sequence.
#[derive(Default)]
struct Interner {
    strings: HashMap<(u8, String), u64>,
    mappings: HashMap<(String, String), u64>,
    frames: HashMap<(u64, u64, Option<u64>), u64>,
    callstacks: HashMap<(usize, i32, i32), u64>,
    /// What the next packet must define.
    new: InternedData,
}

/// Which `InternedString` table a string goes into.
const FUNCTION: u8 = 0;
const BUILD_ID: u8 = 1;
const PATH: u8 = 2;

impl Interner {
    fn string(&mut self, table: u8, s: &str, bytes: impl FnOnce() -> Vec<u8>) -> u64 {
        if let Some(&iid) = self.strings.get(&(table, s.to_string())) {
            return iid;
        }
        let iid = self.strings.len() as u64 + 1;
        self.strings.insert((table, s.to_string()), iid);
        let entry = InternedString {
            iid: Some(iid),
            str: Some(bytes()),
        };
        match table {
            FUNCTION => self.new.function_names.push(entry),
            BUILD_ID => self.new.build_ids.push(entry),
            _ => self.new.mapping_paths.push(entry),
        }
        iid
    }

    fn mapping(&mut self, module: &str, build_id: &str) -> u64 {
        let key = (module.to_string(), build_id.to_string());
        if let Some(&iid) = self.mappings.get(&key) {
            return iid;
        }
        let path = self.string(PATH, module, || module.as_bytes().to_vec());
        // Interned build ids are the raw bytes; ktape keeps them in hex.
        let raw = hex(build_id);
        let build = raw.map(|b| self.string(BUILD_ID, build_id, || b));
        let iid = self.mappings.len() as u64 + 1;
        self.mappings.insert(key, iid);
        self.new.mappings.push(Mapping {
            iid: Some(iid),
            build_id: build,
            path_string_ids: vec![path],
        });
        iid
    }

    fn frame(&mut self, f: &RawFrame) -> u64 {
        let name = self.string(FUNCTION, &f.function, || f.function.as_bytes().to_vec());
        let module = if f.module.is_empty() { "[unknown]" } else { &f.module };
        let mapping = self.mapping(module, &f.build_id);
        let key = (name, mapping, f.offset);
        if let Some(&iid) = self.frames.get(&key) {
            return iid;
        }
        let iid = self.frames.len() as u64 + 1;
        self.frames.insert(key, iid);
        self.new.frames.push(Frame {
            iid: Some(iid),
            function_name_id: Some(name),
            mapping_id: Some(mapping),
            rel_pc: f.offset,
        });
        iid
    }
}

/// Bytes of a hex string (`None` when empty or not hex).
fn hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A placeholder frame for a stack the recording lacks.
fn missed(what: &str) -> RawFrame {
    RawFrame {
        function: what.to_string(),
        module: "[unknown]".into(),
        build_id: String::new(),
        offset: None,
    }
}

/// Reads every stack (no window: a stack is written once, when first seen).
fn read_stacks(ctx: &Ctx<'_>) -> Result<HashMap<(usize, i32), Vec<RawFrame>>> {
    if !ctx.has(STACKS.name) {
        return Ok(HashMap::new());
    }
    let rows: Vec<((usize, i32), Vec<RawFrame>)> = scan_rows(
        ctx.recordings,
        STACKS.name,
        TimeRange::ALL,
        &["id", "kind", "function", "module", "build_id", "file_offset"],
        |acc, unit, batch| {
            let path = &unit.segment.path;
            let ids = columns::i32s(batch, "id", path)?;
            let kind = columns::Strings::from_batch(batch, "kind", path)?;
            let funcs = columns::string_lists(batch, "function", path)?;
            let mods = columns::string_lists(batch, "module", path)?;
            let builds = columns::string_lists(batch, "build_id", path)?;
            let offsets = batch
                .column_by_name("file_offset")
                .and_then(|a| a.as_list_opt::<i32>());
            for (i, &id) in ids.iter().enumerate() {
                let kernel = **kind.get(i) == *KIND_KERNEL;
                let f = columns::list_row(funcs, i);
                let m = columns::list_row(mods, i);
                let b = columns::list_row(builds, i);
                let o: Vec<i64> = match offsets {
                    Some(l) if !l.is_null(i) => l
                        .value(i)
                        .as_primitive_opt::<Int64Type>()
                        .map(|p| p.values().to_vec())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let frames = f
                    .into_iter()
                    .enumerate()
                    .map(|(j, function)| RawFrame {
                        function,
                        module: m.get(j).cloned().unwrap_or_default(),
                        build_id: b.get(j).cloned().unwrap_or_default(),
                        offset: o
                            .get(j)
                            .filter(|&&v| !kernel && v >= 0)
                            .map(|&v| v as u64),
                    })
                    .collect();
                acc.push(((unit.recording, id), frames));
            }
            Ok(())
        },
    )?;
    Ok(rows.into_iter().collect())
}

/// Writes the samples.
pub fn write(ctx: &Ctx<'_>, sink: &mut Sink<'_>, summary: &mut Summary) -> Result<()> {
    let table = ktape_format::profile::TABLE.name;
    if !ctx.has(table) {
        return Ok(());
    }
    let stacks = read_stacks(ctx)?;
    let mut interner = Interner::default();
    let mut first = true;
    let mut dangling = 0u64;
    let filter = &ctx.common.filter;
    let mut cols = vec!["ts", "cpu", "pid", "tgid", "kstack_id", "ustack_id"];
    filter.add_columns(&mut cols);
    for slice in ctx.slices(&[table]) {
        let mut rows: Vec<Sample> = scan_rows(ctx.recordings, table, slice, &cols, |acc, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let cpu = columns::i32s(batch, "cpu", path)?;
            let pid = columns::i32s(batch, "pid", path)?;
            let tgid = columns::i32s(batch, "tgid", path)?;
            let k = columns::i32s(batch, "kstack_id", path)?;
            let u = columns::i32s(batch, "ustack_id", path)?;
            let keep = filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !slice.contains(ts[i]) || !keep.keep(i) {
                    continue;
                }
                let Some(mono) = ctx.clocks.mono(unit.recording, ts[i]) else {
                    continue;
                };
                acc.push(Sample {
                    mono,
                    cpu: cpu[i],
                    rec: unit.recording,
                    pid: pid[i],
                    tgid: tgid[i],
                    kstack: k[i],
                    ustack: u[i],
                });
            }
            Ok(())
        })?;
        rows.sort_unstable();
        for s in &rows {
            let key = (s.rec, s.kstack, s.ustack);
            let iid = match interner.callstacks.get(&key) {
                Some(&iid) => iid,
                None => {
                    let mut frames: Vec<RawFrame> = Vec::new();
                    let mut part = |id: i32, what: &str| {
                        if id == NO_STACK {
                            return;
                        }
                        match stacks.get(&(s.rec, id)) {
                            // Leaf first in the table; root first here.
                            Some(f) if id > LOST_STACK => frames.extend(f.iter().rev().cloned()),
                            _ => {
                                if id != LOST_STACK {
                                    dangling += 1;
                                }
                                frames.push(missed(what));
                            }
                        }
                    };
                    part(s.ustack, "[Missed User Stack]");
                    part(s.kstack, "[Missed Kernel Stack]");
                    if frames.is_empty() {
                        frames.push(missed("[No Stack]"));
                    }
                    let frame_ids = frames.iter().map(|f| interner.frame(f)).collect();
                    let iid = interner.callstacks.len() as u64 + 1;
                    interner.callstacks.insert(key, iid);
                    interner.new.callstacks.push(Callstack {
                        iid: Some(iid),
                        frame_ids,
                    });
                    iid
                }
            };
            let mut p = packet(s.mono, SEQ_SAMPLES);
            p.sequence_flags = Some(if first {
                proto::SEQ_INCREMENTAL_STATE_CLEARED | proto::SEQ_NEEDS_INCREMENTAL_STATE
            } else {
                proto::SEQ_NEEDS_INCREMENTAL_STATE
            });
            first = false;
            let new = std::mem::take(&mut interner.new);
            if new != InternedData::default() {
                p.interned_data = Some(new);
            }
            p.perf_sample = Some(PerfSample {
                cpu: u32::try_from(s.cpu).ok(),
                pid: u32::try_from(s.tgid).ok(),
                tid: u32::try_from(s.pid).ok(),
                callstack_iid: Some(iid),
                cpu_mode: Some(if s.kstack == NO_STACK {
                    proto::MODE_USER
                } else {
                    proto::MODE_KERNEL
                }),
            });
            sink.put(&p)?;
            summary.samples += 1;
        }
    }
    summary.callstacks = interner.callstacks.len() as u64;
    if dangling > 0 {
        summary.warnings.push(format!(
            "WARNING: {dangling} callstacks refer to stacks missing from the `stacks` table: \
             they show as [Missed Kernel Stack] or [Missed User Stack]"
        ));
    }
    if !ctx.has(STACKS.name) {
        summary.warnings.push(crate::tables::missing_warning(
            STACKS.name,
            &ctx.recordings.iter().collect::<Vec<_>>(),
            "every sample's stack shows as [Missed … Stack]",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_are_raw_bytes() {
        assert_eq!(hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(hex(""), None);
        assert_eq!(hex("abc"), None);
        assert_eq!(hex("zz"), None);
        assert_eq!(hex("é1"), None);
    }

    #[test]
    fn each_entry_is_defined_once() {
        let mut i = Interner::default();
        let f = RawFrame {
            function: "main".into(),
            module: "/bin/x".into(),
            build_id: "ab".into(),
            offset: Some(16),
        };
        let a = i.frame(&f);
        let b = i.frame(&f);
        assert_eq!(a, b);
        assert_eq!(i.new.frames.len(), 1);
        assert_eq!(i.new.mappings.len(), 1);
        assert_eq!(i.new.build_ids[0].str, Some(vec![0xab]));
    }
}
