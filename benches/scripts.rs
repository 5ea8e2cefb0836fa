//! Criterion benches of scripts (language.md §8): the cost of one script call, of a runaway call that
//! runs into the default operations budget, and of one event whose rule is written with
//! scripts against the same rule written in the language.
//!
//! `cargo bench --bench scripts`; `cargo test --benches` runs each once as a smoke test.
#![allow(
    clippy::expect_used,
    reason = "a bench with a broken setup should stop at once"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::tz::TimeZone;
use tailor_engine::rhai_host::{Limits, RhaiHost};
use tailor_engine::script::{ScriptArg, ScriptHost};
use tailor_engine::value::Ty;
use tailor_engine::{Block, Catalog, Event, EventKind, History, Package, Profile};
use tailor_lang::SourceMap;

const SCHEMA: &str = r#"
profile {
  tier: string
  seat_choices: map<int>
}
content {
  seat: string
  score: float
}
edition airline {
  timezone "Asia/Shanghai"
  sections { offers 3 }
}
"#;

/// The rule in the language.
const LANGUAGE: &str = r#"
rule window_offer {
  when profile.seat_choices["window"] > profile.seat_choices["aisle"]
  pick 3 from offers where block.seat == "window" order by block.score desc
}
"#;

/// The same rule with a script in `when`, `where` and `order by`.
const SCRIPTED: &str = r#"
script seat from "seat.rhai" {
  fn prefers_window(profile) -> bool
  fn fits(block, seat: string) -> bool
  fn rank(profile, block) -> float
  fn runaway(profile) -> bool
}

rule window_offer {
  when seat::prefers_window(profile)
  pick 3 from offers where seat::fits(block, "window") order by seat::rank(profile, block) desc
}
"#;

/// A rule whose `when` never ends: the event pays the operations budget once.
const RUNAWAY: &str = r#"
rule stuck {
  when seat::runaway(profile)
  pick 3 from offers
}
"#;

const SCRIPT: &str = r#"
fn prefers_window(p) {
    let c = p.seat_choices ?? #{};
    if !("window" in c) || !("aisle" in c) { return false; }
    c.window > c.aisle
}

fn fits(b, seat) { b.seat == seat }

fn rank(p, b) { b.score }

fn runaway(p) { let n = 0; loop { n += 1; } }
"#;

fn package(rules: &[&str]) -> Package {
    let files = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("f{i}.rules"), (*r).to_owned()))
        .collect();
    let pkg = Package::from_sources(files).expect("package");
    if pkg.compiled().scripts.is_empty() {
        return pkg;
    }
    let host = RhaiHost::compile(
        &[SCRIPT.to_owned()],
        pkg.compiled(),
        pkg.sources(),
        Limits::default(),
    )
    .expect("script");
    pkg.with_script_host(Arc::new(host))
}

fn data(pkg: &Package) -> (Profile, Catalog) {
    let mut sm = SourceMap::new();
    let profile = pkg
        .parse_profiles(
            &mut sm,
            "profiles.jsonl",
            r#"{"id": "wang-li", "tier": "gold", "seat_choices": {"window": 5, "aisle": 1}}"#,
        )
        .expect("profile")
        .remove(0);
    let blocks: Vec<String> = (0..25)
        .map(|i| {
            let seat = if i % 2 == 0 { "window" } else { "aisle" };
            format!(
                r#"{{"id": "o-{i:02}", "section": "offers", "title": "offer {i}", "seat": "{seat}", "score": {}.5, "published": "2013-04-01T08:00:00+08:00"}}"#,
                i % 7
            )
        })
        .collect();
    let catalog = pkg
        .parse_catalog(&mut sm, "catalog.jsonl", &blocks.join("\n"))
        .expect("catalog");
    (profile, catalog)
}

fn calls(c: &mut Criterion) {
    let pkg = package(&[SCHEMA, SCRIPTED]);
    let (profile, catalog) = data(&pkg);
    let block: &Block = catalog.get("o-00").expect("block");
    let host = RhaiHost::compile(
        &[SCRIPT.to_owned()],
        pkg.compiled(),
        pkg.sources(),
        Limits::default(),
    )
    .expect("script");
    // The same without the memory budget (`Limits::memory`), to see what counting costs.
    let unbudgeted = RhaiHost::compile(
        &[SCRIPT.to_owned()],
        pkg.compiled(),
        pkg.sources(),
        Limits {
            memory: usize::MAX,
            ..Limits::default()
        },
    )
    .expect("script");
    let tz = TimeZone::get("Asia/Shanghai").expect("zone");
    let mut group = c.benchmark_group("scripts/call");
    group.bench_function("prefers_window(profile)", |b| {
        b.iter(|| {
            black_box(host.call(0, 0, Ty::Bool, &[ScriptArg::Profile(&profile)], &tz))
                .expect("call")
        })
    });
    group.bench_function("prefers_window(profile), memory budget off", |b| {
        b.iter(|| {
            black_box(unbudgeted.call(0, 0, Ty::Bool, &[ScriptArg::Profile(&profile)], &tz))
                .expect("call")
        })
    });
    group.bench_function("rank(profile, block)", |b| {
        b.iter(|| {
            black_box(host.call(
                0,
                2,
                Ty::Float,
                &[ScriptArg::Profile(&profile), ScriptArg::Block(block)],
                &tz,
            ))
            .expect("call")
        })
    });
    group.bench_function(
        format!(
            "runaway loop (budget {} operations)",
            Limits::default().operations
        ),
        |b| {
            b.iter(|| {
                black_box(host.call(0, 3, Ty::Bool, &[ScriptArg::Profile(&profile)], &tz))
                    .expect_err("runs past its budget")
            })
        },
    );
    group.bench_function("runaway loop, memory budget off", |b| {
        b.iter(|| {
            black_box(unbudgeted.call(0, 3, Ty::Bool, &[ScriptArg::Profile(&profile)], &tz))
                .expect_err("runs past its budget")
        })
    });
    group.finish();
}

fn events(c: &mut Criterion) {
    let at = "2013-04-02T09:00:00+08:00".parse().expect("time");
    let event = Event::new(EventKind::Enter, at);
    let history = History::default();
    let mut group = c.benchmark_group("scripts/event");
    for (name, rules) in [
        ("language", vec![SCHEMA, LANGUAGE]),
        ("scripted", vec![SCHEMA, SCRIPTED]),
        ("runaway when", vec![SCHEMA, SCRIPTED, RUNAWAY]),
    ] {
        let pkg = package(&rules);
        let (profile, catalog) = data(&pkg);
        let outcome = pkg.evaluate(&event, &profile, &catalog, &history);
        assert!(!outcome.items.is_empty(), "{name}: {:?}", outcome.to_json());
        group.bench_function(name, |b| {
            b.iter(|| black_box(pkg.evaluate(black_box(&event), &profile, &catalog, &history)))
        });
    }
    group.finish();
}

criterion_group!(benches, calls, events);
criterion_main!(benches);
