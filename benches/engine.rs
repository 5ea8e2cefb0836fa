//! Criterion benches of the front end and the reference evaluator on the example package:
//! parse + check + compile of `rules/qianjiang`, and one digest for each of its readers;
//! and of the goal workload of the performance issue: one digest at 10k rules and 100k
//! blocks on the indexed path (cycling over 2,000 generated readers), and compiling 10k
//! rules. `benches/scale.rs` reports the same workload's p50/p99 event by event. And the
//! broad-audience shape of issue 20 (`tailor_workload::Audience::Broad`, a reader fires
//! ~11% of the rules): one indexed digest at 1k and at 10k rules with 50k blocks, and the
//! reference's digest at 1k.
//!
//! `cargo bench --bench engine`; `cargo test --benches` runs each once as a smoke test
//! (the generated workloads at 200 rules and 500 blocks there, to stay fast in debug).
//! Measured with the `tailor` binary's allocator (mimalloc).

// Test and bench code: panicking on broken input is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tailor_engine::{Event, EventKind, History, Package};
use tailor_lang::SourceMap;

/// The `tailor` binary's allocator, so that these figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn package_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/qianjiang"))
}

fn sources() -> Vec<(String, String)> {
    tailor_engine::package::rules_files(package_dir())
        .expect("package")
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            (p.display().to_string(), text)
        })
        .collect()
}

fn compile(c: &mut Criterion) {
    let files = sources();
    c.bench_function("qianjiang/parse", |b| {
        b.iter(|| {
            for (i, (_, text)) in files.iter().enumerate() {
                black_box(tailor_lang::parse_file(
                    tailor_lang::FileId(i as u32),
                    black_box(text),
                ));
            }
        })
    });
    c.bench_function("qianjiang/parse+check+compile", |b| {
        b.iter(|| black_box(Package::from_sources(black_box(files.clone())).expect("package")))
    });
}

fn digest(c: &mut Criterion) {
    let pkg = Package::load(package_dir()).expect("package");
    let mut sm = SourceMap::new();
    let read = |name: &str| std::fs::read_to_string(package_dir().join(name)).expect("data");
    let profiles = pkg
        .parse_profiles(&mut sm, "profiles.jsonl", &read("profiles.jsonl"))
        .expect("profiles");
    let catalog = pkg
        .parse_catalog(&mut sm, "catalog.jsonl", &read("catalog.jsonl"))
        .expect("catalog");
    let history = History::default();
    let at = "2013-02-21T19:30:00+08:00".parse().expect("time");
    let event = Event::new(EventKind::Enter, at);
    let mut group = c.benchmark_group("qianjiang/digest");
    for p in &profiles {
        group.bench_function(p.id(), |b| {
            b.iter(|| black_box(pkg.evaluate(black_box(&event), black_box(p), &catalog, &history)))
        });
    }
    group.finish();
}

/// The goal workload (10k rules, 100k blocks) under `cargo bench`; a small one in the
/// smoke test.
fn goal_shape() -> tailor_workload::Shape {
    let full = std::env::args().any(|a| a == "--bench");
    tailor_workload::Shape {
        rules: if full { 10_000 } else { 200 },
        blocks: if full { 100_000 } else { 500 },
        profiles: if full { 2_000 } else { 50 },
        seed: 1,
    }
}

fn goal(c: &mut Criterion) {
    use tailor_workload as workload;
    let shape = goal_shape();
    let src = workload::package(&shape);
    let label = format!("generated/{}_rules", shape.rules);
    // A compile of 10k rules takes a good part of a second: ten samples.
    let mut group = c.benchmark_group(&label);
    group.sample_size(10);
    group.bench_function("parse+check+compile", |b| {
        b.iter(|| {
            black_box(
                Package::from_sources(vec![("w.rules".into(), black_box(src.clone()))])
                    .expect("package"),
            )
        })
    });
    group.finish();
    let w = workload::load(&shape).unwrap_or_else(|e| panic!("{e}"));
    let profiles = w.profiles;
    let index = tailor_engine::Index::new(&w.package, w.catalog);
    let event = Event::new(EventKind::Enter, workload::AT.parse().expect("time"));
    let history = History::default();
    let mut i = 0;
    c.bench_function(
        &format!("{label}_{}_blocks/indexed_digest", shape.blocks),
        |b| {
            b.iter(|| {
                i = (i + 1) % profiles.len();
                black_box(index.evaluate(black_box(&event), &profiles[i], &history))
            })
        },
    );
}

/// The broad shape: one indexed digest (cycling over 2,000 readers) at 1k and 10k rules
/// with 50k blocks, and the reference's at 1k (at 10k one reference digest takes tens of
/// milliseconds: `benches/scale.rs` reports it).
fn broad(c: &mut Criterion) {
    use tailor_workload::{self as workload, Audience};
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[1_000, 10_000] } else { &[200] };
    let event = Event::new(EventKind::Enter, workload::AT.parse().expect("time"));
    let history = History::default();
    for &rules in sizes {
        let shape = workload::Shape {
            rules,
            blocks: if full { 50_000 } else { 500 },
            profiles: if full { 2_000 } else { 50 },
            seed: 1,
        };
        let w = Audience::Broad
            .load(&shape)
            .unwrap_or_else(|e| panic!("{e}"));
        let profiles = w.profiles;
        let index = tailor_engine::Index::new(&w.package, w.catalog);
        let mut group = c.benchmark_group(format!(
            "broad/{}_rules_{}_blocks",
            shape.rules, shape.blocks
        ));
        let mut i = 0;
        group.bench_function("indexed_digest", |b| {
            b.iter(|| {
                i = (i + 1) % profiles.len();
                black_box(index.evaluate(black_box(&event), &profiles[i], &history))
            })
        });
        if rules <= 1_000 {
            group.sample_size(10);
            group.bench_function("reference_digest", |b| {
                b.iter(|| {
                    i = (i + 1) % profiles.len();
                    black_box(w.package.evaluate(
                        black_box(&event),
                        &profiles[i],
                        index.catalog(),
                        &history,
                    ))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compile, digest, goal, broad);
criterion_main!(benches);
