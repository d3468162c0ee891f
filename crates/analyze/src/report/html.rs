//! The page of `report`: its parts in document order, each from what a
//! report printed ([`Ran`]), escaped, with the command that prints it.

use std::collections::HashMap;
use std::fmt::Write as _;

use ktape_format::read::Recording;
use serde_json::Value;

use super::{Built, Ran, ReportOptions};
use crate::biosnoop::{self, BiosnoopOptions};
use crate::execsnoop::{self, ExecRow, ExecsnoopOptions};
use crate::time::{format_rfc3339, secs_between, NS_PER_MS, NS_PER_US};

/// The page being written.
pub(super) struct Page<'a> {
    opts: &'a ReportOptions,
    hosts: String,
    body: String,
    /// (id, title) of each section, for the contents.
    toc: Vec<(String, String)>,
    views: usize,
    failed: usize,
}

/// `s` escaped for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Standard base64 (RFC 4648, padded), for the flame graphs' `data:` URLs.
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                o.push(A[(n >> shift) as usize & 63] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// The value of attribute `name` in the first `<svg …>` tag of `svg`.
fn svg_attr(svg: &str, name: &str) -> Option<f64> {
    let tag = &svg[svg.find("<svg")?..];
    let tag = &tag[..tag.find('>')?];
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let v = &tag[at..];
    v[..v.find('"')?].parse().ok()
}

/// The sum of the bucket counts of a bcc-style histogram text (lines
/// `  LOW -> HIGH : COUNT |…|`): the number of events it shows.
fn hist_total(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let (range, rest) = l.split_once(':')?;
            if !range.contains("->") || !rest.contains('|') {
                return None;
            }
            rest.split('|').next()?.trim().parse::<u64>().ok()
        })
        .sum()
}

/// biosnoop's rows in the window, the slowest `opts.top` first.
pub(super) fn slowest_io(recordings: &[Recording], opts: &ReportOptions) -> crate::Result<Vec<biosnoop::Row>> {
    let o = BiosnoopOptions {
        common: opts.common.clone(),
        ..Default::default()
    };
    let mut rows = biosnoop::compute(recordings, &o)?.rows;
    rows.sort_by(|a, b| b.latency_ns.cmp(&a.latency_ns).then(a.ts.cmp(&b.ts)));
    rows.truncate(opts.top);
    Ok(rows)
}

/// execsnoop -x's rows in the window.
pub(super) fn execs(recordings: &[Recording], opts: &ReportOptions) -> crate::Result<Vec<ExecRow>> {
    let o = ExecsnoopOptions {
        common: opts.common.clone(),
        failed: true,
        ..Default::default()
    };
    Ok(execsnoop::compute(recordings, &o)?.rows)
}

