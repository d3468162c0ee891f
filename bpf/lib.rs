//! `ktape-bpf`: the kernel side of ktape. Placeholder until skeletons land.
