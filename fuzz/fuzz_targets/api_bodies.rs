//! Fuzz target: what the JSON API does with a request body, on the airline package with
//! its scripts. The server's own body types (`EventBody`, the merge patch) are private to
//! `tailor-server`; this target drives the engine functions they hand the body to:
//! `Package::profile_from_json` (`PUT`/`PATCH …/profiles/{id}`), `Package::parse_profiles`
//! (the bulk import), `Package::parse_catalog` (`POST …/catalog`), and an event built from
//! the body's fields as `POST …/events` builds it, then evaluated against the parsed
//! profile and catalog. Nothing may panic, and the index must give the same outcome as
//! the reference evaluator.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value as J;
use tailor_engine::{Catalog, Event, EventKind, History, Index, Package, Profile};
use tailor_lang::SourceMap;

struct Airline {
    package: Package,
    catalog: Catalog,
    profile: Profile,
}

fn airline() -> Option<&'static Airline> {
    static AIRLINE: OnceLock<Option<Airline>> = OnceLock::new();
    AIRLINE
        .get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules/airline");
            let package = Package::load(dir).ok()?;
            let text = std::fs::read_to_string(format!("{dir}/catalog.jsonl")).ok()?;
            let catalog = package
                .parse_catalog(&mut SourceMap::new(), "catalog.jsonl", &text)
                .ok()?;
            let text = std::fs::read_to_string(format!("{dir}/profiles.jsonl")).ok()?;
            let profile = package
                .parse_profiles(&mut SourceMap::new(), "profiles.jsonl", &text)
                .ok()?
                .into_iter()
                .next()?;
            Some(Airline {
                package,
                catalog,
                profile,
            })
        })
        .as_ref()
}

/// 2013-04-02T08:00:00+08:00, the airline examples' morning.
const AT: i64 = 1_364_860_800;

/// The event of a `POST …/events` body: `event` (or `kind`) names the kind, `at` is an
/// RFC 3339 time, the other fields are copied.
fn event(body: &serde_json::Map<String, J>) -> Option<Event> {
    let s = |k: &str| body.get(k).and_then(J::as_str).map(str::to_owned);
    let f = |k: &str| body.get(k).and_then(J::as_f64);
    let kind = match s("event").or_else(|| s("kind")) {
        Some(k) => EventKind::parse(&k)?,
        None => EventKind::Enter,
    };
    let at = match s("at") {
        Some(t) => t.parse().ok()?,
        None => jiff::Timestamp::from_second(AT).ok()?,
    };
    Some(Event {
        text: s("text"),
        key: s("key"),
        url: s("url"),
        lat: f("lat"),
        lon: f("lon"),
        precision: f("precision"),
        ..Event::new(kind, at)
    })
}

fn evaluate(a: &Airline, index: &Index, event: &Event, profile: &Profile) {
    let history = History::default();
    let fast = index.evaluate(event, profile, &history).to_json();
    let reference = a
        .package
        .evaluate(event, profile, index.catalog(), &history)
        .to_json();
    assert_eq!(
        fast, reference,
        "the index and the reference evaluator differ"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(a) = airline() else {
        panic!("the airline package does not load");
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = SourceMap::new();

    // The bulk import and the catalog upsert: JSON lines.
    let profiles = a.package.parse_profiles(&mut sources, "body", text);
    let catalog = a.package.parse_catalog(&mut sources, "body", text);
    if let Err(d) = &profiles {
        let _ = d.render(&sources, false);
    }
    if let Err(d) = &catalog {
        let _ = d.render(&sources, false);
    }

    // A profile or event body: one JSON object.
    let object = match serde_json::from_str::<J>(text) {
        Ok(J::Object(o)) => Some(o),
        _ => None,
    };
    let profile = object
        .clone()
        .and_then(|o| a.package.profile_from_json(o).ok());
    let event = object.as_ref().and_then(event);

    // Evaluate with whatever the body gave (the airline's own data for the rest); a body
    // that gave nothing would only repeat the same evaluation.
    let profiles: Vec<Profile> = profiles.unwrap_or_default().into_iter().take(4).collect();
    if profile.is_none() && event.is_none() && catalog.is_err() && profiles.is_empty() {
        return;
    }
    let index = Index::new(&a.package, catalog.unwrap_or_else(|_| a.catalog.clone()));
    let event = event.unwrap_or_else(|| {
        Event::new(
            EventKind::Enter,
            jiff::Timestamp::from_second(AT).unwrap_or_default(),
        )
    });
    evaluate(a, &index, &event, profile.as_ref().unwrap_or(&a.profile));
    for p in &profiles {
        evaluate(a, &index, &event, p);
    }
});
