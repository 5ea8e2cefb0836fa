//! Differential test of scripts (language.md §8): a package whose predicates are rhai functions and
//! the same package with its predicates written in the language give the same outcomes
//! over generated profiles — the same fired rules, items, learned changes and no errors.
//! The scripts spell out language.md §7's missing values by hand (`"age" in p && …`), so this also
//! checks that records reach rhai with missing fields absent and sets as arrays.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{Map, Value as J, json};
use tailor_engine::rhai_host::{Limits, RhaiHost};
use tailor_engine::{Catalog, Event, EventKind, History, Package};
use tailor_lang::SourceMap;

const SCHEMA: &str = r#"
profile {
  age: int
  city: string
  tags: set<string>
  counts: map<int>
  score: float
}
content {
  seat: string
  score: float
}
edition e {
  timezone "Asia/Shanghai"
  sections { a 2  b 2  c 1 }
}
"#;

const LANGUAGE: &str = r#"
learn on enter {
  when profile.age >= 65
  add "senior" to profile.tags
}

rule adults_with_tags {
  priority 50
  when profile.age >= 18 and len(profile.tags) > 0
  pick 1 from a where block.seat == "window"
}

rule jazz_or_local {
  priority 40
  when "jazz" in profile.tags or profile.city == "杭州"
  pick 1 from b
}

rule window_habit {
  priority 30
  when profile.counts["window"] > profile.counts["aisle"]
  pick 2 from a order by block.score desc
}

rule high_score {
  priority 20
  when profile.score * 2.0 > 3.0
  pick 1 from b where block.score > profile.score
}

rule no_city {
  priority 10
  when not (profile.city exists)
  pick 1 from c
}

rule seniors {
  when "senior" in profile.tags
  drop where block.seat == "middle"
}
"#;

const SCRIPTED: &str = r#"
script s from "s.rhai" {
  fn senior(profile) -> bool
  fn adult_with_tags(profile) -> bool
  fn jazz_or_local(profile) -> bool
  fn window_habit(profile) -> bool
  fn high_score(profile) -> bool
  fn no_city(profile) -> bool
  fn tagged(profile, tag: string) -> bool
  fn is_seat(block, seat: string) -> bool
  fn better(profile, block) -> bool
  fn rank(block) -> float
}

learn on enter {
  when s::senior(profile)
  add "senior" to profile.tags
}

rule adults_with_tags {
  priority 50
  when s::adult_with_tags(profile)
  pick 1 from a where s::is_seat(block, "window")
}

rule jazz_or_local {
  priority 40
  when s::jazz_or_local(profile)
  pick 1 from b
}

rule window_habit {
  priority 30
  when s::window_habit(profile)
  pick 2 from a order by s::rank(block) desc
}

rule high_score {
  priority 20
  when s::high_score(profile)
  pick 1 from b where s::better(profile, block)
}

rule no_city {
  priority 10
  when s::no_city(profile)
  pick 1 from c
}

rule seniors {
  when s::tagged(profile, "senior")
  drop where s::is_seat(block, "middle")
}
"#;

const SCRIPT: &str = r#"
fn senior(p) { "age" in p && p.age >= 65 }
fn adult_with_tags(p) { "age" in p && p.age >= 18 && "tags" in p && p.tags.len() > 0 }
fn jazz_or_local(p) { ("tags" in p && "jazz" in p.tags) || ("city" in p && p.city == "杭州") }
fn window_habit(p) {
    let c = p.counts ?? #{};
    "window" in c && "aisle" in c && c.window > c.aisle
}
fn high_score(p) { "score" in p && p.score * 2.0 > 3.0 }
fn no_city(p) { !("city" in p) }
fn tagged(p, tag) { "tags" in p && tag in p.tags }
fn is_seat(b, seat) { "seat" in b && b.seat == seat }
fn better(p, b) { "score" in b && "score" in p && b.score > p.score }
fn rank(b) { b.score }
"#;

