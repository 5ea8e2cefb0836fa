//! Write a generated workload to a directory, as a rules package that `tailor` reads:
//! `w.rules`, `catalog.jsonl` and `profiles.jsonl`. The way to measure the engine from
//! outside, with `tailor batch` (BENCHMARKS.md, "From outside").
//!
//! ```text
//! cargo run --release --example workload -- [--audience narrow|broad] DIR [RULES [BLOCKS [PROFILES [SEED]]]]
//! ```
//!
//! Defaults: the narrow shape, 10,000 rules, 100,000 blocks, 100,000 profiles, seed 1.
//! `--audience broad` writes the broad-audience shape (`tailor_workload::broad`: a reader
//! fires ~11% of the rules), e.g. `-- --audience broad /tmp/wb 10000 50000 2000`, to
//! compare `tailor batch --threads 1` with `--engine reference` on it. The event time the
//! workload is made for is `tailor_workload::AT`; pass it to `tailor batch --at`.

use std::path::PathBuf;
use std::process::ExitCode;

use tailor_workload::{self as workload, Audience, Shape};

const USAGE: &str =
    "usage: workload [--audience narrow|broad] DIR [RULES [BLOCKS [PROFILES [SEED]]]]";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut audience = Audience::Narrow;
    if let Some(i) = args.iter().position(|a| a == "--audience") {
        let Some(name) = args.get(i + 1) else {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        };
        audience = match name.parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("workload: {e}");
                return ExitCode::FAILURE;
            }
        };
        args.drain(i..i + 2);
    }
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.replace('_', "")
                .parse()
                .map_err(|_| format!("not a number: {s}"))
        })
    };
    let shape = match (|| {
        Ok::<_, String>(Shape {
            rules: number(1, 10_000)?,
            blocks: number(2, 100_000)?,
            profiles: number(3, 100_000)?,
            seed: number(4, 1)? as u64,
        })
    })() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("workload: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = [
        ("w.rules", audience.package(&shape)),
        ("catalog.jsonl", audience.catalog(&shape)),
        ("profiles.jsonl", audience.profiles(&shape)),
    ];
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("workload: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in files {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("workload: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{}: {audience} audiences, {} rules, {} blocks, {} profiles (seed {}); event time {}",
        dir.display(),
        shape.rules,
        shape.blocks,
        shape.profiles,
        shape.seed,
        workload::AT
    );
    ExitCode::SUCCESS
}
