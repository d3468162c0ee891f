//! Compiles every `bpf/*.bpf.c` into a libbpf-rs skeleton in `OUT_DIR`,
//! lists them for `bpf/lib.rs` (`skeletons.rs`, one module per file, its
//! doc the first paragraph of the file's header comment), and generates the
//! Rust side of `bpf/ktape.h` (`abi.rs`, see `build/abi.rs`). On hosts
//! other than Linux there is nothing to build: the analyzer and the format
//! crate must still build there.

#[cfg(target_os = "linux")]
#[path = "build/abi.rs"]
mod abi;

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
        println!("cargo:rerun-if-changed=build");
        let header = std::fs::read_to_string("bpf/ktape.h").expect("bpf/ktape.h");
        let abi = super::abi::generate(&header).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(out.join("abi.rs"), abi).expect("writing abi.rs");
        let mut sources: Vec<PathBuf> = std::fs::read_dir("bpf")
            .expect("bpf/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
            .collect();
        sources.sort();
        let mut list = String::new();
        for src in sources {
            let stem = src
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".bpf.c")
                .to_string();
            let skel = out.join(format!("{stem}.skel.rs"));
            // The generated types are named after the object: the `open`
            // family's would include `OpenSkel`, which the generated code
            // also imports from libbpf-rs, so its object is `ktape_open`.
            let object = if stem == "open" {
                "ktape_open"
            } else {
                stem.as_str()
            };
            // libbpf-cargo names the types after the object, CamelCase.
            let camel: String = object
                .split('_')
                .map(|w| w[..1].to_uppercase() + &w[1..])
                .collect();
            let mut builder = SkeletonBuilder::new();
            if object != stem {
                builder.obj(out.join(format!("{object}.o")));
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
            let text = std::fs::read_to_string(&src).expect("reading a bpf source");
            let mut doc = summary(&text);
            if object != stem {
                doc.push(String::new());
                doc.push(format!(
                    "Its types are `{camel}*`: `OpenSkel` would clash with"
                ));
                doc.push("libbpf-rs's trait of that name.".into());
            }
            list.push_str(&format!(
                "skeleton!(\n    /// Skeleton of `bpf/{stem}.bpf.c`.\n    ///\n{}    {stem}, Open{camel}Skel\n);\n",
                doc.iter()
                    .map(|l| format!("    /// {l}\n").replace("/// \n", "///\n"))
                    .collect::<String>()
            ));
        }
        std::fs::write(out.join("skeletons.rs"), list).expect("writing skeletons.rs");
    }

    /// The first paragraph of a BPF source's header comment (the one after
    /// the SPDX line).
    fn summary(text: &str) -> Vec<String> {
        let Some(start) = text.find("/*") else {
            return Vec::new();
        };
        super::abi::comment_lines(&text[start..])
            .into_iter()
            .skip_while(|l| l.is_empty())
            .take_while(|l| !l.is_empty())
            .collect()
    }
}
