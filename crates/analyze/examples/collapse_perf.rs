//! `perf script` output on stdin → folded stacks on stdout, with inferno's
//! perf collapser as a library. Used by tests/test_stacks.py to cross-check
//! ktape's profile against `perf record -g` without installing
//! inferno's command-line tools.

use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    Folder::from(Options::default()).collapse(stdin.lock(), stdout.lock())
}
