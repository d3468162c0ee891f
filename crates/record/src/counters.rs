//! The kernel's own counters, read at every segment boundary into the
//! `counters` table (see `ktape_format::counters` for why).
//!
//! Which counters are read follows the families recorded: `/proc/diskstats`
//! for bio, `/proc/net/snmp` for tcp, `/proc/stat`'s `ctxt` for sched.
//! Reading them costs a few file reads per boundary.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringDictionaryBuilder, TimestampNanosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use ktape_format::counters::{self as c, TABLE};
use ktape_format::schema::UTC;

/// One counter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub source: &'static str,
    pub device: String,
    pub name: &'static str,
    pub value: i64,
    /// When reading its file began, wall-clock ns.
    pub ts_ns: i64,
    /// How long reading its file took, ns.
    pub read_ns: i64,
}

/// Counters read at one boundary.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub counters: Vec<Counter>,
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Whole disks (names in /sys/block) whose diskstats to read.
    disks: Option<Vec<String>>,
    snmp: bool,
    ctxt: bool,
    /// The recording's clock offset: reads are stamped like rows
    /// (monotonic plus offset), not with the wall clock, which NTP may
    /// slew or step during the recording.
    offset_ns: i64,
}

impl Counters {
    /// The counters that check these families.
    pub fn for_families(names: &[&str], offset_ns: i64) -> Counters {
        let has = |f| names.contains(&f);
        Counters {
            disks: has("bio").then(whole_disks),
            snmp: has("tcp"),
            ctxt: has("sched"),
            offset_ns,
        }
    }

    /// Whether there is anything to read.
    pub fn is_empty(&self) -> bool {
        self.disks.is_none() && !self.snmp && !self.ctxt
    }

    /// Reads them now. A file that cannot be read gives no rows (the
    /// cross-check then says it has nothing to compare).
    pub fn read(&self) -> Snapshot {
        let mut out = Vec::new();
        let timed = |path: &str, out: &mut Vec<Counter>, parse: &dyn Fn(&str) -> Vec<Counter>| {
            let t0 = crate::clock::mono_now_ns();
            let ts_ns = t0 + self.offset_ns;
            let Ok(t) = std::fs::read_to_string(path) else {
                return;
            };
            // Values come from the moment the kernel rendered the file:
            // somewhere between when we began and now.
            let read_ns = crate::clock::mono_now_ns() - t0;
            out.extend(parse(&t).into_iter().map(|mut c| {
                c.ts_ns = ts_ns;
                c.read_ns = read_ns;
                c
            }));
        };
        if let Some(disks) = &self.disks {
            timed("/proc/diskstats", &mut out, &|t| parse_diskstats(t, disks));
        }
        if self.snmp {
            timed("/proc/net/snmp", &mut out, &parse_snmp);
        }
        if self.ctxt {
            timed("/proc/stat", &mut out, &parse_ctxt);
        }
        Snapshot { counters: out }
    }
}

/// The whole disks of this machine (partitions are left out: the bio
/// table names whole disks).
fn whole_disks() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `/proc/diskstats` lines of the given disks.
pub fn parse_diskstats(text: &str, disks: &[String]) -> Vec<Counter> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 || !disks.iter().any(|d| d == f[2]) {
            continue;
        }
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
        let mut push = |name, i| {
            if let Some(v) = num(i) {
                out.push(Counter {
                    source: c::SOURCE_DISKSTATS,
                    device: f[2].to_string(),
                    name,
                    value: v,
                    ts_ns: 0,
                    read_ns: 0,
                });
            }
        };
        push(c::READS, 3);
        push(c::WRITES, 7);
        push(c::IN_FLIGHT, 11);
        push(c::DISCARDS, 14);
        push(c::FLUSHES, 18);
    }
    out
}

