//! The heat maps drawn from rows rather than from a report's histograms:
//! `offcpu` and `profile` (scanned here), and tcpconnlat's connects.

use ktape_format::read::Recording;

use super::{Of, Rows};
use crate::columns;
use crate::common::{Options, Window};
use crate::error::Result;
use crate::hist::{Log2Hist, Slots};
use crate::loss::Loss;
use crate::scan::scan;
use crate::tcp::{self, tcpconnlat::ConnlatOptions, Report, TcpOptions};
use crate::time::NS_PER_SEC;
use crate::window::{interval_bounds, interval_index};

/// One histogram per column from the rows of `offcpu` (log2 of the time
/// blocked, counted at the switch-in) or `profile` (each sample in the
/// row of its offset within its second).
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_rows_into(
    recordings: &[Recording],
    table: &str,
    window: &Window,
    step: i64,
    n: i64,
    common: &Options,
    of: Of,
    rows: Rows,
    scale: i64,
) -> Result<Vec<Log2Hist>> {
    let range = window.range;
    let base = window.start_ns;
    let mut cols = vec!["ts"];
    if of == Of::Offcpu {
        cols.push("duration_ns");
    }
    common.filter.add_columns(&mut cols);
    let n = n as usize;
    scan(
        recordings,
        table,
        range,
        &cols,
        || vec![Log2Hist::default(); n],
        |acc: &mut Vec<Log2Hist>, unit, batch| {
            let path = &unit.segment.path;
            let ts = columns::timestamps(batch, "ts", path)?;
            let dur = if of == Of::Offcpu {
                Some(columns::i64s(batch, "duration_ns", path)?)
            } else {
                None
            };
            let filter = common.filter.prepare(batch, path)?;
            for i in 0..batch.num_rows() {
                if !range.contains(ts[i]) || !filter.keep(i) {
                    continue;
                }
                let Some(col) = usize::try_from(interval_index(ts[i], base, step))
                    .ok()
                    .filter(|&c| c < n)
                else {
                    continue;
                };
                match (rows, dur) {
                    (Rows::Offsets(per_sec), _) => {
                        let off = (ts[i] - interval_bounds(base, step, col as i64).0) as i128;
                        let row = (off * per_sec as i128 / NS_PER_SEC as i128) as usize;
                        acc[col].add_n(row.min(per_sec - 1), 1);
                    }
                    (_, Some(d)) => {
                        if d[i] >= 0 {
                            acc[col].add_in(rows.slots(), (d[i] / scale) as u64);
                        }
                    }
                    (_, None) => {}
                }
            }
            Ok(())
        },
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        },
    )
}


/// One histogram per column of tcpconnlat's connects (every one: no
/// `--min`), each at its move to ESTABLISHED; with the `tcp` loss and
/// the input's warnings.
pub(super) fn tcpconnlat(
    recordings: &[Recording],
    window: &Window,
    step: i64,
    n: i64,
    common: &Options,
    scale: i64,
    slots: Slots,
) -> Result<(Vec<Log2Hist>, Loss, Vec<String>)> {
    let opts = TcpOptions {
        common: common.clone(),
        ip: None,
        report: Report::Connlat(ConnlatOptions::default()),
    };
    let warnings = crate::tables::check(recordings, &crate::tables::Needs::one(opts.report.table()))?;
    let r = tcp::compute(recordings, &opts)?;
    let mut hists = vec![Log2Hist::default(); n.max(0) as usize];
    for l in &r.lines {
        let Some(lat) = l.row.prev_ns.filter(|&p| p >= 0) else {
            continue;
        };
        let col = interval_index(l.row.ts, window.start_ns, step);
        if let Some(h) = usize::try_from(col).ok().and_then(|c| hists.get_mut(c)) {
            h.add_in(slots, (lat / scale) as u64);
        }
    }
    Ok((hists, r.loss, warnings))
}
