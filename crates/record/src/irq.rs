//! The `irq` family: every hard IRQ handler run and softirq run, counted
//! and timed in the kernel per second x CPU x handler (`irq` rows, what
//! bcc's hardirqs and softirqs sum).
//!
//! Nothing goes through the rings: `bpf/irq.bpf.c` adds each run to a hash
//! entry whose key carries the second, and the decoder harvests the
//! seconds that are over with [`crate::seconds::SecondMap`], as `syscall`
//! does; the loaded object hands it the map through [`AGGREGATES`].

use std::os::fd::AsFd;
use std::sync::Mutex;

use ktape_bpf::irq::{IrqSkel, IrqSkelBuilder};
use ktape_format::irq::{softirq_name, KIND_HARD, KIND_SOFT, TABLE};
use ktape_format::TableSpec;
use libbpf_rs::{MapHandle, ProgramMut};

use crate::abi::{self, cstr};
use crate::bpf::{self, BpfError, Flavour};
use crate::columns::{table_columns, DictCol, I32Col, I64Col, I64ListCol, TsCol};
use crate::seconds::{self, SecondMap};
use crate::family::{
    DecodeCtx, DecodeError, Decoder, Family, FamilyOptions, LoadCtx, Loaded, OptionError, Sink,
    Skeleton,
};

pub use ktape_bpf::abi::{IrqAgg, IrqKey};

/// Options of the irq family.
#[derive(Debug, Clone, clap::Args)]
pub struct IrqOptions {
    /// irq: room in the kernel for this many (second, CPU, handler)
    /// counters at once; a run that finds it full is counted as lost
    /// (map_full). A host has tens of handlers per CPU, kept about two
    /// seconds each.
    #[arg(long, value_name = "N", default_value_t = ktape_format::irq::DEFAULT_KEYS)]
    pub irq_keys: u32,
}

impl FamilyOptions for IrqOptions {
    fn validate(&mut self) -> Result<(), OptionError> {
        if !(256..=1 << 20).contains(&self.irq_keys) {
            return Err(OptionError(format!(
                "--irq-keys must be between 256 and {}, not {}",
                1 << 20,
                self.irq_keys
            )));
        }
        Ok(())
    }
}

/// The aggregate map of the loaded object, for the decoder (set by
/// [`Family::load`], taken by [`Family::decoder`]).
static AGGREGATES: Mutex<Option<MapHandle>> = Mutex::new(None);

/// The `irq` family.
pub struct Irq;

/// The one instance (listed in [`crate::family::FAMILIES`]).
pub static FAMILY: Irq = Irq;

/// Its options (`crate::family::registry!` flattens them into the command line).
pub type Options = IrqOptions;

static TABLES: [&TableSpec; 1] = [&TABLE];

impl Family for Irq {
    fn name(&self) -> &'static str {
        "irq"
    }
    fn about(&self) -> &'static str {
        "hard IRQ and softirq handler runs, counted and timed per second and CPU in the kernel"
    }
    fn id(&self) -> u32 {
        abi::FAMILY_IRQ
    }
    fn kinds(&self) -> &'static [u32] {
        &[]
    }
    fn tables(&self) -> &'static [&'static TableSpec] {
        &TABLES
    }

    fn load(&self, ctx: &LoadCtx) -> Result<Box<dyn Loaded>, BpfError> {
        let attached = bpf::with_fallback(|flavour| {
            let obj = bpf::Object {
                family: "irq",
                hooks: flavour.name(),
                flavour,
                skip: &[],
                stacks: false,
            };
            let keys = ctx.options.irq.irq_keys;
            obj.attached(ctx, IrqSkelBuilder::default(), |open| {
                let _ = open.maps.ktape_irq_agg.set_max_entries(keys);
            })
        })?;
        let handle = seconds::handle(attached.skel().maps.ktape_irq_agg.as_fd(), "ktape_irq_agg")?;
        *AGGREGATES.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(Box::new(attached))
    }

    fn decoder(&self, ctx: &DecodeCtx) -> Box<dyn Decoder> {
        let map = AGGREGATES.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::new(IrqDecoder::new(ctx, map))
    }
}

impl Skeleton for IrqSkel<'static> {
    /// Exits first, so that no entry waits for an exit hook that is not
    /// there yet.
    fn programs(&self, flavour: Flavour) -> Vec<&ProgramMut<'static>> {
        let p = &self.progs;
        match flavour {
            Flavour::TpBtf => vec![
                &p.ktape_hardirq_exit,
                &p.ktape_softirq_exit,
                &p.ktape_hardirq_entry,
                &p.ktape_softirq_entry,
            ],
            Flavour::RawTp => vec![
                &p.ktape_hardirq_exit_raw,
                &p.ktape_softirq_exit_raw,
                &p.ktape_hardirq_entry_raw,
                &p.ktape_softirq_entry_raw,
            ],
        }
    }

    fn own_maps(&self) -> Vec<u32> {
        let m = &self.maps;
        [m.ktape_irq_start.as_fd(), m.ktape_irq_agg.as_fd()]
            .into_iter()
            .filter_map(bpf::map_id)
            .collect()
    }
}

