//! Generates the Rust side of `bpf/ktape.h`: every `KTAPE_*` define as a
//! `u32` constant and every `struct ktape_*` as a `#[repr(C)]` twin, so a
//! record layout is written once, in C, where the BPF programs use it.
//!
//! The header is the declaration part of `ktape.h` (everything before
//! `#ifdef __BPF__`), in the restricted C the rest of ktape keeps to:
//! integer defines (`N` or `(a << b)`), and structs whose fields are
//! fixed-width integers, `char`, or arrays of them sized by a number or a
//! define. Anything else fails the build, naming the line.
//!
//! Records carry no implicit padding (fields are ordered by size, pads are
//! named), so a struct that would need any fails the build too: with none,
//! `#[repr(C)]` gives the same offsets as the C compiler on every ABI.
//! Each struct must have a `KTAPE_<NAME>_SIZE` define (which the C side
//! checks with `_Static_assert`); the generated code asserts it at compile
//! time. A struct with a `KTAPE_<NAME>_HDR` define is variable-length: its
//! last array is filled only in part, and a `<Name>Header` of the fields
//! before it is generated too, to read a record's fixed part.

use std::collections::HashMap;
use std::fmt::Write;

struct Define {
    name: String,
    value: u64,
    doc: Vec<String>,
}

#[derive(Clone)]
struct Field {
    name: String,
    /// Rust primitive and its size in bytes.
    ty: (&'static str, u64),
    /// Array length: the literal or the define that gives it.
    dim: Option<(String, u64)>,
    doc: Vec<String>,
}

struct Struct {
    c_name: String,
    fields: Vec<Field>,
    doc: Vec<String>,
    line: usize,
}

/// The lines of the C comment `s` (without `/*`, `*/` and leading `*`s),
/// blank ones included.
pub fn comment_lines(s: &str) -> Vec<String> {
    let s = s.trim().trim_start_matches("/*");
    let s = s.find("*/").map_or(s, |end| &s[..end]);
    s.lines()
        .map(|l| l.trim().trim_start_matches('*').trim().to_string())
        .collect()
}

/// The text of the C comment `s`, without blank lines.
fn comment_text(s: &str) -> Vec<String> {
    comment_lines(s)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}

fn prim(c: &str) -> Option<(&'static str, u64)> {
    Some(match c {
        "__u8" | "char" | "unsigned char" => ("u8", 1),
        "__s8" => ("i8", 1),
        "__u16" => ("u16", 2),
        "__s16" => ("i16", 2),
        "__u32" => ("u32", 4),
        "__s32" => ("i32", 4),
        "__u64" => ("u64", 8),
        "__s64" => ("i64", 8),
        _ => return None,
    })
}

fn parse_value(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
        let (a, b) = inner.split_once("<<")?;
        let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u32>().ok()?);
        return a.checked_shl(b);
    }
    v.parse().ok()
}

/// Splits a line into its code and a trailing `/* … */` comment (which
/// may be left open, to be continued on the next lines).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    match line.find("/*") {
        Some(i) => (&line[..i], Some(&line[i..])),
        None => (line, None),
    }
}