const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --warn: #9a3b00; --bad: #b00020; --ok: #1b6e20; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 2px 0; color: #c9d1de; }
nav { padding: 8px 28px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
nav a { margin-right: 14px; color: #2456b3; text-decoration: none; white-space: nowrap; }
main { padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 20px 16px; margin: 18px 0; }
h2 { font-size: 18px; margin: 12px 0 8px; }
figure { margin: 14px 0; }
figcaption { color: var(--muted); margin-bottom: 4px; }
figcaption code { background: var(--bg); padding: 1px 5px; border-radius: 3px; }
pre { background: var(--bg); border: 1px solid var(--line); padding: 8px 10px; overflow-x: auto; font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; margin: 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 3px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 140px; }
.tile .cmd { color: var(--muted); font-size: 12px; }
.tile .num { display: block; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile.bad .num { color: var(--bad); }
.tile.ok .num { color: var(--ok); }
.note { color: var(--warn); margin: 4px 0; white-space: pre-wrap; }
.error { color: var(--bad); margin: 4px 0; white-space: pre-wrap; }
.svg { overflow-x: auto; }
iframe.flame { width: 100%; border: 1px solid var(--line); }
.agree { color: var(--ok); } .disagree { color: var(--bad); font-weight: 600; }
footer { color: var(--muted); padding: 0 28px 28px; }
"#;

impl<'a> Page<'a> {
    pub(super) fn new(recordings: &[Recording], opts: &'a ReportOptions) -> Page<'a> {
        let mut hosts: Vec<&str> = recordings.iter().map(|r| r.info.host.as_str()).collect();
        hosts.sort();
        hosts.dedup();
        Page {
            opts,
            hosts: hosts.join(", "),
            body: String::new(),
            toc: Vec::new(),
            views: 0,
            failed: 0,
        }
    }

    /// The caption of a view: what it is and its command.
    fn caption(&mut self, what: &str, command: &str) {
        let _ = writeln!(
            self.body,
            "<figcaption>{} <code>$ {}</code></figcaption>",
            esc(what),
            esc(command)
        );
    }

    /// A view's warnings and error; whether it failed.
    fn notes(&mut self, ran: &Ran) -> bool {
        for n in &ran.notes {
            // "wrote -" lines are the drawing reports' own receipts.
            if n.contains(" wrote -") || n.starts_with("wrote -") {
                continue;
            }
            let _ = writeln!(self.body, r#"<p class="note">{}</p>"#, esc(n));
        }
        if let Some(e) = &ran.error {
            let _ = writeln!(self.body, r#"<p class="error">{}</p>"#, esc(e));
            self.failed += 1;
            return true;
        }
        false
    }

    pub(super) fn summary(&mut self, json: &Ran, text: &Ran) -> crate::Result<()> {
        let v: Value = match &json.error {
            Some(e) => return Err(crate::Error::Usage(format!("summary: {e}"))),
            None => serde_json::from_slice(&json.stdout)
                .map_err(|e| crate::Error::Usage(format!("summary --json: {e}")))?,
        };
        let recs = v["recordings"].as_array().cloned().unwrap_or_default();
        let join = |key: &str| {
            let mut s: Vec<String> = recs
                .iter()
                .filter_map(|r| r[key].as_str().map(str::to_string))
                .collect();
            s.sort();
            s.dedup();
            s.join(", ")
        };
        let start = recs.iter().filter_map(|r| r["start"].as_str()).min();
        let end = recs.iter().filter_map(|r| r["end"].as_str()).max();
        let mut families: Vec<String> = Vec::new();
        for r in &recs {
            for f in r["families"].as_array().into_iter().flatten() {
                if let Some(f) = f.as_str().filter(|f| !families.iter().any(|g| g == f)) {
                    families.push(f.to_string());
                }
            }
        }
        let _ = write!(
            self.body,
            r#"<section id="summary"><h2>Recording</h2>
<p>Host <b id="host">{}</b>, kernel {}, {} recording{}; families: {}.</p>
<p>Window {} .. {}{}.</p>
"#,
            esc(&self.hosts),
            esc(&join("kernel")),
            recs.len(),
            if recs.len() == 1 { "" } else { "s" },
            esc(&families.join(", ")),
            esc(start.unwrap_or("?")),
            esc(end.unwrap_or("?")),
            match v["window"].as_array() {
                Some(w) => format!(
                    " (report window {} .. {})",
                    esc(w[0].as_str().unwrap_or("")),
                    esc(w[1].as_str().unwrap_or(""))
                ),
                None => String::new(),
            }
        );
        let lost = v["lost"].as_u64().unwrap_or(0);
        let known = recs.iter().all(|r| r["loss_known"].as_bool() == Some(true));
        let by_family: Vec<String> = v["lost_by_family"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        let checks = v["cross_checks"].as_array().cloned().unwrap_or_default();
        let disagree = checks.iter().filter(|c| c["agree"] == false).count();
        let rows: u64 = v["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["rows"].as_u64())
            .sum();
        let bytes: u64 = v["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["bytes"].as_u64())
            .sum();
        let _ = write!(
            self.body,
            r#"<div class="tiles">
<div class="tile"><span class="num" id="rows-total">{rows}</span>rows</div>
<div class="tile"><span class="num">{:.1} MB</span>on disk</div>
<div class="tile {}"><span class="num" id="lost-total">{}</span>events lost{}</div>
<div class="tile {}"><span class="num">{}/{}</span>cross-checks agree</div>
</div>
"#,
            bytes as f64 / 1e6,
            if lost > 0 || !known { "bad" } else { "ok" },
            if known { lost.to_string() } else { "unknown".into() },
            if by_family.is_empty() {
                String::new()
            } else {
                format!(" ({})", esc(&by_family.join(", ")))
            },
            if disagree > 0 { "bad" } else { "ok" },
            checks.len() - disagree,
            checks.len()
        );
        for r in &recs {
            if r["ended_abruptly"] == true {
                let _ = writeln!(
                    self.body,
                    r#"<p class="note">{}: its recorder did not finish every segment; every table is complete until {}.</p>"#,
                    esc(r["path"].as_str().unwrap_or("")),
                    esc(r["complete_until"].as_str().unwrap_or("?"))
                );
            }
        }
        self.body.push_str(
            "<table><tr><th>table</th><th class=\"n\">rows</th><th class=\"n\">bytes</th><th class=\"n\">bytes/row</th></tr>\n",
        );
        for t in v["tables"].as_array().into_iter().flatten() {
            let _ = writeln!(
                self.body,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.1}</td></tr>"#,
                esc(t["name"].as_str().unwrap_or("")),
                t["rows"],
                t["bytes"],
                t["bytes_per_row"].as_f64().unwrap_or(0.0)
            );
        }
        self.body.push_str("</table>\n");
        if !checks.is_empty() {
            self.body.push_str(
                "<h3>Cross-checks: rows against the kernel's own counters</h3>\n<table><tr><th>table</th><th>counter</th><th class=\"n\">kernel</th><th class=\"n\">recorded</th><th>result</th></tr>\n",
            );
            for c in &checks {
                let agree = c["agree"] == true;
                let _ = writeln!(
                    self.body,
                    r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td></tr>"#,
                    esc(c["table"].as_str().unwrap_or("")),
                    esc(c["counter"].as_str().unwrap_or("")),
                    c["kernel"],
                    c["recorded"],
                    if agree { "agree" } else { "disagree" },
                    if agree { "agree" } else { "DISAGREE" }
                );
            }
            self.body.push_str("</table>\n");
        }
        self.body.push_str("<details><summary>The summary as text</summary><figure>\n");
        self.caption("", &text.command);
        let _ = writeln!(self.body, "<pre>{}</pre>", esc(&String::from_utf8_lossy(&text.stdout)));
        self.notes(text);
        self.body.push_str("</figure></details></section>\n");
        self.toc.push(("summary".into(), "Recording".into()));
        Ok(())
    }

    pub(super) fn start_section(&mut self, id: &str, title: &str) {
        let _ = writeln!(self.body, r#"<section id="{id}"><h2>{}</h2>"#, esc(title));
        self.toc.push((id.to_string(), title.to_string()));
    }

    pub(super) fn end_section(&mut self) {
        self.body.push_str("</section>\n");
    }

    /// A report's text, cut after `max_lines` lines.
    pub(super) fn text(&mut self, ran: &Ran) {
        self.views += 1;
        self.body.push_str("<figure>");
        self.caption("", &ran.command);
        let text = String::from_utf8_lossy(&ran.stdout);
        if !text.trim().is_empty() {
            let lines: Vec<&str> = text.lines().collect();
            let max = self.opts.max_lines;
            let shown = lines.len().min(max);
            let _ = write!(self.body, "<pre>{}", esc(&lines[..shown].join("\n")));
            if lines.len() > max {
                let _ = write!(
                    self.body,
                    "\n… {} more lines: run the command for all of them",
                    lines.len() - max
                );
            }
            self.body.push_str("</pre>\n");
        }
        self.notes(ran);
        self.body.push_str("</figure>\n");
    }

    /// A histogram report's text under its total.
    pub(super) fn hist(&mut self, ran: &Ran, label: &str, id: &str) {
        let text = String::from_utf8_lossy(&ran.stdout);
        if ran.error.is_none() {
            let _ = writeln!(
                self.body,
                r#"<div class="tiles"><div class="tile"><span class="num" id="{}">{}</span>{}</div></div>"#,
                esc(id),
                hist_total(&text),
                esc(label)
            );
        }
        self.text(ran);
    }

    /// A heat map's SVG, inline (without its XML declaration).
    pub(super) fn heatmap(&mut self, ran: &Ran) {
        self.views += 1;
        self.body.push_str("<figure>");
        self.caption("Heat map (hover a cell for its counts)", &ran.command);
        if !self.notes(ran) {
            let svg = String::from_utf8_lossy(&ran.stdout);
            let svg = svg.find("<svg").map_or(&svg[..], |i| &svg[i..]);
            let _ = writeln!(self.body, r#"<div class="svg">{svg}</div>"#);
        }
        self.body.push_str("</figure>\n");
    }

    /// A flame graph in a frame of its own, so its script runs as in its
    /// own file.
    pub(super) fn flame(&mut self, ran: &Ran) {
        self.views += 1;
        self.body.push_str("<figure>");
        self.caption(
            "Flame graph (click to zoom, Ctrl-F to search)",
            &ran.command,
        );
        if !self.notes(ran) {
            let svg = String::from_utf8_lossy(&ran.stdout);
            let height = svg_attr(&svg, "height").unwrap_or(600.0).ceil() as u64 + 4;
            let _ = writeln!(
                self.body,
                r#"<iframe class="flame" title="flame graph" height="{height}" src="data:image/svg+xml;base64,{}"></iframe>"#,
                base64(&ran.stdout)
            );
        }
        self.body.push_str("</figure>\n");
    }

    pub(super) fn slowest_io(&mut self, rows: crate::Result<Vec<biosnoop::Row>>, opts: &ReportOptions) {
        self.views += 1;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(self.body, r#"<p class="error">biosnoop: {}</p>"#, esc(&e.to_string()));
                self.failed += 1;
                return;
            }
        };
        let Some(last) = rows.last() else {
            return;
        };
        let start = rows.iter().map(|r| r.ts).min().unwrap_or(0);
        let min_us = last.latency_ns / NS_PER_US;
        let command = opts.run_command(&["biosnoop", "-Q", "--min-latency", &format!("{min_us}us")]);
        let _ = write!(self.body, "<figure>");
        self.caption(&format!("The {} slowest I/Os", rows.len()), &command);
        self.body.push_str(
            "<table><tr><th class=\"n\">TIME(s)</th><th>COMM</th><th class=\"n\">PID</th><th>DISK</th><th>T</th><th class=\"n\">SECTOR</th><th class=\"n\">BYTES</th><th class=\"n\">QUE(ms)</th><th class=\"n\">LAT(ms)</th><th>at</th></tr>\n",
        );
        for r in &rows {
            let ms = |ns: i64| ns as f64 / NS_PER_MS as f64;
            let _ = writeln!(
                self.body,
                r#"<tr><td class="n">{:.6}</td><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.2}</td><td>{}</td></tr>"#,
                secs_between(start, r.ts),
                esc(&r.comm),
                r.pid,
                esc(&r.disk),
                esc(&r.op),
                r.sector,
                r.bytes,
                r.queue_ns.map_or("-".into(), |q| format!("{:.2}", ms(q))),
                ms(r.latency_ns),
                esc(&format_rfc3339(r.ts))
            );
        }
        self.body.push_str("</table></figure>\n");
    }

    pub(super) fn top_execs(&mut self, rows: crate::Result<Vec<ExecRow>>, opts: &ReportOptions) {
        self.views += 1;
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(self.body, r#"<p class="error">execsnoop: {}</p>"#, esc(&e.to_string()));
                self.failed += 1;
                return;
            }
        };
        // comm → (execs, failed, an example command line).
        let mut by: HashMap<&str, (u64, u64, String)> = HashMap::new();
        for r in &rows {
            let e = by
                .entry(&r.comm)
                .or_insert_with(|| (0, 0, execsnoop::format_args(&r.args, false)));
            e.0 += 1;
            e.1 += u64::from(r.ret != 0);
        }
        let mut by: Vec<_> = by.into_iter().collect();
        by.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        let command = opts.run_command(&["execsnoop", "-x"]);
        self.body.push_str("<figure>");
        self.caption(
            &format!(
                "Execs per command: {} execs of {} commands (top {})",
                rows.len(),
                by.len(),
                opts.top.min(by.len())
            ),
            &command,
        );
        self.body.push_str(
            "<table><tr><th>COMM</th><th class=\"n\">EXECS</th><th class=\"n\">FAILED</th><th>first command line</th></tr>\n",
        );
        for (comm, (n, failed, example)) in by.iter().take(opts.top) {
            let _ = writeln!(
                self.body,
                r#"<tr><td>{}</td><td class="n">{n}</td><td class="n">{failed}</td><td>{}</td></tr>"#,
                esc(comm),
                esc(&example.chars().take(120).collect::<String>())
            );
        }
        self.body.push_str("</table></figure>\n");
    }

    pub(super) fn finish(self) -> Built {
        let title = self
            .opts
            .title
            .clone()
            .unwrap_or_else(|| format!("ktape report: {}", self.hosts));
        let mut html = String::with_capacity(self.body.len() + 8192);
        let _ = write!(
            html,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ktape-analyze {}">
<title>{}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{}</h1><p>Every view below is the output of the <code>ktape-analyze</code> command under it, on the same recordings.</p></header>
<nav>"#,
            env!("CARGO_PKG_VERSION"),
            esc(&title),
            esc(&title)
        );
        for (id, t) in &self.toc {
            let _ = write!(html, r##"<a href="#{id}">{}</a>"##, esc(t));
        }
        let _ = write!(
            html,
            "</nav>\n<main>\n{}</main>\n<footer>ktape-analyze {} report; {} views, {} failed.</footer>\n</body></html>\n",
            self.body,
            env!("CARGO_PKG_VERSION"),
            self.views,
            self.failed
        );
        Built {
            html,
            sections: self.toc.len(),
            views: self.views,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn totals_a_bcc_histogram() {
        let text = "     usecs               : count    distribution\n         0 -> 1          : 3        |**  |\n      1024 -> 2047       : 40       |****|\n";
        assert_eq!(hist_total(text), 43);
        assert_eq!(hist_total("no histogram: 5 | here\n"), 0);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn reads_the_svg_size() {
        let svg = r#"<?xml version="1.0"?><svg version="1.1" width="1200" height="486.5" onload="init(evt)">"#;
        assert_eq!(svg_attr(svg, "height"), Some(486.5));
        assert_eq!(svg_attr(svg, "width"), Some(1200.0));
        assert_eq!(svg_attr(svg, "depth"), None);
    }
}
