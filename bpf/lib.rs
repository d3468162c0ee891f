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

/// A module holding the generated skeleton of `bpf/<name>.bpf.c`.
macro_rules! skeleton {
    ($(#[$doc:meta])* $name:ident) => {
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
    };
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
