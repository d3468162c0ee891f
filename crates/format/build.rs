//! Lists `src/tables/*.rs` for `lib.rs`: every file there is a table
//! module (its `TableSpec`s and a `TABLES` list), declared and re-exported
//! at the crate root and listed by `tables()` without a line elsewhere, so
//! a new table cannot be written and yet missing from the list readers,
//! docs and hints go by.

use std::path::Path;

fn main() {
    let dir = Path::new("src/tables");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut modules: Vec<String> = std::fs::read_dir(dir)
        .expect("src/tables/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?;
            let ident = !stem.is_empty()
                && stem
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            assert!(
                ident,
                "src/tables/{name}: a table module's name is a lowercase Rust identifier"
            );
            Some(stem.to_string())
        })
        .collect();
    modules.sort();
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("tables.rs");
    let code = format!(
        "/// Calls `$m!` with every table module in `src/tables/`, sorted by name.\n\
         macro_rules! with_table_modules {{ ($m:ident) => {{ $m! {{ {} }} }}; }}\n",
        modules.join(" ")
    );
    std::fs::write(out, code).expect("writing tables.rs");
}
