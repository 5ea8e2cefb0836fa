//! Scale harness: cost per event as rules and blocks grow, indexed vs reference, compile
//! time, and threads. Per-event latencies are timed one by one to report p50/p99.
//!
//! Both shapes of the workload generator (`tailor_workload::Audience`) are reported: the
//! narrow one (a reader fires 41–69 rules at every rule count) and the broad one (a reader
//! fires ~11% of the rules: ~117 at 1k rules, ~1,100 at 10k), each row with the rules
//! fired per event and the mean cost per fired rule.
//!
//! `cargo bench --bench scale` runs the full matrix (a few minutes) and prints Markdown
//! tables; under `cargo test --benches` (no `--bench` argument) it runs one tiny
//! configuration of each shape as a smoke test. `-- --audience narrow|broad` (or
//! `SCALE_AUDIENCE=narrow|broad`) runs one shape's tables only (default both; the threads
//! table is the narrow shape's). `-- --threads` runs the threads table alone;
//! `-- --only 10000x100000 [--events N] [--reference N]` runs one row of the narrow shape, or
//! of the broad one with `--audience broad` (for profiling; under
//! `valgrind --tool=callgrind --toggle-collect='*Index*evaluate*'` it counts the
//! instructions of the indexed evaluator alone).
//!
//! It measures with the allocator the `tailor` binary uses (mimalloc).

// Test and bench code: panicking on broken input is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tailor_engine::{Event, EventKind, History, Index, Package, Profile};
use tailor_workload::{self as workload, Audience, Shape};

/// The `tailor` binary's allocator, so that these figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Loaded {
    pkg: Package,
    index: Index,
    profiles: Vec<Profile>,
    compile_s: f64,
    index_s: f64,
}

fn load(audience: Audience, shape: Shape) -> Loaded {
    let w = audience.load(&shape).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let index = Index::new(&w.package, w.catalog);
    let index_s = t.elapsed().as_secs_f64();
    Loaded {
        pkg: w.package,
        index,
        profiles: w.profiles,
        compile_s: w.compile.as_secs_f64(),
        index_s,
    }
}

struct Lat {
    p50: f64,
    p99: f64,
    mean: f64,
}

/// Per-event latencies in microseconds over `n` events cycling through the profiles.
fn measure(n: usize, profiles: &[Profile], f: &dyn Fn(&Profile)) -> Lat {
    // Warm up.
    for p in profiles.iter().take(50) {
        f(p);
    }
    let mut us: Vec<f64> = (0..n)
        .map(|i| {
            let p = &profiles[i % profiles.len()];
            let t = Instant::now();
            f(p);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() as f64 * q) as usize).min(us.len() - 1)];
    Lat {
        p50: at(0.5),
        p99: at(0.99),
        mean: us.iter().sum::<f64>() / us.len() as f64,
    }
}

fn row(audience: Audience, shape: Shape, events: usize, reference_events: usize) {
    let l = load(audience, shape);
    let event = Event::new(EventKind::Enter, workload::AT.parse().expect("time"));
    let h = History::default();
    let fast = measure(events, &l.profiles, &|p| {
        black_box(l.index.evaluate(&event, p, &h));
    });
    let reference = (reference_events > 0).then(|| {
        measure(reference_events, &l.profiles, &|p| {
            black_box(l.pkg.evaluate(&event, p, l.index.catalog(), &h));
        })
    });
    // What a reader gets here: rules fired and items per event (one untimed pass).
    let (mut fired, mut items) = (0usize, 0usize);
    for p in &l.profiles {
        let o = l.index.evaluate(&event, p, &h);
        fired += o.fired.len();
        items += o.items.len();
    }
    let per = |n: usize| n as f64 / l.profiles.len().max(1) as f64;
    let (rp50, ratio) = match &reference {
        Some(r) => (
            format!("{:.0}", r.p50),
            format!("{:.0}×", r.mean / fast.mean),
        ),
        None => ("—".into(), "—".into()),
    };
    println!(
        "| {:>6} | {:>7} | {:>7} | {:>6.1} | {:>5.1} | {:>8.1} | {:>8.1} | {:>8.1} | {:>9} | {:>6} | {:>7.2} | {:>6.2} | {:>6.3} |",
        audience.name(),
        shape.rules,
        shape.blocks,
        per(fired),
        per(items),
        fast.p50,
        fast.p99,
        fast.mean,
        rp50,
        ratio,
        l.compile_s,
        l.index_s,
        fast.mean / per(fired).max(1.0),
    );
}

