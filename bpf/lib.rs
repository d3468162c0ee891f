//! `ktape-bpf`: the kernel side of ktape, as libbpf-rs skeletons.
//!
//! `build.rs` compiles every `bpf/<family>.bpf.c` into `<family>.skel.rs`;
//! each is exposed here as a module named after its family (adding a file
//! adds the module). The shared definitions (record kinds, family ids,
//! loss reasons, normalized codes, record layouts) live in `bpf/ktape.h`
//! alone: [`abi`] is generated from it (its `DEFINES` let the recorder's
//! tests check the codes that `ktape-format`, which has no BPF dependency,
//! also defines).
//!
//! On hosts other than Linux this crate is empty.

/// A module holding the generated skeleton of `bpf/<name>.bpf.c`, and the
/// [`CommonRodata`] of its open skeleton.
macro_rules! skeleton {
    ($(#[$doc:meta])* $name:ident, $open:ident) => {
        $(#[$doc])*
        #[cfg(target_os = "linux")]
        #[allow(
            clippy::all,
            missing_docs,
            non_camel_case_types,
            non_snake_case,
            non_upper_case_globals,
            dead_code
        )]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".skel.rs"));
        }

        #[cfg(target_os = "linux")]
        impl CommonRodata for $name::$open<'_> {
            fn set_common(&mut self, targ_tgid: u32, wakeup_bytes: u64) {
                if let Some(ro) = self.maps.rodata_data.as_deref_mut() {
                    ro.targ_tgid = targ_tgid;
                    ro.ktape_wakeup_bytes = wakeup_bytes;
                }
            }
        }
    };
}

/// The read-only constants every object has (declared in `bpf/ktape.h`),
/// so that one load path sets them for every family.
pub trait CommonRodata {
    /// Sets `targ_tgid` (`-p`, 0 for all) and `ktape_wakeup_bytes` (the
    /// unread bytes above which a submit wakes the reader).
    fn set_common(&mut self, targ_tgid: u32, wakeup_bytes: u64);
}

// One `skeleton!` per `bpf/*.bpf.c`, listed by `build.rs`.
#[cfg(target_os = "linux")]
include!(concat!(env!("OUT_DIR"), "/skeletons.rs"));

/// The Rust side of `bpf/ktape.h`, generated from it by `build/abi.rs`:
/// every `KTAPE_*` define as a `u32` without its prefix, every
/// `struct ktape_*` as a `#[repr(C)]` [`plain::Plain`] twin named in
/// CamelCase (`struct ktape_sched_switch_event` is [`abi::SchedSwitchEvent`]).
#[cfg(target_os = "linux")]
pub mod abi {
    include!(concat!(env!("OUT_DIR"), "/abi.rs"));
}
