//! The error corpus: every kind of compile and data error, checked as a rule author sees
//! it — the rendered message, the `file:line:col`, the underlined span and the help — not
//! only that loading failed.
//!
//! One directory per case under `tests/errors/<case>/`:
//!
//! - `package/` holds the `.rules` files (and any `.rhai` scripts) of the package;
//! - `profiles.jsonl`, `catalog.jsonl`, `history.jsonl` (each optional) make a *data*
//!   case: the package must load, and it is the data that must be rejected;
//! - `expected.txt` is the exact rendered output, colours off, of every diagnostic.
//!
//! Besides the exact text, every case must render at least one `help:` line and every
//! diagnostic must carry a help: an error should say how to fix it.
//!
//! `UPDATE_EXPECT=1 cargo test --test errors` rewrites `expected.txt` files from the
//! engine's output; review the diff (as a rule author would read it) before committing.

#[path = "support/diff.rs"]
mod support_diff;
use support_diff::diff;

use std::path::{Path, PathBuf};

use tailor_engine::{History, Package};
use tailor_lang::{Diagnostics, SourceMap};

const DATA_FILES: [&str; 3] = ["profiles.jsonl", "catalog.jsonl", "history.jsonl"];

/// The rendered rejection of one case, and whether every diagnostic had a help; `Err` when
/// the case was not rejected the way it should be.
fn run_case(case: &Path) -> Result<(String, Vec<String>), String> {
    let pkg_dir = case.join("package");
    let data: Vec<&str> = DATA_FILES
        .into_iter()
        .filter(|f| case.join(f).exists())
        .collect();
    let pkg = match Package::load(&pkg_dir) {
        Err(rejected) if data.is_empty() => {
            return Ok((rejected.render(false), helpless(&rejected.diagnostics)));
        }
        Err(rejected) => {
            return Err(format!(
                "a data case needs a package that loads, but it was rejected:\n{}",
                rejected.render(false)
            ));
        }
        Ok(_) if data.is_empty() => return Err("the package loaded without error".to_owned()),
        Ok(pkg) => pkg,
    };
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    for name in data {
        let path = case.join(name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let result = match name {
            "profiles.jsonl" => pkg.parse_profiles(&mut sources, name, &text).map(drop),
            "catalog.jsonl" => pkg.parse_catalog(&mut sources, name, &text).map(drop),
            _ => History::parse(&mut sources, name, &text).map(drop),
        };
        if let Err(d) = result {
            diags.extend(d);
        }
    }
    if diags.is_empty() {
        return Err("the data loaded without error".to_owned());
    }
    Ok((diags.render(&sources, false), helpless(&diags)))
}

/// The messages of the diagnostics that carry no help.
fn helpless(diags: &Diagnostics) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.help.is_none())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect()
}

#[test]
fn errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/errors");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/errors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (actual, helpless) = match run_case(case) {
            Ok(out) => out,
            Err(e) => {
                failures.push(format!("── {name}: {e}"));
                continue;
            }
        };
        if !actual.lines().any(|l| l.trim_start().starts_with("help:")) {
            failures.push(format!("── {name}: no `help:` line\n{actual}"));
        }
        if !helpless.is_empty() {
            failures.push(format!(
                "── {name}: diagnostics without help:\n{}",
                helpless.join("\n")
            ));
        }
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "── {name}: rendered output differs (- expected, + actual)\n{}",
                diff(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "── {name}: no expected.txt (run with UPDATE_EXPECT=1)\n{actual}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} error cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