/// Event `i` on thread `k`: `work(k, i)`.
type Work<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Events per second with `n` threads.
fn rate(work: Work<'_>, events: usize, n: usize) -> f64 {
    // The threads take the events in chunks from a shared counter, as a server's workers
    // take requests: a thread that the host slows down for a moment does less of the
    // work instead of leaving the other idle at the end (a fixed split did).
    const CHUNK: usize = 64;
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..n {
            let next = &next;
            s.spawn(move || {
                loop {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= events {
                        break;
                    }
                    for i in start..(start + CHUNK).min(events) {
                        work(k, i);
                    }
                }
            });
        }
    });
    events as f64 / t.elapsed().as_secs_f64()
}

/// The control row's event: arithmetic on registers, no memory, about as long as an
/// indexed event at 10k rules and 100k blocks. What two threads give on it is what this
/// machine gives at best, whatever the engine does.
fn arithmetic(i: usize) {
    let mut x = i as u64;
    for _ in 0..black_box(6_000) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    black_box(x);
}

fn threads(shape: Shape, events: usize, rounds: usize) {
    let l = load(Audience::Narrow, shape);
    let event = Event::new(EventKind::Enter, workload::AT.parse().expect("time"));
    let h = History::default();
    // What `tailor batch` gives its second worker: a copy of the derived indexes, the
    // package and the blocks shared.
    let copy = l.index.clone();
    let profiles = &l.profiles;
    let on = |index: &Index, i: usize| {
        black_box(index.evaluate(&event, &profiles[i % profiles.len()], &h));
    };
    let shared = |_: usize, i: usize| on(&l.index, i);
    let copies = |k: usize, i: usize| on(if k == 0 { &l.index } else { &copy }, i);
    let control = |_: usize, i: usize| arithmetic(i);
    let variants: [(String, Work<'_>); 3] = [
        (
            format!(
                "{} rules, {} blocks, one shared index",
                shape.rules, shape.blocks
            ),
            &shared,
        ),
        (
            format!(
                "{} rules, {} blocks, an index copy per thread (`tailor batch`)",
                shape.rules, shape.blocks
            ),
            &copies,
        ),
        ("control: arithmetic only, no memory".to_owned(), &control),
    ];
    // Each round runs one thread and two for every variant, so that a busy moment of
    // the shared host falls on all of them alike; odd rounds run two threads first, so
    // that a drift of the host within a round (or a cache warmed by the run before)
    // favours neither. A first round, not counted, warms both indexes and the caches.
    for (_, work) in &variants {
        rate(*work, events, 2);
    }
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (v, (_, work)) in variants.iter().enumerate() {
            let (one, two) = if round % 2 == 0 {
                let one = rate(*work, events, 1);
                (one, rate(*work, events, 2))
            } else {
                let two = rate(*work, events, 2);
                (rate(*work, events, 1), two)
            };
            runs[v].push((one, two));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for ((what, _), r) in variants.iter().zip(runs) {
        let mut ratios: Vec<f64> = r.iter().map(|(a, b)| b / a).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "| {what} | {:.0} | {:.0} | {:.2}× | {:.2}–{:.2}× |",
            median(r.iter().map(|x| x.0).collect()),
            median(r.iter().map(|x| x.1).collect()),
            median(ratios.clone()),
            ratios[0],
            ratios[ratios.len() - 1],
        );
    }
}

/// The value after `flag` among the arguments, else the environment variable `env`.
fn option(args: &[String], flag: &str, env: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().collect();
    // `--audience narrow|broad` or SCALE_AUDIENCE: one shape; default both.
    let chosen: Option<Audience> = option(&args, "--audience", "SCALE_AUDIENCE")
        .map(|a| a.parse().unwrap_or_else(|e| panic!("{e}")));
    let audiences: Vec<Audience> = match chosen {
        Some(a) => vec![a],
        None => Audience::ALL.to_vec(),
    };
    let header = "| audience | rules | blocks | fired/event | items/event | indexed p50 µs | p99 µs | mean µs | reference p50 µs | speed-up (mean) | compile s | index s | mean µs per fired rule |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
    if !full {
        // The smoke test: one tiny row of each shape and one round of the threads table.
        let tiny = Shape {
            rules: 200,
            blocks: 500,
            profiles: 100,
            seed: 1,
        };
        println!("{header}");
        for &audience in &audiences {
            row(audience, tiny, 200, 50);
        }
        threads(tiny, 200, 1);
        return;
    }
    // `cargo bench --bench scale -- --only 10000x100000`: one row, for profiling.
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        let (rules, blocks) = only.split_once('x').expect("--only RULESxBLOCKS");
        // `--events N` (default 20,000): fewer for a run under callgrind; `--reference N`
        // (default 0) events of the reference evaluator too.
        let number = |flag: &str, default: usize| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .map_or(default, |n| n.parse().expect("a number"))
        };
        println!("{header}");
        row(
            chosen.unwrap_or(Audience::Narrow),
            Shape {
                rules: rules.parse().expect("rules"),
                blocks: blocks.parse().expect("blocks"),
                profiles: 2_000,
                seed: 1,
            },
            number("--events", 20_000),
            number("--reference", 0),
        );
        return;
    }
    // `-- --threads`: the threads table alone.
    let threads_only = args.iter().any(|a| a == "--threads");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("machine: {cores} cores; release build; one event = learn + assemble for one profile");
    if audiences.contains(&Audience::Narrow) {
        narrow(header, threads_only);
    }
    if audiences.contains(&Audience::Broad) && !threads_only {
        // The broad shape at the sizes of issue 20 (50k blocks). Every reader is measured
        // several times: the mean depends on the head readers, whose events cost
        // milliseconds at 10k rules (the p99), and one pass over them is noisy.
        println!(
            "\n### Broad audiences: cost per event as rules grow (50k blocks; a reader fires ~11% of the rules)\n\n{header}"
        );
        for (rules, events, reference) in [(1_000, 20_000, 200), (10_000, 10_000, 50)] {
            row(
                Audience::Broad,
                Shape {
                    rules,
                    blocks: 50_000,
                    profiles: 2_000,
                    seed: 1,
                },
                events,
                reference,
            );
        }
    }
}

