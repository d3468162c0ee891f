//! `formats/` is the human spec of the recording format. This test keeps it
//! in step with the code: each table's column list in `formats/<table>.md`
//! and the metadata key list in `formats/README.md` must be exactly what
//! `ktape-format` renders. `KTAPE_BLESS=1 cargo test -p ktape-format`
//! rewrites the generated sections (the prose around them is kept).

use std::path::{Path, PathBuf};

const BEGIN: &str =
    "<!-- generated:begin (KTAPE_BLESS=1 cargo test -p ktape-format rewrites this) -->\n";
const END: &str = "<!-- generated:end -->\n";
/// The second generated section of `formats/README.md`: the list of tables.
const TABLES_BEGIN: &str =
    "<!-- generated:tables:begin (KTAPE_BLESS=1 cargo test -p ktape-format rewrites this) -->\n";
const TABLES_END: &str = "<!-- generated:tables:end -->\n";

fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats")
}

fn check_section(path: &Path, want: &str) -> Result<(), String> {
    check_marked(path, BEGIN, END, want)
}

fn check_marked(path: &Path, begin: &str, end: &str, want: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (every table needs a formats/<table>.md)",
            path.display()
        )
    })?;
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        return Err(format!(
            "{}: no generated section markers {}",
            path.display(),
            begin.trim_end()
        ));
    };
    let have = &text[b + begin.len()..e];
    if have == want {
        return Ok(());
    }
    if std::env::var_os("KTAPE_BLESS").is_some() {
        let new = format!("{}{begin}{want}{}", &text[..b], &text[e..]);
        std::fs::write(path, new).unwrap();
        return Ok(());
    }
    Err(format!(
        "{} disagrees with crates/format.\n--- in the doc ---\n{have}\n--- from the code ---\n{want}\n\
         Update the code or the doc; KTAPE_BLESS=1 rewrites the doc's generated section.",
        path.display()
    ))
}

#[test]
fn every_table_is_documented_exactly() {
    let mut errors = Vec::new();
    for t in ktape_format::tables() {
        let want = format!(
            "Table `{}` (family `{}`): {} per row.\n\n{}",
            t.name,
            t.family,
            t.row,
            t.markdown_columns()
        );
        if let Err(e) = check_section(&formats_dir().join(format!("{}.md", t.name)), &want) {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

#[test]
fn metadata_keys_are_documented_exactly() {
    let mut want = format!(
        "Format version written by this build: `{}`.\n\n| key | meaning |\n| --- | --- |\n",
        ktape_format::FORMAT_VERSION
    );
    for (k, doc) in ktape_format::meta::KEYS {
        want.push_str(&format!("| `{k}` | {doc} |\n"));
    }
    check_section(&formats_dir().join("README.md"), &want).unwrap();
}

#[test]
fn every_table_is_listed_in_the_readme() {
    let mut want =
        String::from("| folder | written by | one row is | spec |\n| --- | --- | --- | --- |\n");
    for t in ktape_format::tables() {
        let by = if t.family == "recorder" {
            "every recording".to_string()
        } else if t.name == ktape_format::stacks::TABLE.name {
            // Its loss rows are family `stacks`, but no `-e stacks` exists.
            "`-e profile`, `-e offcpu`, `-e wakeup`".to_string()
        } else {
            format!("`-e {}`", t.family)
        };
        want.push_str(&format!(
            "| `{}/` | {by} | {} | [{}.md]({}.md) |\n",
            t.name, t.row, t.name, t.name
        ));
    }
    check_marked(
        &formats_dir().join("README.md"),
        TABLES_BEGIN,
        TABLES_END,
        &want,
    )
    .unwrap();
}

#[test]
fn no_doc_for_a_table_that_does_not_exist() {
    let known: Vec<String> = ktape_format::tables()
        .iter()
        .map(|t| format!("{}.md", t.name))
        .collect();
    for entry in std::fs::read_dir(formats_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "README.md" && name != "CHANGELOG.md" {
            assert!(
                known.contains(&name),
                "formats/{name} documents a table the code does not have"
            );
        }
    }
}
