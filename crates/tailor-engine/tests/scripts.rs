//! Scripts (language.md §8) as a package author and a host meet them: load-time diagnostics checked
//! as rendered (message, `file:line:col`, underlined text, help), the sandbox's load-time
//! refusals, limits chosen by the host, scripts compiled once, and what a runaway script
//! costs an event. What a call does at run time is in the corpus (`tests/corpus/scripts_*`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tailor_engine::package::LoadOptions;
use tailor_engine::rhai_host::Limits;
use tailor_engine::{Catalog, Event, EventKind, History, Package, Profile};
use tailor_lang::SourceMap;

const SCHEMA: &str = "\
profile { age: int  city: string }
content { seat: string  score: float }
edition e { sections { a 3  b 3 } }
";

/// A package directory with `schema.rules` and the given files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, files: &[(&str, &str)]) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("tailor-scripts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("schema.rules"), SCHEMA).unwrap();
        for (path, text) in files {
            std::fs::write(dir.join(path), text).unwrap();
        }
        Dir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Load a package that must be rejected; its diagnostics rendered without colour.
fn rejected(name: &str, files: &[(&str, &str)]) -> String {
    let dir = Dir::new(name, files);
    match Package::load(dir.path()) {
        Ok(_) => panic!("{name}: the package loaded"),
        Err(e) => e.render(false),
    }
}

fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "expected {p:?} in:\n{text}");
    }
}

fn data(pkg: &Package, profiles: &str, catalog: &str) -> (Vec<Profile>, Catalog) {
    let mut sm = SourceMap::new();
    let p = pkg
        .parse_profiles(&mut sm, "profiles.jsonl", profiles)
        .unwrap();
    let c = pkg
        .parse_catalog(&mut sm, "catalog.jsonl", catalog)
        .unwrap();
    (p, c)
}

fn enter() -> Event {
    Event::new(
        EventKind::Enter,
        "2013-04-02T07:30:00+08:00".parse().unwrap(),
    )
}

fn blocks(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id": "a-{i:03}", "section": "a", "title": "offer {i}", "seat": "window", "score": 0.5, "published": "2013-04-01T08:00:00+08:00"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------- load-time checks

#[test]
fn a_missing_script_file_is_reported_at_the_script_item() {
    let text = rejected(
        "missing-file",
        &[(
            "main.rules",
            "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n}\n",
        )],
    );
    assert_has(
        &text,
        &[
            "tailor::script_missing",
            "× script file `scripts/seat.rhai` not found",
            "╭─[main.rules:1:18]",
            "1 │ script seat from \"scripts/seat.rhai\" {",
            "help: script paths are relative to the package directory",
        ],
    );
}

#[test]
fn a_script_path_may_not_leave_the_package() {
    let text = rejected(
        "escape",
        &[(
            "main.rules",
            "script seat from \"../../etc/passwd\" {\n  fn habit(profile) -> string\n}\n",
        )],
    );
    assert_has(
        &text,
        &[
            "tailor::script_path",
            "× script path `../../etc/passwd` leaves the package directory",
            "╭─[main.rules:1:18]",
            "outside the package",
            "help: keep scripts inside the package",
        ],
    );
    // Nothing of the file it named is shown.
    assert!(!text.contains("root:"), "{text}");
}

#[test]
fn a_rhai_syntax_error_is_reported_at_the_scripts_own_line_and_column() {
    let text = rejected(
        "syntax",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n}\n",
            ),
            (
                "scripts/seat.rhai",
                "// Seats.\nfn habit(p) {\n    let n = p.seat_choices ?? #{};\n    if n.len() > 2 { \"window\" } else { \"none\" \n}\n",
            ),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_syntax",
            "× syntax error in script `scripts/seat.rhai`:",
            "╭─[scripts/seat.rhai:",
            "help: see the rhai book",
        ],
    );
    // A single token out of place: the column is exact.
    let text = rejected(
        "syntax-column",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n}\n",
            ),
            (
                "scripts/seat.rhai",
                "// Seats.\nfn habit(p) {\n    let n = 1 +;\n    \"none\"\n}\n",
            ),
        ],
    );
    assert_has(
        &text,
        &[
            "× syntax error in script `scripts/seat.rhai`: unexpected ';'",
            "╭─[scripts/seat.rhai:3:16]",
            "3 │     let n = 1 +;",
            "·                ┬",
        ],
    );
}

#[test]
fn a_missing_function_is_reported_at_its_declaration() {
    let text = rejected(
        "missing-fn",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n  fn score(profile, block) -> float\n}\n",
            ),
            (
                "scripts/seat.rhai",
                "fn habit(p) { \"none\" }\nfn scores(p, b) { 1.0 }\n",
            ),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_fn_missing",
            "× `scripts/seat.rhai` defines no function `score`",
            "╭─[main.rules:3:6]",
            "3 │   fn score(profile, block) -> float",
            "declared here",
            "help: `scripts/seat.rhai` defines `scores`",
        ],
    );
}

