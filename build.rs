//! Compiles every `bpf/*.bpf.c` into a libbpf-rs skeleton in `OUT_DIR`.
//! On hosts other than Linux there is nothing to build: the analyzer and the
//! format crate must still build there.

fn main() {
    #[cfg(target_os = "linux")]
    linux::build();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;

    use libbpf_cargo::SkeletonBuilder;

    pub fn build() {
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
        let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("x86_64") => "x86",
            Ok("aarch64") => "arm64",
            Ok(other) => panic!("no vendored vmlinux.h for target arch {other}"),
            Err(_) => "x86",
        };
        let vmlinux = PathBuf::from("bpf/vmlinux").join(arch);
        println!("cargo:rerun-if-changed=bpf");
        let mut sources: Vec<PathBuf> = std::fs::read_dir("bpf")
            .expect("bpf/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
            .collect();
        sources.sort();
        for src in sources {
            let stem = src
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".bpf.c")
                .to_string();
            let skel = out.join(format!("{stem}.skel.rs"));
            let mut builder = SkeletonBuilder::new();
            // The generated types are named after the object: the `open`
            // family's would include `OpenSkel`, which the generated code
            // also imports from libbpf-rs, so its object is `ktape_open`.
            if stem == "open" {
                builder.obj(out.join("ktape_open.o"));
            }
            builder
                .source(&src)
                .clang_args([
                    "-I".as_ref(),
                    vmlinux.as_os_str(),
                    "-I".as_ref(),
                    "bpf".as_ref(),
                    "-Wall".as_ref(),
                    "-Wno-unused-function".as_ref(),
                ])
                .build_and_generate(&skel)
                .unwrap_or_else(|e| panic!("compiling {}: {e:#}", src.display()));
        }
    }
}