/// The narrow shape's tables (and the threads table), as before the broad shape.
fn narrow(header: &str, threads_only: bool) {
    let rules_rows: &[usize] = if threads_only {
        &[]
    } else {
        &[100, 1_000, 10_000, 100_000]
    };
    let blocks_rows: &[usize] = if threads_only {
        &[]
    } else {
        &[1_000, 10_000, 100_000]
    };
    println!("\n### Narrow audiences: cost per event as rules grow (10k blocks)\n\n{header}");
    for &rules in rules_rows {
        let reference = if rules <= 10_000 { 300 } else { 50 };
        row(
            Audience::Narrow,
            Shape {
                rules,
                blocks: 10_000,
                profiles: 2_000,
                seed: 1,
            },
            5_000,
            reference,
        );
    }
    println!("\n### Narrow audiences: cost per event as blocks grow (10k rules)\n\n{header}");
    for &blocks in blocks_rows {
        row(
            Audience::Narrow,
            Shape {
                rules: 10_000,
                blocks,
                profiles: 2_000,
                seed: 1,
            },
            5_000,
            100,
        );
    }
    println!(
        "\n### Threads (indexed, events per second; medians of 15 interleaved rounds of 60,000 events)\n\n| workload | 1 thread | 2 threads | median ratio | ratios |\n|---|---:|---:|---:|---:|"
    );
    threads(
        Shape {
            rules: 10_000,
            blocks: 100_000,
            profiles: 2_000,
            seed: 1,
        },
        60_000,
        15,
    );
}