#[test]
fn a_function_of_another_arity_is_reported_at_its_declaration() {
    let text = rejected(
        "arity",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn score(profile, block) -> float\n}\n",
            ),
            ("scripts/seat.rhai", "fn score(b) { 1.0 }\n"),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_fn_arity",
            "× `scripts/seat.rhai` defines `score` with 1 parameter, but it is declared with 2",
            "╭─[main.rules:2:6]",
            "help: make the declaration and the rhai function take the same parameters",
        ],
    );
}

#[test]
fn an_argument_of_the_wrong_type_is_reported_at_the_call() {
    let text = rejected(
        "arg-type",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn prefers(profile, seat: string) -> bool\n}\nrule r {\n  when seat::prefers(profile, profile.age)\n  pick 1 from a\n}\n",
            ),
            ("scripts/seat.rhai", "fn prefers(p, seat) { true }\n"),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::type_mismatch",
            "× expected `string` as an argument of `seat::prefers`, found `int`",
            "╭─[main.rules:5:31]",
            "this is `int`",
            "declared here",
            "help:",
        ],
    );
    // A record where another record is declared.
    let text = rejected(
        "arg-record",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn fits(profile) -> bool\n}\nrule r {\n  pick 1 from a where seat::fits(block)\n}\n",
            ),
            ("scripts/seat.rhai", "fn fits(p) { true }\n"),
        ],
    );
    assert_has(
        &text,
        &["as an argument of `seat::fits`", "╭─[main.rules:5:34]"],
    );
}

#[test]
fn a_result_of_the_wrong_type_is_reported_at_the_call() {
    let text = rejected(
        "result-type",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn score(profile) -> float\n}\nrule r {\n  when seat::score(profile)\n  pick 1 from a\n}\n",
            ),
            ("scripts/seat.rhai", "fn score(p) { 1.0 }\n"),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::type_mismatch",
            "× expected `bool`, found `float`",
            "╭─[main.rules:5:8]",
            "5 │   when seat::score(profile)",
            "help:",
        ],
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let text = rejected(
        "several",
        &[
            (
                "main.rules",
                "script a from \"scripts/a.rhai\" { fn f() -> bool }\nscript b from \"scripts/b.rhai\" { fn g() -> bool }\nscript c from \"scripts/c.rhai\" { fn h() -> bool }\n",
            ),
            ("scripts/a.rhai", "fn f( { }\n"),
            ("scripts/b.rhai", "fn other() { true }\n"),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_syntax",
            "tailor::script_fn_missing",
            "tailor::script_missing",
        ],
    );
}

// ---------------------------------------------------------------- the sandbox at load

#[test]
fn a_script_trying_import_is_rejected_at_load() {
    let text = rejected(
        "import",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n}\n",
            ),
            (
                "scripts/seat.rhai",
                "// Read the seat map.\nimport \"std/fs\" as fs;\n\nfn habit(p) { fs::read(\"/etc/passwd\") }\n",
            ),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_sandbox",
            "× script `scripts/seat.rhai` uses `import`, but scripts cannot use modules",
            "╭─[scripts/seat.rhai:2:1]",
            "2 │ import \"std/fs\" as fs;",
            "   · ───┬──",
            "modules are not available",
            "help: scripts run sandboxed: no modules, files or network",
        ],
    );
}

#[test]
fn a_script_trying_eval_is_rejected_at_load() {
    let text = rejected(
        "eval",
        &[
            (
                "main.rules",
                "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> string\n}\n",
            ),
            ("scripts/seat.rhai", "fn habit(p) {\n  eval(p.code)\n}\n"),
        ],
    );
    assert_has(
        &text,
        &[
            "tailor::script_sandbox",
            "× script `scripts/seat.rhai` uses `eval`, which is disabled",
            "╭─[scripts/seat.rhai:2:3]",
            "help: scripts run sandboxed",
        ],
    );
}

#[test]
fn expression_depth_is_checked_at_load_under_the_hosts_limits() {
    let deep = format!("fn habit(p) {{ {}1{} }}\n", "(".repeat(30), ")".repeat(30));
    let files = [
        (
            "main.rules",
            "script seat from \"scripts/seat.rhai\" {\n  fn habit(profile) -> int\n}\n",
        ),
        ("scripts/seat.rhai", deep.as_str()),
    ];
    let dir = Dir::new("expr-depth", &files);
    assert!(
        Package::load(dir.path()).is_ok(),
        "loads under the defaults"
    );
    let options = LoadOptions {
        script_limits: Limits {
            expr_depth: 12,
            ..Limits::default()
        },
    };
    let text = Package::load_with(dir.path(), options)
        .map(|_| ())
        .unwrap_err()
        .render(false);
    assert_has(
        &text,
        &[
            "tailor::script_limit",
            "× script `scripts/seat.rhai` nests expressions deeper than 12",
            "╭─[scripts/seat.rhai:1:",
            "too deeply nested",
            "help: split the expression with `let`, or raise `Limits::expr_depth`",
        ],
    );
}