struct Parser<'a> {
    lines: Vec<(usize, &'a str)>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, line: usize, what: &str) -> String {
        format!("bpf/ktape.h:{line}: {what}")
    }

    /// Reads a comment that starts on the current line up to its `*/`.
    fn comment(&mut self, first: &'a str) -> Vec<String> {
        let mut text = first.to_string();
        while !text.contains("*/") && self.at < self.lines.len() {
            text.push('\n');
            text.push_str(self.lines[self.at].1);
            self.at += 1;
        }
        comment_text(&text)
    }

    fn run(mut self) -> Result<(Vec<Define>, Vec<Struct>), String> {
        let mut defines = Vec::new();
        let mut structs = Vec::new();
        let mut pending: Vec<String> = Vec::new();
        while self.at < self.lines.len() {
            let (no, raw) = self.lines[self.at];
            self.at += 1;
            let line = raw.trim();
            if line.starts_with("#ifdef __BPF__") {
                break;
            }
            if line.starts_with("/*") {
                let doc = self.comment(line);
                // Section banners (`---- x ----`) document no one item.
                pending = if doc.first().is_some_and(|l| l.starts_with("----")) {
                    Vec::new()
                } else {
                    doc
                };
                continue;
            }
            if line.is_empty() {
                pending.clear();
                continue;
            }
            if let Some(rest) = line.strip_prefix("#define ") {
                let (code, tail) = split_comment(rest);
                let mut parts = code.trim().splitn(2, char::is_whitespace);
                let name = parts.next().unwrap_or_default();
                let value = parts.next().unwrap_or_default();
                if name == "KTAPE_H" {
                    continue;
                }
                let Some(short) = name.strip_prefix("KTAPE_") else {
                    return Err(self.err(no, "defines must be named KTAPE_*"));
                };
                let value = parse_value(value)
                    .ok_or_else(|| self.err(no, &format!("{name}: not an integer or (a << b)")))?;
                if value > u32::MAX as u64 {
                    return Err(self.err(no, &format!("{name} does not fit a u32")));
                }
                let mut doc = std::mem::take(&mut pending);
                if let Some(t) = tail {
                    doc.extend(self.comment(t));
                }
                defines.push(Define {
                    name: short.to_string(),
                    value,
                    doc,
                });
                continue;
            }
            if let Some(rest) = line.strip_prefix("struct ") {
                let Some(name) = rest.strip_suffix('{').map(str::trim) else {
                    return Err(self.err(no, "expected `struct ktape_x {`"));
                };
                if !name.starts_with("ktape_") {
                    return Err(self.err(no, "structs must be named ktape_*"));
                }
                let doc = std::mem::take(&mut pending);
                let fields = self.fields(&defines)?;
                structs.push(Struct {
                    c_name: name.to_string(),
                    fields,
                    doc,
                    line: no,
                });
                continue;
            }
            if line.starts_with("#ifndef KTAPE_H") {
                continue;
            }
            if line.starts_with("_Static_assert") {
                // The size checks of the C side; their text runs on.
                while !self.lines[self.at - 1].1.trim_end().ends_with(';') {
                    self.at += 1;
                }
                continue;
            }
            return Err(self.err(no, &format!("cannot read `{line}`")));
        }
        Ok((defines, structs))
    }

    fn fields(&mut self, defines: &[Define]) -> Result<Vec<Field>, String> {
        let mut fields = Vec::new();
        let mut pending = Vec::new();
        loop {
            let Some(&(no, raw)) = self.lines.get(self.at) else {
                return Err("bpf/ktape.h: a struct does not end".into());
            };
            self.at += 1;
            let line = raw.trim();
            if line == "};" {
                return Ok(fields);
            }
            if line.starts_with("/*") {
                pending = self.comment(line);
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let (code, tail) = split_comment(line);
            let code = code.trim();
            let Some(decl) = code.strip_suffix(';') else {
                return Err(self.err(no, "a field ends with `;`"));
            };
            let (ty, name) = decl
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| self.err(no, "expected `type name;`"))?;
            let ty = prim(ty.trim())
                .ok_or_else(|| self.err(no, &format!("unsupported field type `{ty}`")))?;
            let (name, dim) = match name.split_once('[') {
                None => (name.to_string(), None),
                Some((n, d)) => {
                    let d = d
                        .strip_suffix(']')
                        .ok_or_else(|| self.err(no, "expected `name[N]`"))?;
                    let len = match d.parse::<u64>() {
                        Ok(v) => v,
                        Err(_) => {
                            let short = d.strip_prefix("KTAPE_").unwrap_or("");
                            defines
                                .iter()
                                .find(|x| x.name == short)
                                .map(|x| x.value)
                                .ok_or_else(|| self.err(no, &format!("{d} is not defined above")))?
                        }
                    };
                    (n.to_string(), Some((d.to_string(), len)))
                }
            };
            let mut doc = std::mem::take(&mut pending);
            if let Some(t) = tail {
                doc.extend(self.comment(t));
            }
            fields.push(Field { name, ty, dim, doc });
        }
    }
}

