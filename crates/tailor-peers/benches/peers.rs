//! Peers harness: rule matching on the same workload by Tailor's indexed evaluator,
//! Tailor's reference evaluator, a hand-built rhai baseline (plain, and tuned) and
//! zen-engine (a `collect` decision table), checking that all of them match exactly the
//! same rules for every profile measured, and reporting per-event latencies and their
//! ratios. Tailor's full digest (learn + match + assemble) is reported beside them.
//!
//! Both shapes of the workload generator (`tailor_workload::Audience`) are measured: the
//! narrow one at 1k, 10k and 100k rules with 10k blocks (a reader matches 41–69 rules at
//! every size), and the broad one at 1k and 10k rules with 50k blocks (a reader matches
//! ~11% of the rules). The broad shape's `when`s and segments use only the constructs the
//! narrow one does (equality, `in` lists and sets, `intersects`, map thresholds, age
//! comparisons, segments, `and`, `or`, `not`), so every peer expresses all of its rules;
//! what it adds — many fired drops and block filters — lies in assembly, which only
//! Tailor's full digest column covers (the peers match rules, they do not assemble).
//!
//! `cargo bench --manifest-path crates/tailor-peers/Cargo.toml --bench peers` runs the full
//! matrix (several minutes on 2 cores) and prints Markdown tables; `PEERS_ONLY=10000`
//! limits it to one size, `PEERS_AUDIENCE=narrow` or `broad` to one shape (default both).
//! Under `cargo test --benches` (no `--bench` argument) it runs a tiny configuration of
//! each shape and the missing-value cases as a smoke test of the agreement check.
//!
//! The peers are translated from the compiled package (`tailor_engine::ir::CExpr`), not
//! from the generator's text: `peers/rhai.rs` and `peers/zen.rs`. An expression they do not
//! translate panics with "peer translation: unsupported expression …".

// Test and bench code: panicking on broken input is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

#[path = "peers/rhai.rs"]
mod rhai_peer;
#[path = "peers/zen.rs"]
mod zen_peer;

use std::hint::black_box;
use std::time::Instant;

use rhai_peer::{Flavour, RhaiPeer};
use tailor_engine::ir::CExpr;
use tailor_engine::{Event, EventKind, History, Index, Package, Profile};
use tailor_lang::SourceMap;
use tailor_workload::{self as workload, Audience, Shape};
use zen_peer::ZenPeer;

fn unsupported(e: &CExpr) -> ! {
    panic!("peer translation: unsupported expression {e:?}")
}

#[derive(Debug, Clone, Copy)]
struct Lat {
    p50: f64,
    mean: f64,
}

/// Time `f` event by event over `n` events cycling through `profiles` profiles (after a
/// short warm-up); also return the answer for each profile (from the first cycle).
fn measure(
    n: usize,
    profiles: usize,
    f: &mut dyn FnMut(usize) -> Vec<usize>,
) -> (Lat, Vec<Vec<usize>>) {
    assert!(n >= profiles, "every profile is measured at least once");
    for i in 0..profiles.min(20) {
        black_box(f(i));
    }
    let mut answers = Vec::with_capacity(profiles);
    let mut us = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let r = f(i % profiles);
        us.push(t.elapsed().as_secs_f64() * 1e6);
        if i < profiles {
            answers.push(r);
        }
    }
    (lat(us), answers)
}

fn lat(mut us: Vec<f64>) -> Lat {
    us.sort_by(f64::total_cmp);
    Lat {
        p50: us[us.len() / 2],
        mean: us.iter().sum::<f64>() / us.len() as f64,
    }
}

/// Assert that every peer matched exactly the reference's rules for every profile it
/// measured (a prefix of the reference's); return the number of matches checked.
fn check_agreement(
    pkg: &Package,
    profiles: &[Profile],
    reference: &[Vec<usize>],
    peers: &[(&str, &[Vec<usize>])],
) -> usize {
    let rules = &pkg.compiled().rules;
    let mut matches = 0;
    for (j, want) in reference.iter().enumerate() {
        let mut want = want.clone();
        want.sort_unstable();
        for (name, answers) in peers {
            let Some(got) = answers.get(j) else { continue };
            matches += want.len();
            let mut got = got.clone();
            got.sort_unstable();
            if got == want {
                continue;
            }
            let first = got
                .iter()
                .filter(|r| !want.contains(r))
                .chain(want.iter().filter(|r| !got.contains(r)))
                .min()
                .copied()
                .unwrap();
            let (has, lacks) = if got.contains(&first) {
                (*name, "the reference")
            } else {
                ("the reference", *name)
            };
            panic!(
                "peers disagree on profile `{}`: {has} matches rule `{}` (index {first}) and {lacks} does not\n  reference: {want:?}\n  {name}: {got:?}",
                profiles[j].id(),
                rules[first].name,
            );
        }
    }
    matches
}