table_columns! {
    /// Columns of `irq`, in column order.
    pub struct IrqColumns for TABLE;
    ts: TsCol,
    cpu: I32Col,
    kind: DictCol,
    irq: I32Col,
    name: DictCol,
    count: I64Col,
    total_ns: I64Col,
    max_ns: I64Col,
    ns_hist: I64ListCol,
    us_hist: I64ListCol,
}

/// Harvests the aggregate map into `irq` batches at each flush.
pub struct IrqDecoder {
    cols: IrqColumns,
    map: SecondMap<IrqKey, IrqAgg>,
    offset_ns: i64,
}

impl IrqDecoder {
    fn new(ctx: &DecodeCtx, map: Option<MapHandle>) -> Self {
        IrqDecoder {
            cols: IrqColumns::with_capacity(0),
            map: SecondMap::new("irq", map),
            offset_ns: ctx.clock_offset_ns,
        }
    }

    /// Moves the entries of the seconds that are over (all of them when
    /// `last`) from the map into rows.
    fn harvest(&mut self, now_mono_ns: i64, last: bool) {
        let entries = self.map.harvest(now_mono_ns, last, |k| k.sec);
        entries.sort_unstable_by_key(|(k, _)| (k.sec, k.cpu, k.kind, k.irq, k.handler));
        for (k, a) in entries.iter() {
            append(&mut self.cols, k, a, self.offset_ns);
        }
    }

    fn hand_over(&mut self, sink: &mut Sink<'_>, last: bool) {
        self.harvest(crate::clock::mono_now_ns(), last);
        if self.cols.rows() > 0 {
            sink(&TABLE, self.cols.take_batch());
        }
    }
}

fn append(c: &mut IrqColumns, k: &IrqKey, a: &IrqAgg, offset_ns: i64) {
    c.ts.append_value(k.sec as i64 * 1_000_000_000 + offset_ns);
    c.cpu.append_value(k.cpu as i32);
    if k.kind == abi::IRQ_SOFT {
        c.kind.append_value(KIND_SOFT);
        c.name.append_value(softirq_name(k.irq));
    } else {
        c.kind.append_value(KIND_HARD);
        let name = cstr(&a.name);
        c.name.append_value(if name.is_empty() { "?" } else { name.as_ref() });
    }
    c.irq.append_value(k.irq as i32);
    c.count.append_value(a.count as i64);
    c.total_ns.append_value(a.total_ns as i64);
    c.max_ns.append_value(a.max_ns as i64);
    for (col, hist) in [(&mut c.ns_hist, &a.ns_hist), (&mut c.us_hist, &a.us_hist)] {
        let used = hist.iter().rposition(|&n| n != 0).map_or(0, |i| i + 1);
        col.append_row(hist[..used].iter().map(|&n| n as i64));
    }
}

impl Decoder for IrqDecoder {
    fn decode(&mut self, rec: &[u8]) -> Result<(), DecodeError> {
        // The family puts nothing in the rings; a record here was routed
        // by a kind this family does not have.
        Err(DecodeError::Short {
            family: "irq",
            got: rec.len(),
            want: 0,
        })
    }

    fn end_cycle(&mut self, _sink: &mut Sink<'_>) {}

    fn flush(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink, false);
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        self.hand_over(sink, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    #[test]
    fn aggregates_become_rows_with_names_and_histograms() {
        let mut c = IrqColumns::with_capacity(0);
        let hard = IrqKey {
            sec: 3,
            cpu: 1,
            kind: abi::IRQ_HARD,
            irq: 24,
            handler: 0xffff_0000,
        };
        let mut a = IrqAgg {
            count: 5,
            total_ns: 5000,
            max_ns: 2000,
            ..Default::default()
        };
        a.ns_hist[9] = 3;
        a.ns_hist[10] = 2;
        a.us_hist[0] = 4;
        a.us_hist[1] = 1;
        a.name[..7].copy_from_slice(b"virtio0");
        append(&mut c, &hard, &a, 10);
        let soft = IrqKey {
            kind: abi::IRQ_SOFT,
            irq: 3,
            handler: 0,
            ..hard
        };
        append(&mut c, &soft, &IrqAgg::default(), 10);
        let b = c.take_batch();
        assert_eq!(b.schema(), TABLE.schema());
        let name = b.column(4).as_dictionary::<arrow_array::types::Int32Type>();
        let values = name.values().as_string::<i32>();
        let at = |i: usize| values.value(name.keys().value(i) as usize).to_string();
        assert_eq!(at(0), "virtio0");
        assert_eq!(at(1), "net_rx");
        let ts = b.column(0).as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(ts.value(0), 3_000_000_010);
        let h = b.column(8).as_list::<i32>();
        let first = h.value(0);
        let first = first.as_primitive::<Int64Type>();
        assert_eq!(first.len(), 11, "trailing zeros left out");
        assert_eq!(first.value(9), 3);
        assert_eq!(h.value(1).len(), 0);
    }
}
