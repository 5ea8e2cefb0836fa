//! Fuzz target: loading a package and using it — rules text, a script and data files.
//!
//! The input is split at NUL bytes into a rules file, a rhai script, profiles and a
//! catalog, both JSON lines (`rules\0script\0profiles\0catalog`). The rules are checked
//! and compiled (`Package::from_sources`, what `Package::load` does after reading the
//! files); every `script` item the rules declare gets the script text, compiled by the
//! rhai host under the default limits (`RhaiHost::compile`, what `Package::load` does
//! after reading the `.rhai` files); the data files are parsed against the schema; then
//! the first profiles are evaluated against the catalog for one event (its kind chosen
//! by the input), by the index and by the reference evaluator, which must agree. Nothing
//! may panic, and no script call may take more memory than its limits allow (libFuzzer's
//! `-rss_limit_mb` and `-malloc_limit_mb` watch that).

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tailor_engine::rhai_host::{Limits, RhaiHost};
use tailor_engine::{Event, EventKind, History, Index, Package};

/// 2013-04-02T08:00:00+08:00.
const AT: i64 = 1_364_860_800;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(4, '\0');
    let rules = parts.next().unwrap_or("");
    let script = parts.next().unwrap_or("");
    let profiles = parts.next().unwrap_or("");
    let catalog = parts.next().unwrap_or("");

    let package = match Package::from_sources(vec![("fuzz.rules".to_owned(), rules.to_owned())]) {
        Ok(p) => p,
        Err(rejected) => {
            let _ = rejected.render(false);
            return;
        }
    };
    let _ = package.summary();
    let package = if package.compiled().scripts.is_empty() {
        package
    } else {
        let texts = vec![script.to_owned(); package.compiled().scripts.len()];
        match RhaiHost::compile(
            &texts,
            package.compiled(),
            package.sources(),
            Limits::default(),
        ) {
            Ok(host) => package.with_script_host(Arc::new(host)),
            Err(rejected) => {
                let _ = rejected.render(false);
                return;
            }
        }
    };

    let mut sources = package.sources().clone();
    let profiles = package.parse_profiles(&mut sources, "profiles.jsonl", profiles);
    let catalog = package.parse_catalog(&mut sources, "catalog.jsonl", catalog);
    for d in [profiles.as_ref().err(), catalog.as_ref().err()]
        .into_iter()
        .flatten()
    {
        let _ = d.render(&sources, false);
    }
    let (Ok(profiles), Ok(catalog)) = (profiles, catalog) else {
        return;
    };
    let index = Index::new(&package, catalog);
    let history = History::default();
    let Ok(at) = jiff::Timestamp::from_second(AT) else {
        return;
    };
    // One event per input, its kind chosen by the input (all kinds over a run): a full
    // package's evaluation is what makes this target slow.
    let kinds = EventKind::ALL;
    let kind = kinds
        .get(rules.len() % kinds.len())
        .copied()
        .unwrap_or(EventKind::Enter);
    let event = Event {
        text: Some("fuzz".to_owned()),
        key: Some("fuzz".to_owned()),
        ..Event::new(kind, at)
    };
    for p in profiles.iter().take(4) {
        let fast = index.evaluate(&event, p, &history).to_json();
        let reference = package
            .evaluate(&event, p, index.catalog(), &history)
            .to_json();
        assert_eq!(
            fast, reference,
            "the index and the reference evaluator differ"
        );
    }
});
