//! `ktape-bpf`: the kernel side of ktape, as libbpf-rs skeletons.
//!
//! `build.rs` compiles every `bpf/<family>.bpf.c` into `<family>.skel.rs`;
//! each is exposed here as a module named after its family. The shared
//! definitions (record kinds, loss reasons, normalized codes, record
//! layouts) live in `bpf/ktape.h`, which [`KTAPE_H`] carries so the
//! recorder's tests can check it against `ktape-format`.
//!
//! On hosts other than Linux this crate is empty.

/// The text of `bpf/ktape.h`, for the recorder's header/constant sync test.
pub const KTAPE_H: &str = include_str!("ktape.h");

/// Skeleton of `bpf/bio.bpf.c`: block requests, paired in the kernel.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod bio {
    include!(concat!(env!("OUT_DIR"), "/bio.skel.rs"));
}

/// Skeleton of `bpf/exec.bpf.c`: execs (with arguments) and task exits.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod exec {
    include!(concat!(env!("OUT_DIR"), "/exec.skel.rs"));
}

/// Skeleton of `bpf/sched.bpf.c`: raw sched_switch and sched_wakeup records.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod sched {
    include!(concat!(env!("OUT_DIR"), "/sched.skel.rs"));
}

/// Skeleton of `bpf/tcp.bpf.c`: TCP state transitions, accepts and
/// retransmits.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod tcp {
    include!(concat!(env!("OUT_DIR"), "/tcp.skel.rs"));
}

/// Skeleton of `bpf/profile.bpf.c`: CPU samples with stack ids.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod profile {
    include!(concat!(env!("OUT_DIR"), "/profile.skel.rs"));
}

/// Skeleton of `bpf/offcpu.bpf.c`: off-CPU episodes with stack ids.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod offcpu {
    include!(concat!(env!("OUT_DIR"), "/offcpu.skel.rs"));
}

/// Skeleton of `bpf/runqlen.bpf.c`: per-CPU run-queue length samples.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod runqlen {
    include!(concat!(env!("OUT_DIR"), "/runqlen.skel.rs"));
}

/// Skeleton of `bpf/opens.bpf.c`: open/openat/openat2 calls (the `open`
/// family; a skeleton named `open` would clash with libbpf-rs's
/// `OpenSkel` trait).
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod opens {
    include!(concat!(env!("OUT_DIR"), "/opens.skel.rs"));
}

/// Skeleton of `bpf/fileio.bpf.c`: reads, writes and syncs of regular
/// files.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod fileio {
    include!(concat!(env!("OUT_DIR"), "/fileio.skel.rs"));
}

/// Skeleton of `bpf/cache.bpf.c`: per-CPU page-cache counters.
#[cfg(target_os = "linux")]
#[allow(
    clippy::all,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
pub mod cache {
    include!(concat!(env!("OUT_DIR"), "/cache.skel.rs"));
}