/// The `Tcp:` counters of `/proc/net/snmp` the cross-checks use.
pub fn parse_snmp(text: &str) -> Vec<Counter> {
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (n, v) in names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
    {
        let name = match n {
            "ActiveOpens" => c::ACTIVE_OPENS,
            "PassiveOpens" => c::PASSIVE_OPENS,
            "RetransSegs" => c::RETRANS_SEGS,
            "CurrEstab" => c::CURR_ESTAB,
            _ => continue,
        };
        if let Ok(value) = v.parse() {
            out.push(Counter {
                source: c::SOURCE_SNMP,
                device: String::new(),
                name,
                value,
                ts_ns: 0,
                read_ns: 0,
            });
        }
    }
    out
}

/// `ctxt` of `/proc/stat`.
pub fn parse_ctxt(text: &str) -> Vec<Counter> {
    text.lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|v| v.trim().parse().ok())
        .map(|value| Counter {
            source: c::SOURCE_STAT,
            device: String::new(),
            name: c::CTXT,
            value,
            ts_ns: 0,
            read_ns: 0,
        })
        .into_iter()
        .collect()
}

/// A snapshot as `counters` rows.
pub fn batch(snap: &Snapshot) -> RecordBatch {
    let counters = &snap.counters;
    let mut ts = TimestampNanosecondBuilder::new().with_timezone(UTC);
    let mut source = StringDictionaryBuilder::<Int32Type>::new();
    let mut device = StringDictionaryBuilder::<Int32Type>::new();
    let mut name = StringDictionaryBuilder::<Int32Type>::new();
    let mut value = Int64Builder::new();
    let mut read_ns = Int64Builder::new();
    for k in counters {
        ts.append_value(k.ts_ns);
        source.append_value(k.source);
        device.append_value(&k.device);
        name.append_value(k.name);
        value.append_value(k.value);
        read_ns.append_value(k.read_ns);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(source.finish()),
        Arc::new(device.finish()),
        Arc::new(name.finish()),
        Arc::new(value.finish()),
        Arc::new(read_ns.finish()),
    ];
    RecordBatch::try_new(TABLE.schema(), cols).expect("counters builders match the table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats() {
        let t = " 254       0 vda 10 1 200 30 40 2 300 50 3 60 70 5 0 8 9 6 11\n \
                 254       1 vda1 9 1 200 30 39 2 300 50 0 60 70 5 0 8 9 0 0\n";
        let got = parse_diskstats(t, &["vda".into()]);
        let v: Vec<(&str, i64)> = got.iter().map(|c| (c.name, c.value)).collect();
        assert_eq!(
            v,
            vec![
                (c::READS, 10),
                (c::WRITES, 40),
                (c::IN_FLIGHT, 3),
                (c::DISCARDS, 5),
                (c::FLUSHES, 6)
            ]
        );
        assert!(got.iter().all(|c| c.device == "vda"));
        // An old kernel without discard and flush fields.
        let old = " 8 0 sda 10 1 200 30 40 2 300 50 3 60 70\n";
        assert_eq!(parse_diskstats(old, &["sda".into()]).len(), 3);
    }

    #[test]
    fn snmp_and_stat() {
        let t = "Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\nTcp: 1 200 120000 -1 31 29 0 0 4 100 100 7 0 0 0\n";
        let v: Vec<(&str, i64)> = parse_snmp(t).iter().map(|c| (c.name, c.value)).collect();
        assert_eq!(
            v,
            vec![
                (c::ACTIVE_OPENS, 31),
                (c::PASSIVE_OPENS, 29),
                (c::CURR_ESTAB, 4),
                (c::RETRANS_SEGS, 7)
            ]
        );
        let s = "cpu  1 2 3\nintr 5\nctxt 123456\nbtime 1\n";
        assert_eq!(parse_ctxt(s)[0].value, 123456);
        let snap = Snapshot {
            counters: parse_ctxt(s),
        };
        assert_eq!(batch(&snap).num_rows(), 1);
    }
}
