//! Every package shipped under `rules/` is in canonical form: `tailor fmt --check` passes
//! on each (a new package is checked as soon as it is added).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

mod common;
use common::{tailor, workspace};

#[test]
fn every_shipped_package_is_canonical() {
    let mut packages: Vec<String> = std::fs::read_dir(workspace().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| format!("rules/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    packages.sort();
    assert!(packages.len() >= 2, "{packages:?}");
    for pkg in &packages {
        let o = tailor(&["fmt", "--check", pkg]);
        assert!(
            o.status.success(),
            "{pkg}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
