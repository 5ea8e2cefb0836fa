//! Memory: bytes per rule (compiled package, rule index), per loaded profile, per block
//! (catalog, pick indexes), and allocations per event, measured by counting every
//! allocation (`stats_alloc` as the global allocator: net bytes = allocated −
//! deallocated while the structure is built and kept, reallocations counted in both).
//!
//! `cargo bench --bench memory` prints the table; under `cargo test --benches` it runs a
//! small configuration. Its own binary, so the counting allocator never slows the
//! latency benches.

// Test and bench code: panicking on broken input is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

use std::alloc::System;
use std::hint::black_box;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tailor_engine::{Catalog, Event, EventKind, History, Index, Package};
use tailor_lang::SourceMap;
use tailor_workload::{self as workload, Shape};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Net bytes still allocated that `f` allocated, and what it returned.
fn net<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let region = Region::new(GLOBAL);
    let out = f();
    let s = region.change();
    // `stats_alloc` already adds a realloc's growth to `bytes_allocated` (and its
    // shrinking to `bytes_deallocated`); `bytes_reallocated` is the same change again.
    let bytes = s.bytes_allocated as f64 - s.bytes_deallocated as f64;
    (out, bytes)
}

fn rules_row(rules: usize) {
    let shape = Shape {
        rules,
        blocks: 0,
        profiles: 0,
        seed: 1,
    };
    let src = workload::package(&shape);
    // What a package keeps, part by part: the source text (in a `SourceMap`), the AST
    // and, the rest, the compiled IR (with the checker's warnings).
    let (sources, source_bytes) = net(|| {
        let mut sm = SourceMap::new();
        let id = sm.add("w.rules", src.as_str());
        (sm, id)
    });
    let (ast, ast_bytes) = net(|| tailor_lang::parse_file(sources.1, &src));
    drop((ast, sources));
    let (pkg, package_bytes) = net(|| {
        Package::from_sources(vec![("w.rules".into(), src)])
            .unwrap_or_else(|e| panic!("{}", e.render(false)))
    });
    // The rule index alone: an index over an empty catalog.
    let (index, index_bytes) = net(|| Index::new(&pkg, Catalog::default()));
    black_box(&index);
    let per = |b: f64| b / rules as f64;
    println!(
        "| {rules:>7} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.1} |",
        per(package_bytes),
        per(source_bytes),
        per(ast_bytes),
        per(package_bytes - source_bytes - ast_bytes),
        per(index_bytes),
        (package_bytes + index_bytes) / 1e6
    );
}

fn data_row(rules: usize, blocks: usize, profiles: usize, events: usize) {
    let shape = Shape {
        rules,
        blocks,
        profiles,
        seed: 1,
    };
    let pkg = Package::from_sources(vec![("w.rules".into(), workload::package(&shape))])
        .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let (ptext, ctext) = (workload::profiles(&shape), workload::catalog(&shape));
    let mut sm = SourceMap::new();
    let (loaded, profile_bytes) = net(|| pkg.parse_profiles(&mut sm, "p", &ptext).unwrap());
    let mut sm = SourceMap::new();
    let (catalog, catalog_bytes) = net(|| pkg.parse_catalog(&mut sm, "c", &ctext).unwrap());
    let (empty, rule_index_bytes) = net(|| Index::new(&pkg, Catalog::default()));
    drop(empty);
    let (index, index_bytes) = net(|| Index::new(&pkg, catalog));
    // The index owns the catalog now; its pick indexes are what it added.
    let pick_bytes = index_bytes - rule_index_bytes;
    let event = Event::new(EventKind::Enter, workload::AT.parse().expect("time"));
    let h = History::default();
    let region = Region::new(GLOBAL);
    for i in 0..events {
        black_box(index.evaluate(&event, &loaded[i % loaded.len()], &h));
    }
    let s = region.change();
    println!(
        "| {rules:>7} | {blocks:>7} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.1} | {:>8.0} |",
        profile_bytes / profiles as f64,
        catalog_bytes / blocks as f64,
        pick_bytes / blocks as f64,
        s.allocations as f64 / events as f64,
        s.bytes_allocated as f64 / events as f64,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rules_header = "| rules | package bytes/rule | of which source | AST | compiled IR and rest | rule index bytes/rule | total MB |\n|---:|---:|---:|---:|---:|---:|---:|";
    let data_header = "| rules | blocks | bytes/profile | catalog bytes/block | pick index bytes/block | allocations/event | bytes allocated/event |\n|---:|---:|---:|---:|---:|---:|---:|";
    if !full {
        println!("{rules_header}");
        rules_row(200);
        println!("\n{data_header}");
        data_row(200, 500, 100, 100);
        return;
    }
    println!("### Memory per rule\n\n{rules_header}");
    for rules in [1_000, 10_000, 100_000] {
        rules_row(rules);
    }
    println!("\n### Memory per profile and per block, allocations per event\n\n{data_header}");
    data_row(10_000, 100_000, 100_000, 20_000);
}