// ---------------------------------------------------------------- limits, compile once, cost

const COUNTING: &str = "\
script work from \"scripts/work.rhai\" {
  fn count(profile, n: int) -> bool
}
rule busy {
  when work::count(profile, 2000)
  pick 1 from a
}
";

const COUNTING_RHAI: &str = "fn count(p, n) { let i = 0; while i < n { i += 1; } true }\n";

#[test]
fn the_host_sets_the_limits_of_each_package() {
    let dir = Dir::new(
        "host-limits",
        &[
            ("main.rules", COUNTING),
            ("scripts/work.rhai", COUNTING_RHAI),
        ],
    );
    let profiles = r#"{"id": "u1", "age": 40}"#;
    let run = |pkg: &Package| {
        let (p, c) = data(pkg, profiles, &blocks(2));
        pkg.evaluate(&enter(), &p[0], &c, &History::default())
            .to_json()
    };
    let roomy = Package::load(dir.path()).unwrap();
    let out = run(&roomy);
    assert_eq!(out["fired"], serde_json::json!(["busy"]), "{out}");
    let options = LoadOptions {
        script_limits: Limits {
            operations: 1_000,
            ..Limits::default()
        },
    };
    let tight = Package::load_with(dir.path(), options).unwrap();
    let out = run(&tight);
    assert_eq!(out["fired"], serde_json::json!([]), "{out}");
    assert_eq!(
        out["errors"],
        serde_json::json!([{"script": "work", "function": "count", "user": "u1",
                            "error": "ran past its budget of 1000 operations"}])
    );
}

