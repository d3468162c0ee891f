//! Lists the event families for `main.rs`: a family is named by its BPF
//! file, `bpf/X.bpf.c` at the workspace root, and its recorder side is
//! `src/X.rs` (its `FAMILY` and `Options`). The list `with_families!`
//! hands to `family::registry!` is that folder in name order, so a new
//! family needs no line in a list, and a BPF file without its module (or
//! the other way round) stops the build with a message instead of being
//! left out.

use std::path::Path;

fn main() {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let manifest = Path::new(&manifest);
    let bpf = manifest.join("../../bpf");
    println!("cargo:rerun-if-changed={}", bpf.display());
    println!("cargo:rerun-if-changed=src");
    let mut families: Vec<String> = std::fs::read_dir(&bpf)
        .unwrap_or_else(|e| panic!("{}: {e}", bpf.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".bpf.c")?.to_string())
        })
        .collect();
    families.sort();
    for f in &families {
        let ident = !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(
            ident,
            "bpf/{f}.bpf.c: a family's name is a lowercase Rust identifier"
        );
        let module = manifest.join("src").join(format!("{f}.rs"));
        assert!(
            module.exists(),
            "bpf/{f}.bpf.c has no recorder module: add crates/record/src/{f}.rs with its \
             `FAMILY` and `Options` (see CONTRIBUTING.md)"
        );
    }
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("families.rs");
    let code = format!(
        "/// Calls `$m!` with every family (each `bpf/X.bpf.c`, in name order)\n\
         /// followed by the tokens given.\n\
         macro_rules! with_families {{\n    ($m:ident {{ $($rest:tt)* }}) => {{\n        \
         $m! {{ families: [{}] $($rest)* }}\n    }};\n}}\n",
        families.join(" ")
    );
    std::fs::write(out, code).expect("writing families.rs");
}
