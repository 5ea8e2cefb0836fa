//! `tailor check` and `tailor lint` look at the data: every record error of the profiles
//! and the catalog with file:line (exit 1), and warnings, with "did you mean", about
//! fields the schema does not declare and blocks in sections the edition does not have.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::Path;

mod common;
use common::tailor;

const RULES: &str = r#"
profile { age: int  interests: set<string> }
content { genres: set<string> }
edition e { sections { news 2  weather 1 } }
rule r { pick 1 from news where "jazz" in block.genres }
"#;

const PROFILES: &str = r#"{"id": "a", "age": 70, "interests": ["jazz"]}
{"id": "b", "age": "seventy"}
"#;

const CATALOG: &str = r#"{"id": "n-1", "section": "news", "title": "One", "published": "2013-02-21T06:00:00+08:00", "genres": ["jazz"]}
{"id": "n-2", "section": "news", "title": "Two", "published": "yesterday"}
"#;

fn package(dir: &Path, profiles: &str, catalog: &str) -> String {
    std::fs::write(dir.join("rules.rules"), RULES).unwrap();
    std::fs::write(dir.join("profiles.jsonl"), profiles).unwrap();
    std::fs::write(dir.join("catalog.jsonl"), catalog).unwrap();
    dir.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = tailor(args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_record_error_of_both_files_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), PROFILES, CATALOG);
    for command in ["check", "lint"] {
        let (code, _, stderr) = run(&[command, &pkg]);
        assert_eq!(code, Some(1), "{command}: {stderr}");
        assert!(stderr.contains("profiles.jsonl:2:"), "{command}: {stderr}");
        assert!(stderr.contains("`age`"), "{command}: {stderr}");
        assert!(stderr.contains("catalog.jsonl:2:"), "{command}: {stderr}");
        assert!(stderr.contains("`published`"), "{command}: {stderr}");
        assert!(stderr.contains("2 errors"), "{command}: {stderr}");
    }
}

#[test]
fn check_warns_about_undeclared_fields_and_sections_with_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = "{\"id\": \"a\", \"age\": 70, \"intrests\": [\"jazz\"]}\n\
                    {\"id\": \"b\", \"age\": 20, \"intrests\": []}\n";
    let catalog = "{\"id\": \"n-1\", \"section\": \"news\", \"title\": \"One\", \"published\": \"2013-02-21T06:00:00+08:00\", \"gernes\": [\"jazz\"]}\n\
                   {\"id\": \"w-1\", \"section\": \"wether\", \"title\": \"Rain\", \"published\": \"2013-02-21T06:00:00+08:00\"}\n";
    let pkg = package(dir.path(), profiles, catalog);
    let (code, stdout, stderr) = run(&["check", &pkg]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("data: 2 profiles"), "{stdout}");
    assert!(stdout.contains("3 warnings"), "{stdout}");
    for wanted in [
        "profiles.jsonl:1: field `intrests` is not declared in `profile { … }` (and 1 other",
        "did you mean `interests`?",
        "catalog.jsonl:1: field `gernes` is not declared in `content { … }`",
        "did you mean `genres`?",
        "catalog.jsonl:2: section `wether` is not in the edition",
        "did you mean `weather`?",
    ] {
        assert!(stderr.contains(wanted), "missing {wanted:?} in:\n{stderr}");
    }
    // `lint --deny-warnings` counts the data's warnings.
    let (code, _, stderr) = run(&["lint", &pkg, "--deny-warnings"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("did you mean `genres`?"), "{stderr}");
}

#[test]
fn check_takes_data_files_from_options() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path(), PROFILES, CATALOG);
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, "{\"id\": \"a\", \"age\": 70}\n").unwrap();
    let other = dir.path().join("other-catalog.jsonl");
    std::fs::write(&other, CATALOG.lines().next().unwrap()).unwrap();
    let (code, stdout, stderr) = run(&[
        "check",
        &pkg,
        "--profiles",
        good.to_str().unwrap(),
        "--catalog",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("data: 1 profiles"), "{stdout}");
    assert!(stdout.contains("1 blocks"), "{stdout}");
}

#[test]
fn the_shipped_packages_data_is_clean() {
    for pkg in ["rules/qianjiang", "rules/airline"] {
        let (code, stdout, stderr) = run(&["check", pkg]);
        assert_eq!(code, Some(0), "{pkg}: {stderr}");
        assert!(stdout.contains("data: "), "{pkg}: {stdout}");
        assert!(!stderr.contains("tailor::undeclared"), "{pkg}: {stderr}");
    }
}