struct Counts {
    /// Events for Tailor's indexed matching and full digest (cycling through profiles).
    fast: usize,
    /// Profiles (the first ones, each once) for rhai and zen; the reference does all.
    slow: usize,
}

struct Row {
    rules: usize,
    enter_rules: usize,
    indexed: Lat,
    reference: Lat,
    rhai: Lat,
    rhai_tuned: Lat,
    zen: Lat,
    digest: Lat,
    build: Build,
    profiles: usize,
    slow_profiles: usize,
    matches: usize,
}

/// Seconds to build each peer's structures.
struct Build {
    tailor_compile: f64,
    tailor_index: f64,
    rhai: f64,
    rhai_tuned: f64,
    zen: f64,
    zen_rows: usize,
    zen_columns: usize,
}

/// Load a package with its profiles and catalog, build every peer, measure them all, and
/// check that they agree.
fn run(src: String, profiles_text: &str, catalog_text: &str, counts: &Counts) -> Row {
    let t = Instant::now();
    let pkg = Package::from_sources(vec![("w.rules".into(), src)])
        .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let tailor_compile = t.elapsed().as_secs_f64();
    let mut sm = SourceMap::new();
    let profiles = pkg
        .parse_profiles(&mut sm, "p", profiles_text)
        .unwrap_or_else(|d| panic!("{}", d.render(&sm, false)));
    let catalog = pkg
        .parse_catalog(&mut sm, "c", catalog_text)
        .unwrap_or_else(|d| panic!("{}", d.render(&sm, false)));
    let t = Instant::now();
    let index = Index::new(&pkg, catalog);
    let tailor_index = t.elapsed().as_secs_f64();

    let kind = EventKind::Enter;
    let enter: Vec<usize> = (0..pkg.compiled().rules.len())
        .filter(|&i| pkg.compiled().rules[i].answers(kind))
        .collect();
    let t = Instant::now();
    let rhai = RhaiPeer::new(&pkg, &enter, Flavour::Plain);
    let rhai_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rhai_tuned = RhaiPeer::new(&pkg, &enter, Flavour::Tuned);
    let rhai_tuned_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let zen = ZenPeer::new(&pkg, &enter);
    let zen_s = t.elapsed().as_secs_f64();

    let event = Event::new(kind, workload::AT.parse().expect("time"));
    let h = History::default();
    let n = profiles.len();
    // zen's input is JSON, as a request would carry it; made before timing.
    let inputs: Vec<serde_json::Value> = profiles.iter().map(|p| zen.profile_json(p)).collect();

    let (indexed, a_indexed) = measure(counts.fast.max(n), n, &mut |j| {
        index.matching_rules(&event, &profiles[j])
    });
    let (reference, a_reference) = measure(n, n, &mut |j| pkg.matching_rules(&event, &profiles[j]));
    let slow = counts.slow.min(n);
    let (rhai_lat, a_rhai) = measure(slow, slow, &mut |j| rhai.matching_rules(&profiles[j]));
    let (rhai_tuned_lat, a_rhai_tuned) =
        measure(slow, slow, &mut |j| rhai_tuned.matching_rules(&profiles[j]));
    let (zen_lat, a_zen) = measure(slow, slow, &mut |j| zen.matching_rules(&inputs[j]));
    let (digest, _) = measure(counts.fast.max(n), n, &mut |j| {
        black_box(index.evaluate(&event, &profiles[j], &h));
        Vec::new()
    });
    let matches = check_agreement(
        &pkg,
        &profiles,
        &a_reference,
        &[
            ("Tailor indexed", &a_indexed),
            ("rhai", &a_rhai),
            ("rhai tuned", &a_rhai_tuned),
            ("zen", &a_zen),
        ],
    );
    Row {
        rules: pkg.compiled().rules.len(),
        enter_rules: enter.len(),
        indexed,
        reference,
        rhai: rhai_lat,
        rhai_tuned: rhai_tuned_lat,
        zen: zen_lat,
        digest,
        build: Build {
            tailor_compile,
            tailor_index,
            rhai: rhai_s,
            rhai_tuned: rhai_tuned_s,
            zen: zen_s,
            zen_rows: zen.rows,
            zen_columns: zen.columns,
        },
        profiles: n,
        slow_profiles: slow,
        matches,
    }
}

