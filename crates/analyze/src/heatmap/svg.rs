//! The heat maps' SVG: a grid of cells per map with row and time labels,
//! hover titles and the lost steps marked, and a colour scale. Plain text
//! and shapes only, so it opens anywhere and embeds in HTML.

use std::fmt::Write as _;

use super::{Heatmap, Map, Rows};
use crate::time::{format_hms, format_secs, secs_between, NS_PER_MS, NS_PER_SEC};

/// `&`, `<`, `>` and quotes as XML entities.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// A cell's colour: pale yellow for one event to dark red for the most,
/// on a square-root scale so that rare latencies stay visible next to
/// the common ones.
fn colour(count: u64, max: u64) -> String {
    let t = if max <= 1 {
        1.0
    } else {
        ((count - 1) as f64 / (max - 1) as f64).sqrt()
    };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    // #ffeda0 -> #f03b20 -> #800026 would need two legs; one leg from
    // pale yellow to dark red reads well enough and stays monotone.
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(255.0, 128.0),
        lerp(237.0, 0.0),
        lerp(160.0, 38.0)
    )
}

/// `HH:MM:SS.mmm`, for hover titles of sub-second columns.
fn hms_ms(ns: i64, local: bool) -> String {
    format!("{}.{:03}", format_hms(ns, local), ns.rem_euclid(NS_PER_SEC) / NS_PER_MS)
}

/// A `--from`/`--to` value for the instant `ns`: its offset from the
/// recordings' start.
fn offset_spec(origin: i64, ns: i64) -> String {
    format!("+{:.3}s", secs_between(origin, ns))
}

/// A time-axis label: the offset from the window's start.
fn offset_label(ns: i64, start: i64, step: i64) -> String {
    let s = secs_between(start, ns);
    if step % NS_PER_SEC == 0 {
        format!("+{s:.0}s")
    } else {
        format!("+{s:.1}s")
    }
}

/// Layout constants, px.
const LEFT: usize = 110;
const RIGHT: usize = 20;
const TITLE_H: usize = 60;
const MAP_HEAD: usize = 22;
const AXIS_H: usize = 40;
const ROW_H: usize = 16;
const WIDTH_TARGET: usize = 1000;
const MIN_WIDTH: usize = 760;

