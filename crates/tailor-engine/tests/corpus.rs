//! The outcome corpus: one directory per case under `tests/corpus/`, run by one helper.
//!
//! A case holds the package (a `package/` directory, or a file `package` naming a package
//! directory relative to the repository root), `profiles.jsonl` and `catalog.jsonl`
//! (defaulting to the package's own), an optional `history.jsonl`, `event.json`
//! (`{"user", "kind", "at", "text"?, "key"?, "url"?, "lat"?, "lon"?, "precision"?}`, and
//! for `open` (language.md §12) `"block"`, `"rule"?`, `"section"?`, `"delivered"?`) and
//! `expected.json`, the outcome object of language.md §11. Outcomes are compared as JSON values, and
//! each case is evaluated by both evaluators: the reference (`Package::evaluate`) must
//! give `expected.json` and the indexed path (`Index::evaluate`) the same outcome.
//!
//! `UPDATE_EXPECT=1 cargo test --test corpus` rewrites `expected.json` files from the
//! engine's output; review the diff before committing it.

// Test and bench code: panicking on broken input is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

#[path = "support/diff.rs"]
mod support_diff;
use support_diff::diff;

use std::path::{Path, PathBuf};

use tailor_engine::{Event, EventKind, History, OpenedItem, Package};
use tailor_lang::SourceMap;

fn root() -> PathBuf {
    // The repository root: the corpus (tests/corpus) sits there beside the rules
    // packages (rules/) its cases read.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn package_dir(case: &Path) -> PathBuf {
    let inline = case.join("package");
    if inline.is_dir() {
        return inline;
    }
    let named = std::fs::read_to_string(&inline).expect("a `package` directory or file");
    root().join(named.trim())
}

fn data_file(case: &Path, pkg: &Path, name: &str) -> PathBuf {
    let own = case.join(name);
    if own.exists() { own } else { pkg.join(name) }
}

/// Evaluate one case and return the outcome JSON of the reference evaluator and of the
/// indexed path, or the rendered rejection.
pub fn run_case(case: &Path) -> Result<(serde_json::Value, serde_json::Value), String> {
    let pkg_dir = package_dir(case);
    let pkg = Package::load(&pkg_dir).map_err(|e| e.render(false))?;
    let mut sources = SourceMap::new();
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let profiles_path = data_file(case, &pkg_dir, "profiles.jsonl");
    let catalog_path = data_file(case, &pkg_dir, "catalog.jsonl");
    let profiles = pkg
        .parse_profiles(&mut sources, "profiles.jsonl", &read(&profiles_path)?)
        .map_err(|d| d.render(&sources, false))?;
    let catalog = pkg
        .parse_catalog(&mut sources, "catalog.jsonl", &read(&catalog_path)?)
        .map_err(|d| d.render(&sources, false))?;
    let history_path = case.join("history.jsonl");
    let history = if history_path.exists() {
        History::parse(&mut sources, "history.jsonl", &read(&history_path)?)
            .map_err(|d| d.render(&sources, false))?
    } else {
        History::default()
    };
    let ev: serde_json::Value =
        serde_json::from_str(&read(&case.join("event.json"))?).map_err(|e| e.to_string())?;
    let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let f = |k: &str| ev.get(k).and_then(serde_json::Value::as_f64);
    let user = s("user").ok_or("event.json needs `user`")?;
    let event = Event {
        kind: EventKind::parse(&s("kind").unwrap_or_else(|| "enter".into())).ok_or("bad kind")?,
        at: s("at")
            .ok_or("event.json needs `at`")?
            .parse()
            .map_err(|e| format!("{e}"))?,
        text: s("text"),
        key: s("key"),
        url: s("url"),
        lat: f("lat"),
        lon: f("lon"),
        precision: f("precision"),
        opened: None,
    };
    // An `open` (language.md §12) names its item; the opened block is the catalog's, if still there.
    let event = if event.kind == EventKind::Open {
        let item = OpenedItem {
            block: s("block").ok_or("an open event needs `block`")?,
            rule: s("rule"),
            section: s("section"),
            delivered: match s("delivered") {
                Some(d) => Some(d.parse().map_err(|e| format!("{e}"))?),
                None => None,
            },
        };
        let data = catalog.shared(&item.block).cloned();
        Event::open(event.at, item, data)
    } else {
        event
    };
    let profile = profiles
        .iter()
        .find(|p| p.id() == user)
        .ok_or(format!("no profile `{user}`"))?;
    let outcome = pkg.evaluate(&event, profile, &catalog, &history);
    let reference = outcome.to_json();
    // The text written directly (`tailor batch`, the HTTP API) must be the tree's text.
    let (direct, tree) = (outcome.to_json_string(), reference.to_string());
    if direct != tree {
        return Err(format!(
            "to_json_string differs from to_json:\n{direct}\n{tree}"
        ));
    }
    let indexed = tailor_engine::Index::new(&pkg, catalog)
        .evaluate(&event, profile, &history)
        .to_json();
    Ok((reference, indexed))
}

/// The line diff of two JSON values, pretty-printed.
fn json_diff(want: &serde_json::Value, got: &serde_json::Value) -> String {
    diff(
        &serde_json::to_string_pretty(want).unwrap(),
        &serde_json::to_string_pretty(got).unwrap(),
    )
}

#[test]
fn corpus() {
    let dir = root().join("tests/corpus");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let actual = match run_case(case) {
            Ok((reference, indexed)) => {
                if indexed != reference {
                    failures.push(format!(
                        "── {name}: the indexed path differs from the reference\n{}",
                        json_diff(&reference, &indexed)
                    ));
                }
                reference
            }
            Err(e) => {
                failures.push(format!("── {name}: rejected\n{e}"));
                continue;
            }
        };
        let expected_path = case.join("expected.json");
        if update {
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: serde_json::Value = match std::fs::read_to_string(&expected_path) {
            Ok(t) => {
                serde_json::from_str(&t).unwrap_or_else(|e| panic!("{name}/expected.json: {e}"))
            }
            Err(_) => {
                failures.push(format!(
                    "── {name}: no expected.json (run with UPDATE_EXPECT=1)"
                ));
                continue;
            }
        };
        if expected != actual {
            failures.push(format!(
                "── {name}: outcome differs\n{}",
                json_diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