fn workload_row(audience: Audience, shape: Shape, counts: &Counts) -> Row {
    run(
        audience.package(&shape),
        &audience.profiles(&shape),
        &audience.catalog(&shape),
        counts,
    )
}

const HEADER: &str = "| rules | Tailor indexed p50 / mean µs | reference p50 / mean µs | rhai p50 / mean µs | rhai tuned p50 / mean µs | zen p50 / mean µs | reference ÷ indexed | rhai ÷ indexed | rhai tuned ÷ indexed | zen ÷ indexed | Tailor indexed full digest p50 / mean µs |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn print_row(r: &Row) {
    let pm = |l: Lat| format!("{:.1} / {:.1}", l.p50, l.mean);
    let ratio = |l: Lat| format!("{:.0}×", l.mean / r.indexed.mean);
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.rules,
        pm(r.indexed),
        pm(r.reference),
        pm(r.rhai),
        pm(r.rhai_tuned),
        pm(r.zen),
        ratio(r.reference),
        ratio(r.rhai),
        ratio(r.rhai_tuned),
        ratio(r.zen),
        pm(r.digest),
    );
}

const BUILD_HEADER: &str = "| rules | answering `enter` | Tailor compile s | Tailor index s | rhai compile s | rhai tuned compile s | zen build + compile s | zen rows × columns | profiles: indexed, reference / rhai, zen | matches checked |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn print_build(r: &Row) {
    let b = &r.build;
    println!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} × {} | {} / {} | {} |",
        r.rules,
        r.enter_rules,
        b.tailor_compile,
        b.tailor_index,
        b.rhai,
        b.rhai_tuned,
        b.zen,
        b.zen_rows,
        b.zen_columns,
        r.profiles,
        r.slow_profiles,
        r.matches,
    );
}

/// Missing values, negations and boundaries the generated workload may not reach:
/// missing fields, missing map keys, a missing parent of a nested field, `!=`, `not in`,
/// `not` over comparisons, conjunctions and `intersects`, constants on the left, and
/// every ordering operator at equality (so that a flipped `>=` or `<` is caught).
const EDGE_RULES: &str = r#"
profile {
  age: int
  city: string
  interests: set<string>
  family.child.age: int
  reads: map<int>
  vip: bool
}
content { topic: string }
edition e {
  timezone "Asia/Shanghai"
  sections { s00 1 }
}
segment young = profile.age < 30
rule e01 { when not (profile.family.child.age < 5)  pick 1 from s00 }
rule e02 { when profile.reads["a"] != 3  pick 1 from s00 }
rule e03 { when not (profile.reads["a"] >= 2)  pick 1 from s00 }
rule e04 { when not profile.vip  pick 1 from s00 }
rule e05 { when profile.vip  pick 1 from s00 }
rule e06 { when profile.city != "x"  pick 1 from s00 }
rule e07 { when "a" not in profile.interests  pick 1 from s00 }
rule e08 { when profile.city not in ["x", "y"]  pick 1 from s00 }
rule e09 { when not (profile.interests intersects ["a", "b"])  pick 1 from s00 }
rule e10 { when profile.family.child.age exists  pick 1 from s00 }
rule e11 { when not (profile.reads["a"] exists)  pick 1 from s00 }
rule e12 { when profile.age < 30 or not (profile.city == "x")  pick 1 from s00 }
rule e13 { when not (profile.age >= 20 and "a" in profile.interests)  pick 1 from s00 }
rule e14 { when 30 > profile.age  pick 1 from s00 }
rule e15 { when "ab" in profile.city  pick 1 from s00 }
rule e16 { when not young and profile.city in ["x", "xab"]  pick 1 from s00 }
rule e17 { when not (profile.city != "x")  pick 1 from s00 }
rule e18 { when not ("a" not in profile.interests)  pick 1 from s00 }
rule e19 { when profile.interests intersects ["b", "c"] or profile.reads["b"] < 1  pick 1 from s00 }
rule e20 { pick 1 from s00 }
rule e21 { when profile.age >= 20  pick 1 from s00 }
rule e22 { when profile.age <= 30 and profile.age > 19  pick 1 from s00 }
rule e23 { when profile.reads["a"] > 2 or profile.reads["b"] <= 1  pick 1 from s00 }
rule e24 { when profile.family.child.age <= 5  pick 1 from s00 }
rule e25 { when profile.age == 30 or profile.city == "ab"  pick 1 from s00 }
"#;

