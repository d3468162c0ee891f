//! The per-CPU ring buffers and loss counters every family shares.
//!
//! One ring per possible CPU, not one shared ring: a shared ring's
//! reservation lock is contended by every CPU at high event rates, and a
//! single consumer position is where other recorders start losing events.
//! The rings sit in an `ARRAY_OF_MAPS` indexed by CPU, created here (so
//! their size is a run-time option) and handed to every family's BPF object
//! with `reuse_fd`, so all families write into the same rings.

use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType, OpenMapMut};

use crate::abi;
use crate::bpf::BpfError;

/// Shared rings and loss counters.
pub struct Rings {
    outer: MapHandle,
    inner: Vec<MapHandle>,
    loss: MapHandle,
    ids: Vec<u32>,
    /// Bytes per ring.
    pub ring_size: u32,
}

fn create_opts() -> libbpf_rs::libbpf_sys::bpf_map_create_opts {
    libbpf_rs::libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
        ..Default::default()
    }
}

impl Rings {
    /// Creates `ncpus` rings of `ring_size` bytes (a power of two, at
    /// least a page) and the loss counters.
    pub fn create(ncpus: usize, ring_size: u32) -> Result<Rings, BpfError> {
        let mut inner = Vec::with_capacity(ncpus);
        for _ in 0..ncpus {
            let ring = MapHandle::create(
                MapType::RingBuf,
                Some("ktape_ring"),
                0,
                0,
                ring_size,
                &create_opts(),
            )
            .map_err(|source| BpfError::Map {
                map: "ktape_ring (per-CPU ring buffer)",
                source,
            })?;
            inner.push(ring);
        }
        let mut opts = create_opts();
        opts.inner_map_fd = inner[0].as_fd().as_raw_fd() as u32;
        let outer = MapHandle::create(
            MapType::ArrayOfMaps,
            Some("ktape_rings"),
            4,
            4,
            ncpus as u32,
            &opts,
        )
        .map_err(|source| BpfError::Map {
            map: "ktape_rings",
            source,
        })?;
        for (cpu, ring) in inner.iter().enumerate() {
            let fd = ring.as_fd().as_raw_fd() as u32;
            outer
                .update(
                    &(cpu as u32).to_ne_bytes(),
                    &fd.to_ne_bytes(),
                    MapFlags::ANY,
                )
                .map_err(|source| BpfError::Map {
                    map: "ktape_rings",
                    source,
                })?;
        }
        let loss = MapHandle::create(
            MapType::PercpuArray,
            Some("ktape_loss"),
            4,
            8,
            abi::MAX_FAMILIES * abi::LOSS_REASONS,
            &create_opts(),
        )
        .map_err(|source| BpfError::Map {
            map: "ktape_loss",
            source,
        })?;
        let ids = inner
            .iter()
            .chain([&outer, &loss])
            .filter_map(|m| crate::bpf::map_id(m.as_fd()))
            .collect();
        Ok(Rings {
            outer,
            inner,
            loss,
            ids,
            ring_size,
        })
    }

    /// Unread bytes above which a BPF submit wakes the reader (half a
    /// ring): every family sets it as `ktape_wakeup_bytes` in its rodata
    /// (see `ktape_wakeup_flag` in bpf/ktape.h).
    pub fn wakeup_bytes(&self) -> u64 {
        u64::from(self.ring_size) / 2
    }

    /// Kernel ids of the shared maps, rings included.
    pub fn map_ids(&self) -> &[u32] {
        &self.ids
    }

    /// Points a family object's declared `ktape_rings` and `ktape_loss` at
    /// the shared maps, before it is loaded.
    pub fn share_with(
        &self,
        rings: &mut OpenMapMut<'_>,
        loss: &mut OpenMapMut<'_>,
    ) -> Result<(), libbpf_rs::Error> {
        rings.set_inner_map_fd(self.inner[0].as_fd())?;
        rings.set_max_entries(self.inner.len() as u32)?;
        rings.reuse_fd(self.outer.as_fd())?;
        loss.reuse_fd(self.loss.as_fd())?;
        Ok(())
    }

    /// The rings, for the drain thread. They stay alive in the kernel as
    /// long as the outer map holds them, whichever side closes first.
    pub fn take_rings(&mut self) -> Vec<MapHandle> {
        std::mem::take(&mut self.inner)
    }

    /// Current loss counters of a family: `[reason][cpu]`, cumulative.
    pub fn read_loss(&self, family: u32) -> Result<Vec<Vec<u64>>, libbpf_rs::Error> {
        abi::REASONS
            .iter()
            .map(|&(reason, _)| {
                let key = abi::loss_key(family, reason).to_ne_bytes();
                let per_cpu = self
                    .loss
                    .lookup_percpu(&key, MapFlags::ANY)?
                    .unwrap_or_default();
                Ok(per_cpu
                    .iter()
                    .map(|v| {
                        v.get(..8)
                            .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(0)
                    })
                    .collect())
            })
            .collect()
    }
}
