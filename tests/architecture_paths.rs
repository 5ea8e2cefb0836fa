//! Every file or directory ARCHITECTURE.md names in backquotes exists: a path is looked
//! up from the repository root and, under a `### \`crates/NAME\`` heading, also in that
//! crate (`crates/NAME/src/PATH`, `crates/NAME/PATH`). A renamed or removed file that
//! the document still names fails this test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::{Path, PathBuf};

/// A backquoted word that reads as a path: a file with one of the repository's
/// extensions, or a directory written with a final `/`.
fn is_path(word: &str) -> bool {
    let shaped = !word.is_empty()
        && !word.starts_with('.')
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    let file = [".rs", ".md", ".toml", ".json", ".rules", ".jsonl"]
        .iter()
        .any(|e| word.ends_with(e));
    shaped && (file || (word.ends_with('/') && word.len() > 1))
}

#[test]
fn every_path_architecture_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut crate_dir: Option<PathBuf> = None;
    let mut checked = 0;
    let mut missing = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            crate_dir = line
                .strip_prefix("### `crates/")
                .and_then(|r| r.strip_suffix('`'))
                .map(|name| root.join("crates").join(name));
            continue;
        }
        for (i, word) in line.split('`').enumerate() {
            if i % 2 == 0 || !is_path(word) {
                continue;
            }
            let mut candidates = vec![root.join(word)];
            if let Some(dir) = &crate_dir {
                candidates.push(dir.join("src").join(word));
                candidates.push(dir.join(word));
            }
            checked += 1;
            if !candidates.iter().any(|c| c.exists()) {
                missing.push(format!("line {}: `{word}`", n + 1));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the parser broken?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist:\n{}",
        missing.join("\n")
    );
}