/// Section `a` blocks all have a score (`rank` needs one); some `b` blocks have none.
const CATALOG: &str = r#"{"id": "a-1", "section": "a", "title": "a1", "seat": "window", "score": 0.9, "published": "2013-04-01T08:00:00+08:00"}
{"id": "a-2", "section": "a", "title": "a2", "seat": "middle", "score": 1.5, "published": "2013-04-01T09:00:00+08:00"}
{"id": "a-3", "section": "a", "title": "a3", "seat": "aisle", "score": 0.2, "published": "2013-04-01T10:00:00+08:00"}
{"id": "a-4", "section": "a", "title": "a4", "seat": "window", "score": 2.5, "published": "2013-03-31T10:00:00+08:00"}
{"id": "b-1", "section": "b", "title": "b1", "seat": "middle", "score": 2.75, "published": "2013-04-01T08:00:00+08:00"}
{"id": "b-2", "section": "b", "title": "b2", "published": "2013-04-01T11:00:00+08:00"}
{"id": "b-3", "section": "b", "title": "b3", "seat": "aisle", "score": 1.0, "published": "2013-04-01T07:00:00+08:00"}
{"id": "c-1", "section": "c", "title": "c1", "published": "2013-04-01T08:00:00+08:00"}"#;

/// The two packages and their catalogs, built once.
fn fixtures() -> &'static (Package, Package, Catalog, Catalog) {
    static FIXTURES: OnceLock<(Package, Package, Catalog, Catalog)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let (language, scripted) = packages();
        let (c1, c2) = (catalog(&language), catalog(&scripted));
        (language, scripted, c1, c2)
    })
}

fn packages() -> (Package, Package) {
    let language = Package::from_sources(vec![
        ("schema.rules".into(), SCHEMA.into()),
        ("main.rules".into(), LANGUAGE.into()),
    ])
    .unwrap();
    let scripted = Package::from_sources(vec![
        ("schema.rules".into(), SCHEMA.into()),
        ("main.rules".into(), SCRIPTED.into()),
    ])
    .unwrap();
    let host = RhaiHost::compile(
        &[SCRIPT.to_owned()],
        scripted.compiled(),
        scripted.sources(),
        Limits::default(),
    )
    .unwrap();
    let scripted = scripted.with_script_host(Arc::new(host));
    (language, scripted)
}

fn catalog(pkg: &Package) -> Catalog {
    let mut sm = SourceMap::new();
    pkg.parse_catalog(&mut sm, "catalog.jsonl", CATALOG)
        .unwrap()
}

prop_compose! {
    fn profile()(
        age in proptest::option::of(0i64..100),
        city in proptest::option::of(prop_oneof![Just("杭州"), Just("宁波"), Just("北京")]),
        tags in proptest::option::of(proptest::sample::subsequence(vec!["jazz", "tea", "beach"], 0..=3)),
        window in proptest::option::of(0i64..4),
        aisle in proptest::option::of(0i64..4),
        counts in any::<bool>(),
        score in proptest::option::of(0u32..13),
    ) -> Map<String, J> {
        let mut p = Map::new();
        p.insert("id".into(), json!("u"));
        if let Some(a) = age { p.insert("age".into(), json!(a)); }
        if let Some(c) = city { p.insert("city".into(), json!(c)); }
        if let Some(t) = tags { p.insert("tags".into(), json!(t)); }
        if counts {
            let mut c = Map::new();
            if let Some(w) = window { c.insert("window".into(), json!(w)); }
            if let Some(a) = aisle { c.insert("aisle".into(), json!(a)); }
            p.insert("counts".into(), J::Object(c));
        }
        // Quarters from 0 to 3, so that `score * 2.0 > 3.0` meets its boundary.
        if let Some(s) = score { p.insert("score".into(), json!(f64::from(s) * 0.25)); }
        p
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn script_predicates_give_the_language_outcomes(raw in profile()) {
        let (language, scripted, c1, c2) = fixtures();
        let event = Event::new(EventKind::Enter, "2013-04-02T07:30:00+08:00".parse().unwrap());
        let history = History::default();
        let p1 = language.profile_from_json(raw.clone()).unwrap();
        let p2 = scripted.profile_from_json(raw).unwrap();
        let expected = language.evaluate(&event, &p1, c1, &history).to_json();
        let actual = scripted.evaluate(&event, &p2, c2, &history).to_json();
        prop_assert_eq!(&actual["errors"], &json!([]));
        prop_assert_eq!(expected, actual);
    }
}
