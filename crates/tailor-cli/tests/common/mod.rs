//! Helpers shared by the CLI's integration tests: the workspace root and the `tailor`
//! binary run from it.

#![allow(
    dead_code,
    clippy::expect_used,
    reason = "each test file uses some of the helpers; they fail the test loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (where `rules/` is).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// Runs `tailor ARGS` in the workspace root, without colour.
pub fn tailor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("tailor runs")
}
