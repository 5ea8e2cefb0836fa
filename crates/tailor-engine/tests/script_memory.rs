//! Issue 16, defect 5: one script call could build ~100 MB within its operations budget
//! (a map of 32 KB strings). This binary counts every allocation (`stats_alloc` as the
//! global allocator) while the script of the issue runs through the engine's script host,
//! with the memory budget (`Limits::memory`) and without it. One test, so that no other
//! test allocates while it counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::alloc::System;

use jiff::tz::TimeZone;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tailor_engine::Package;
use tailor_engine::rhai_host::{Limits, RhaiHost};
use tailor_engine::script::{ScriptFailure, ScriptHost};
use tailor_engine::value::Ty;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RULES: &str = r#"
    profile { age: int }
    content { score: float }
    edition e { sections { news 3 } }
    script s from "s.rhai" { fn f() -> int }
"#;

/// The script of the issue: a map of 32 KB strings, each new, added by `m[k] = v`.
const MAP_OF_BIG_STRINGS: &str = r#"
    fn f() {
        let s = "x";
        while s.len() < 32768 { s += s; }
        let m = #{};
        let i = 0;
        loop { m["k" + i] = s + i; i += 1; }
    }
"#;

/// The call's result, and the bytes allocated while it ran (every allocation, freed or
/// not: an upper bound of what it held at its peak).
fn run(limits: Limits) -> (Result<tailor_engine::Value, ScriptFailure>, u64) {
    let pkg = Package::from_sources(vec![("main.rules".into(), RULES.into())]).unwrap();
    let host = RhaiHost::compile(
        &[MAP_OF_BIG_STRINGS.to_owned()],
        pkg.compiled(),
        pkg.sources(),
        limits,
    )
    .unwrap();
    let region = Region::new(GLOBAL);
    let r = host.call(0, 0, Ty::Int, &[], &TimeZone::UTC);
    let allocated = region.change().bytes_allocated as u64;
    (r, allocated)
}

#[test]
fn a_map_of_big_strings_stops_at_the_memory_budget() {
    const MIB: u64 = 1024 * 1024;

    // Without a memory budget (as before it existed) the call runs until its operations
    // run out, having allocated tens of MB (63 MB here; the issue saw ~100 MB).
    let unbounded = Limits {
        memory: usize::MAX,
        ..Limits::default()
    };
    let (r, before) = run(unbounded);
    eprintln!("without a memory budget: {r:?}, {before} bytes allocated");
    assert_eq!(r, Err(ScriptFailure::TooManyOperations(20_000)));
    assert!(before > 32 * MIB, "{before}");

    // With the default budget (1 MiB beyond the arguments) the call fails as over its
    // memory budget, having allocated a few MiB at most: the budget, what can be built
    // between two checks, and what was freed on the way (`s` doubling, key strings).
    let (r, after) = run(Limits::default());
    eprintln!("with the default memory budget: {r:?}, {after} bytes allocated");
    assert_eq!(r, Err(ScriptFailure::TooMuchMemory(1024 * 1024)));
    assert!(after < 4 * MIB, "{after}");
}