/// The SVG of the heat maps.
pub fn svg(r: &Heatmap, localtime: bool) -> String {
    let ncols = r.columns.len().max(1);
    let cw = (WIDTH_TARGET / ncols).clamp(2, 24);
    let grid_w = cw * ncols;
    let width = (LEFT + grid_w + RIGHT).max(MIN_WIDTH);
    let (lo, hi) = r.slot_range().unwrap_or((0, 0));
    let row_h = match r.rows {
        Rows::Offsets(n) if n > 25 => ROW_H / 2,
        _ => ROW_H,
    };
    let nrows = hi - lo + 1;
    let map_h = MAP_HEAD + nrows * row_h + AXIS_H;
    let height = TITLE_H + map_h * r.maps.len() + 30;
    let max = r.max_count();
    let unit = r.unit;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r###"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">
<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"###
    );
    let total: u64 = r.maps.iter().map(Map::total).sum();
    let _ = writeln!(
        s,
        r###"<text x="{}" y="22" text-anchor="middle" font-size="16">{} heat map</text>"###,
        width / 2,
        esc(r.of.what())
    );
    let _ = writeln!(
        s,
        r###"<text x="{}" y="42" text-anchor="middle" fill="#555">{} .. {} {} ({}) · columns of {} · rows: {} · {total} {} · at most {max} per cell</text>"###,
        width / 2,
        hms_ms(r.window.start_ns, localtime),
        hms_ms(r.window.end_ns, localtime),
        if localtime { "local" } else { "UTC" },
        format_secs(r.window.end_ns.saturating_sub(r.window.start_ns)),
        format_secs(r.step_ns),
        match r.rows {
            Rows::Log2 => format!("log2 {unit}"),
            Rows::Linear(step) => format!("{step} {unit} each"),
            Rows::Offsets(n) => format!("{} ms offsets within the second", 1000 / n),
        },
        r.of.counted(),
    );
    for (m_i, m) in r.maps.iter().enumerate() {
        let top = TITLE_H + m_i * map_h;
        let grid_top = top + MAP_HEAD;
        let head = match &m.label {
            Some(l) => format!("disk {} ({} {})", l, m.total(), r.of.counted()),
            None => format!("{} {}", m.total(), r.of.counted()),
        };
        let _ = writeln!(
            s,
            r###"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"###,
            top + 15,
            esc(&head)
        );
        let _ = writeln!(
            s,
            r###"<rect x="{LEFT}" y="{grid_top}" width="{grid_w}" height="{}" fill="#f8f8f8" stroke="#ccc"/>"###,
            nrows * row_h
        );
        // Row labels: bcc's ranges for latencies; for offsets, every
        // tenth of a second's row start (all fifty would overlap).
        for slot in lo..=hi {
            let y = grid_top + (hi - slot) * row_h;
            let (low, high) = r.rows.bounds(slot);
            let label = match r.rows {
                Rows::Log2 => format!("{low} -&gt; {high}"),
                Rows::Linear(_) if high == u64::MAX => format!("&#8805; {low}"),
                // Every row would crowd the axis: a label every fifth.
                Rows::Linear(_) if (slot - lo) % 5 != 0 && slot != hi => continue,
                Rows::Linear(_) => format!("{low}"),
                Rows::Offsets(n) if slot % (n / 10).max(1) == 0 => format!("{low}"),
                Rows::Offsets(_) => continue,
            };
            let _ = writeln!(
                s,
                r###"<text x="{}" y="{}" text-anchor="end" fill="#333">{label}</text>"###,
                LEFT - 6,
                y + row_h - 1
            );
        }
        let _ = writeln!(
            s,
            r###"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle" fill="#333">{unit}</text>"###,
            grid_top + nrows * row_h / 2,
            grid_top + nrows * row_h / 2
        );
        let _ = writeln!(s, r###"<g class="cells">"###);
        for (c, h) in m.columns.iter().enumerate() {
            let (a, b, _) = r.columns[c];
            for slot in lo..=hi {
                let n = h.slot(slot);
                if n == 0 {
                    continue;
                }
                let (low, high) = r.rows.bounds(slot);
                let title = match r.rows {
                    Rows::Log2 | Rows::Linear(_) if high != u64::MAX => format!(
                        "{} .. {}, {low} -&gt; {high} {unit}: {n}",
                        hms_ms(a, localtime),
                        hms_ms(b, localtime)
                    ),
                    Rows::Log2 | Rows::Linear(_) => format!(
                        "{} .. {}, &#8805; {low} {unit}: {n}",
                        hms_ms(a, localtime),
                        hms_ms(b, localtime)
                    ),
                    Rows::Offsets(_) => {
                        let from = a + low as i64 * NS_PER_MS;
                        let to = a + (high as i64 + 1) * NS_PER_MS;
                        format!(
                            "{} .. {}: {n} {}; flamegraph --from {} --to {}",
                            hms_ms(from, localtime),
                            hms_ms(to, localtime),
                            r.of.counted(),
                            offset_spec(r.origin_ns, from),
                            offset_spec(r.origin_ns, to)
                        )
                    }
                };
                let _ = writeln!(
                    s,
                    r###"<rect x="{}" y="{}" width="{cw}" height="{row_h}" fill="{}"><title>{title}</title></rect>"###,
                    LEFT + c * cw,
                    grid_top + (hi - slot) * row_h,
                    colour(n, max),
                );
            }
        }
        let _ = writeln!(s, "</g>");
        // The time axis, with the steps that lost events marked.
        let axis_y = grid_top + nrows * row_h;
        let every = 60usize.div_ceil(cw).max(1);
        for (c, &(a, b, lost)) in r.columns.iter().enumerate() {
            let x = LEFT + c * cw;
            if lost > 0 {
                let _ = writeln!(
                    s,
                    r###"<rect x="{x}" y="{}" width="{cw}" height="5" fill="#d00"><title>{} .. {}: {lost} {} events lost; cells may be short</title></rect>"###,
                    axis_y + 2,
                    hms_ms(a, localtime),
                    hms_ms(b, localtime),
                    r.of.name()
                );
            }
            if c % every == 0 {
                let _ = writeln!(
                    s,
                    r###"<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{}" stroke="#999"/><text x="{x}" y="{}" fill="#333">{}</text>"###,
                    axis_y + 10,
                    axis_y + 22,
                    offset_label(a, r.window.start_ns, r.step_ns)
                );
            }
        }
        let _ = writeln!(
            s,
            r###"<text x="{}" y="{}" text-anchor="end" fill="#555">time since {}</text>"###,
            LEFT + grid_w,
            axis_y + 36,
            hms_ms(r.window.start_ns, localtime)
        );
    }
    // The colour scale.
    let ly = height - 18;
    let _ = writeln!(s, r###"<text x="{LEFT}" y="{}" fill="#555">1</text>"###, ly + 9);
    for i in 0..10u64 {
        let n = if max <= 1 { 1 } else { 1 + i * (max - 1) / 9 };
        let _ = writeln!(
            s,
            r###"<rect x="{}" y="{ly}" width="16" height="10" fill="{}"><title>{n}</title></rect>"###,
            LEFT + 12 + i as usize * 16,
            colour(n, max.max(1))
        );
    }
    let _ = writeln!(
        s,
        r###"<text x="{}" y="{}" fill="#555">{max} {} per cell</text>"###,
        LEFT + 12 + 10 * 16 + 4,
        ly + 9,
        r.of.counted()
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_run_from_pale_to_dark() {
        assert_eq!(colour(1, 100), "#ffeda0");
        assert_eq!(colour(100, 100), "#800026");
        assert_eq!(colour(1, 1), "#800026");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