/// `ktape_sched_switch_event` → `SchedSwitchEvent`.
fn rust_name(c: &str) -> String {
    c.trim_start_matches("ktape_")
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn docs(out: &mut String, indent: &str, doc: &[String]) {
    for l in doc {
        let _ = writeln!(out, "{indent}/// {l}");
    }
}

/// Emits one `#[repr(C)]` struct after checking it has no implicit
/// padding; returns its size.
fn emit_struct(
    out: &mut String,
    name: &str,
    c_name: &str,
    doc: &[String],
    fields: &[Field],
    line: usize,
) -> Result<u64, String> {
    let mut offset = 0u64;
    let mut align = 1u64;
    for f in fields {
        let size = f.ty.1;
        if !offset.is_multiple_of(size) {
            return Err(format!(
                "bpf/ktape.h:{line}: struct {c_name}: `{}` at offset {offset} needs implicit \
                 padding; order fields by size or name the pad",
                f.name
            ));
        }
        align = align.max(size);
        offset += size * f.dim.as_ref().map_or(1, |d| d.1);
    }
    if !offset.is_multiple_of(align) {
        return Err(format!(
            "bpf/ktape.h:{line}: struct {c_name} needs trailing padding ({offset} bytes, \
             aligned to {align}); name the pad"
        ));
    }
    docs(out, "", doc);
    if !doc.is_empty() {
        out.push_str("///\n");
    }
    let _ = writeln!(
        out,
        "/// Generated from `struct {c_name}` of `bpf/ktape.h`.\n\
         #[repr(C)]\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct {name} {{"
    );
    for f in fields {
        docs(out, "    ", &f.doc);
        let ty = match &f.dim {
            None => f.ty.0.to_string(),
            Some((d, len)) => match d.strip_prefix("KTAPE_") {
                Some(short) => format!("[{}; {short} as usize]", f.ty.0),
                None => format!("[{}; {len}]", f.ty.0),
            },
        };
        let _ = writeln!(out, "    pub {}: {ty},", f.name);
    }
    let _ = writeln!(
        out,
        "}}\n\n\
         impl Default for {name} {{\n    fn default() -> Self {{\n        \
         // SAFETY: integers and integer arrays only: all zeroes is a valid value.\n        \
         unsafe {{ core::mem::zeroed() }}\n    }}\n}}\n\n\
         // SAFETY: repr(C) without padding, integers only: every bit pattern is valid.\n\
         unsafe impl plain::Plain for {name} {{}}\n"
    );
    if fields
        .iter()
        .any(|f| f.name == "ts" && f.ty.0 == "u64" && f.dim.is_none())
    {
        let _ = writeln!(
            out,
            "impl Timed for {name} {{\n    #[inline]\n    fn ts(&self) -> u64 {{\n        \
             self.ts\n    }}\n}}\n"
        );
    }
    Ok(offset)
}

/// The Rust source for `header` (the text of `bpf/ktape.h`).
pub fn generate(header: &str) -> Result<String, String> {
    let lines = header
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect();
    let (defines, structs) = Parser { lines, at: 0 }.run()?;
    let by_name: HashMap<&str, u64> = defines.iter().map(|d| (d.name.as_str(), d.value)).collect();
    let mut out = String::from(
        "// Generated by build/abi.rs from bpf/ktape.h: edit the header.\n\n\
         /// A record with a `ts` field (CLOCK_MONOTONIC ns): what the decoders sort by.\n\
         pub trait Timed {\n    /// The record's `ts`.\n    fn ts(&self) -> u64;\n}\n\n",
    );
    for d in &defines {
        docs(&mut out, "", &d.doc);
        if d.doc.is_empty() {
            let _ = writeln!(out, "/// `KTAPE_{}` of `bpf/ktape.h`.", d.name);
        }
        let _ = writeln!(out, "pub const {}: u32 = {};\n", d.name, d.value);
    }
    out.push_str("/// Every define above, by its name in the header.\npub const DEFINES: &[(&str, u32)] = &[\n");
    for d in &defines {
        let _ = writeln!(out, "    (\"KTAPE_{0}\", {0}),", d.name);
    }
    out.push_str("];\n\n");
    for s in &structs {
        let name = rust_name(&s.c_name);
        let upper = s.c_name.trim_start_matches("ktape_").to_ascii_uppercase();
        let size_define = format!("{upper}_SIZE");
        let Some(&want) = by_name.get(size_define.as_str()) else {
            return Err(format!(
                "bpf/ktape.h:{}: struct {} has no KTAPE_{size_define} (define it and \
                 _Static_assert it)",
                s.line, s.c_name
            ));
        };
        if !header.contains(&format!(
            "sizeof(struct {}) == KTAPE_{size_define}",
            s.c_name
        )) {
            return Err(format!(
                "bpf/ktape.h: no _Static_assert(sizeof(struct {}) == KTAPE_{size_define})",
                s.c_name
            ));
        }
        let size = emit_struct(&mut out, &name, &s.c_name, &s.doc, &s.fields, s.line)?;
        if size != want {
            return Err(format!(
                "bpf/ktape.h:{}: struct {} is {size} bytes, KTAPE_{size_define} says {want}",
                s.line, s.c_name
            ));
        }
        let _ = writeln!(
            out,
            "const _: () = assert!(core::mem::size_of::<{name}>() == {size_define} as usize);\n"
        );
        if let Some(&hdr) = by_name.get(format!("{upper}_HDR").as_str()) {
            let head = &s.fields[..s.fields.len().saturating_sub(1)];
            let doc = [format!(
                "The fixed part of a [`{name}`] (every field before its last array): \
                 the record is this followed by the used part of that array."
            )];
            let hname = format!("{name}Header");
            let hsize = emit_struct(&mut out, &hname, &s.c_name, &doc, head, s.line)?;
            if hsize != hdr {
                return Err(format!(
                    "bpf/ktape.h:{}: the fields of struct {} before its last take {hsize} \
                     bytes, KTAPE_{upper}_HDR says {hdr}",
                    s.line, s.c_name
                ));
            }
            let _ = writeln!(
                out,
                "const _: () = assert!(core::mem::size_of::<{hname}>() == {upper}_HDR as usize);\n"
            );
        }
    }
    Ok(out)
}