#[test]
fn scripts_are_compiled_once_when_the_package_loads() {
    let dir = Dir::new(
        "compile-once",
        &[
            ("main.rules", COUNTING),
            ("scripts/work.rhai", COUNTING_RHAI),
        ],
    );
    let pkg = Package::load(dir.path()).unwrap();
    // Evaluation never reads the file again: break it, then remove it.
    std::fs::write(dir.path().join("scripts/work.rhai"), "fn count( {").unwrap();
    let (p, c) = data(&pkg, r#"{"id": "u1"}"#, &blocks(2));
    let out = pkg.evaluate(&enter(), &p[0], &c, &History::default());
    assert_eq!(out.to_json()["fired"], serde_json::json!(["busy"]));
    std::fs::remove_file(dir.path().join("scripts/work.rhai")).unwrap();
    let out = pkg.evaluate(&enter(), &p[0], &c, &History::default());
    assert_eq!(out.to_json()["fired"], serde_json::json!(["busy"]));
    assert!(out.errors.is_empty());
}

#[test]
fn a_runaway_script_costs_an_event_one_budget_not_a_hung_thread() {
    let dir = Dir::new(
        "runaway",
        &[
            (
                "main.rules",
                "script s from \"scripts/s.rhai\" { fn spin(block) -> bool }\n\
                 rule stuck { priority 1  pick 3 from a where s::spin(block) }\n\
                 rule fine { pick 1 from b }\n",
            ),
            ("scripts/s.rhai", "fn spin(b) { loop { } }\n"),
        ],
    );
    let pkg = Package::load(dir.path()).unwrap();
    let catalog = format!(
        "{}\n{}",
        blocks(200),
        r#"{"id": "b-1", "section": "b", "title": "b", "published": "2013-04-01T08:00:00+08:00"}"#
    );
    let (p, c) = data(&pkg, r#"{"id": "u1"}"#, &catalog);
    let started = Instant::now();
    let out = pkg.evaluate(&enter(), &p[0], &c, &History::default());
    let took = started.elapsed();
    // The rest of the evaluation proceeds.
    assert_eq!(out.to_json()["fired"], serde_json::json!(["stuck", "fine"]));
    assert_eq!(out.items.len(), 1);
    // One call ran into the budget; the 199 others were not made.
    let budget = Limits::default().operations;
    assert_eq!(out.errors.len(), 200);
    assert_eq!(
        out.errors[0].error,
        format!("ran past its budget of {budget} operations")
    );
    assert_eq!(out.errors[0].block.as_deref(), Some("a-000"));
    assert!(out.errors[1..].iter().all(|e| e.error
        == format!(
            "ran past its budget of {budget} operations; not called again in this evaluation"
        )));
    // A generous bound, for unoptimised builds on a busy machine; the release figure
    // (about a millisecond) is in docs/scripts.md and benches/scripts.rs.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_script_over_its_memory_budget_costs_an_event_one_budget() {
    // The script of issue 16: a map of 32 KB strings, built by `m[k] = v`.
    let dir = Dir::new(
        "memory-hog",
        &[
            (
                "main.rules",
                "script s from \"scripts/s.rhai\" { fn hog(block) -> bool }\n\
                 rule greedy { priority 1  pick 3 from a where s::hog(block) }\n\
                 rule fine { pick 1 from b }\n",
            ),
            (
                "scripts/s.rhai",
                "fn hog(b) {\n\
                   let s = \"x\"; while s.len() < 32768 { s += s; }\n\
                   let m = #{}; let i = 0;\n\
                   loop { m[\"k\" + i] = s + i; i += 1; }\n\
                 }\n",
            ),
        ],
    );
    let pkg = Package::load(dir.path()).unwrap();
    let catalog = format!(
        "{}\n{}",
        blocks(20),
        r#"{"id": "b-1", "section": "b", "title": "b", "published": "2013-04-01T08:00:00+08:00"}"#
    );
    let (p, c) = data(&pkg, r#"{"id": "u1"}"#, &catalog);
    let out = pkg.evaluate(&enter(), &p[0], &c, &History::default());
    // The rest of the evaluation proceeds.
    assert_eq!(
        out.to_json()["fired"],
        serde_json::json!(["greedy", "fine"])
    );
    // One call ran into the memory budget; the 19 others were not made.
    let memory = Limits::default().memory;
    let first = format!("held more than {memory} bytes of data beyond its arguments");
    assert_eq!(out.errors.len(), 20);
    assert_eq!(out.errors[0].error, first);
    assert_eq!(
        out.errors[0].failure,
        tailor_engine::script::ScriptFailure::TooMuchMemory(memory)
    );
    assert!(
        out.errors[1..]
            .iter()
            .all(|e| e.error == format!("{first}; not called again in this evaluation"))
    );
}

/// The indexed evaluator sends every pick that calls a script — in `where`, in `order
/// by`, or through a fired rule's `drop where` — down the reference path, so that the
/// same calls are made and the same failures reported, in the same order. Each script
/// fails on a block past the point where an index walk would already be full.
#[test]
fn the_indexed_evaluator_reports_script_failures_exactly_as_the_reference() {
    const SCRIPT: &str = "script s from \"scripts/s.rhai\" {\n  fn odd(block) -> bool\n  fn rank(block) -> float\n  fn late(block) -> bool\n}\n";
    const RHAI: &str = "fn odd(b) { if b.title == \"offer 3\" || b.title == \"offer 5\" { throw \"no\" } b.title == \"offer 1\" }\n\
                        fn rank(b) { if b.title == \"offer 5\" { throw \"bad rank\" } b.title.len() * 1.0 }\n\
                        fn late(b) { if b.title == \"offer 7\" { throw \"late\" } true }\n";
    let b_blocks = (0..6)
        .map(|i| {
            format!(
                r#"{{"id": "b-{i:03}", "section": "b", "title": "offer {i}", "seat": "aisle", "published": "2013-04-01T08:00:00+08:00"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let catalog = format!("{}\n{b_blocks}", blocks(8));
    // Scripts in `where` and `order by` (no script drops, so only those picks take the
    // reference path); then a fired rule's scripted drop, which sends every pick there.
    let cases: [(&str, &str, &[&str]); 2] = [
        (
            "where-and-order",
            "rule early { priority 3  pick 2 from a where s::late(block) }\n\
             rule ranked { priority 2  pick 2 from b order by s::rank(block) desc }\n\
             rule plain { pick 3 from a where block.seat == \"window\" }\n",
            &["late", "rank"],
        ),
        (
            "drops",
            "rule picky { priority 1  pick 3 from b  drop where s::odd(block) }\n\
             rule plain { pick 3 from a where block.seat == \"window\" }\n",
            &["odd"],
        ),
    ];
    for (name, rules, failing) in cases {
        let main = format!("{SCRIPT}{rules}");
        let dir = Dir::new(
            &format!("indexed-{name}"),
            &[("main.rules", main.as_str()), ("scripts/s.rhai", RHAI)],
        );
        let pkg = Package::load(dir.path()).unwrap();
        let (p, c) = data(&pkg, r#"{"id": "u1", "age": 40}"#, &catalog);
        let index = tailor_engine::Index::new(&pkg, c.clone());
        let reference = pkg.evaluate(&enter(), &p[0], &c, &History::default());
        let indexed = index.evaluate(&enter(), &p[0], &History::default());
        let errors = reference.to_json()["errors"].to_string();
        for f in failing {
            assert!(
                errors.contains(&format!("\"function\":\"{f}\"")),
                "{name}: {errors}"
            );
        }
        assert_eq!(indexed.to_json(), reference.to_json(), "{name}");
    }
}