const EDGE_PROFILES: &str = r#"{"id": "empty"}
{"id": "full", "age": 25, "city": "x", "interests": ["a", "c"], "family": {"child": {"age": 3}}, "reads": {"a": 3, "b": 0}, "vip": true}
{"id": "older", "age": 40, "city": "xab", "interests": ["b"], "family": {"child": {"age": 9}}, "reads": {"a": 1}, "vip": false}
{"id": "no-family", "age": 19, "city": "y", "interests": [], "reads": {}}
{"id": "family-without-child", "city": "z", "family": {}, "reads": {"b": 2}, "vip": false}
{"id": "child-without-age", "age": 30, "family": {"child": {}}, "interests": ["a"]}
{"id": "boundaries", "age": 20, "city": "ab", "interests": ["a", "b"], "family": {"child": {"age": 5}}, "reads": {"a": 2, "b": 1}, "vip": true}
{"id": "boundaries-2", "age": 30, "city": "x", "family": {"child": {"age": 6}}, "reads": {"a": 3, "b": 2}}
"#;

const EDGE_CATALOG: &str = r#"{"id": "b1", "section": "s00", "title": "t", "published": "2024-04-30T08:00:00+08:00", "topic": "a"}"#;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");

    let edge = run(
        EDGE_RULES.to_owned(),
        EDGE_PROFILES,
        EDGE_CATALOG,
        &Counts {
            fast: 0,
            slow: usize::MAX,
        },
    );
    println!(
        "missing values and negations: {} rules, {} profiles, {} matches, all peers agree",
        edge.rules, edge.profiles, edge.matches
    );

    let audiences: Vec<Audience> = match std::env::var("PEERS_AUDIENCE") {
        Ok(a) => vec![a.parse().unwrap_or_else(|e| panic!("PEERS_AUDIENCE: {e}"))],
        Err(_) => Audience::ALL.to_vec(),
    };
    if !full {
        for &audience in &audiences {
            let r = workload_row(
                audience,
                Shape {
                    rules: 200,
                    blocks: 500,
                    profiles: 100,
                    seed: 1,
                },
                &Counts {
                    fast: 200,
                    slow: 100,
                },
            );
            println!("\n{audience} audiences\n\n{HEADER}");
            print_row(&r);
            println!("\n{BUILD_HEADER}");
            print_build(&r);
        }
        return;
    }

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "\nmachine: {cores} cores; release build; one event = rule matching for one profile (`enter`, no learning, no caps); \
         every peer's matches checked equal for every profile"
    );
    let only: Option<usize> = std::env::var("PEERS_ONLY")
        .ok()
        .map(|v| v.parse().expect("PEERS_ONLY=RULES"));
    for audience in audiences {
        // Narrow: rhai and zen measure every profile up to 10k rules; at 100k rules the
        // first 300 (each of their events costs tens of milliseconds there). Broad: the
        // sizes of issue 20, 50k blocks; at 10k rules a full digest costs about a
        // millisecond, so 5,000 events there (matching and digest alike).
        let (blocks, sizes): (usize, &[(usize, usize, usize)]) = match audience {
            Audience::Narrow => (
                10_000,
                &[
                    (1_000, 20_000, 2_000),
                    (10_000, 20_000, 2_000),
                    (100_000, 20_000, 300),
                ],
            ),
            Audience::Broad => (50_000, &[(1_000, 20_000, 2_000), (10_000, 5_000, 2_000)]),
        };
        let mut rows = Vec::new();
        for &(rules, fast, slow) in sizes {
            if only.is_some_and(|o| o != rules) {
                continue;
            }
            let shape = Shape {
                rules,
                blocks,
                profiles: 2_000,
                seed: 1,
            };
            let t = Instant::now();
            let r = workload_row(audience, shape, &Counts { fast, slow });
            eprintln!(
                "{audience}, {rules} rules: {:.0} s",
                t.elapsed().as_secs_f64()
            );
            rows.push(r);
        }
        if rows.is_empty() {
            continue;
        }
        let title = match audience {
            Audience::Narrow => "Narrow",
            Audience::Broad => "Broad",
        };
        println!(
            "\n### {title} audiences: rule matching per event ({}k blocks, 2,000 profiles)\n\n{HEADER}",
            blocks / 1_000
        );
        for r in &rows {
            print_row(r);
        }
        println!(
            "\n### {title} audiences: building each peer, and what the agreement check covered\n\n{BUILD_HEADER}"
        );
        for r in &rows {
            print_build(r);
        }
    }
}
