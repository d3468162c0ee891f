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

skeleton!(
    /// Skeleton of `bpf/bio.bpf.c`: block requests, paired in the kernel.
    bio
);

skeleton!(
    /// Skeleton of `bpf/exec.bpf.c`: execs (with arguments) and task exits.
    exec
);

skeleton!(
    /// Skeleton of `bpf/sched.bpf.c`: raw sched_switch and sched_wakeup records.
    sched
);

skeleton!(
    /// Skeleton of `bpf/tcp.bpf.c`: TCP state transitions, accepts and
    /// retransmits.
    tcp
);

skeleton!(
    /// Skeleton of `bpf/profile.bpf.c`: CPU samples with stack ids.
    profile
);

skeleton!(
    /// Skeleton of `bpf/offcpu.bpf.c`: off-CPU episodes with stack ids.
    offcpu
);

skeleton!(
    /// Skeleton of `bpf/runqlen.bpf.c`: per-CPU run-queue length samples.
    runqlen
);

skeleton!(
    /// Skeleton of `bpf/open.bpf.c`: open/openat/openat2 calls. Its types
    /// are `KtapeOpen*` (see `build.rs`): `OpenSkel` would clash with
    /// libbpf-rs's trait of that name.
    open
);

skeleton!(
    /// Skeleton of `bpf/fileio.bpf.c`: reads, writes and syncs of regular
    /// files.
    fileio
);

skeleton!(
    /// Skeleton of `bpf/cache.bpf.c`: per-CPU page-cache counters.
    cache
);
