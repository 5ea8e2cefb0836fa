//! `tailor digest --event open` (language.md §12): the learning of `learn on open` applied to the
//! command's copy of the profile and printed as `learned`, the outcome `empty`; the item's
//! reason, section and delivery time taken from the history when not given; no learning
//! again for an item of a delivery already opened in the history.

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
profile {
  read_tags: set<string>
  reads: map<int>
  last_rule: string
  last_delivered: time
}
edition e { sections { current 3 } }
learn on open {
  add block.tags to profile.read_tags
  incr profile.reads[event.section]
  set profile.last_rule = event.rule
  set profile.last_delivered = event.delivered
}
rule taiwan_first { pick 1 from current }
"#;

const PROFILES: &str = r#"{"id": "li", "read_tags": ["culture"]}
"#;

const CATALOG: &str = r#"{"id": "c-201", "section": "current", "title": "Two", "tags": ["taiwan", "politics"], "published": "2013-02-21T06:00:00Z"}
"#;

const HISTORY: &str = r#"{"user": "li", "at": "2013-02-21T11:30:00Z", "event": "enter", "blocks": ["c-201"], "fired": ["taiwan_first"], "items": [{"id": "c-201", "section": "current", "rule": "taiwan_first", "url": "https://example.com/c-201"}]}
"#;

fn package(dir: &Path) -> String {
    std::fs::write(dir.join("rules.rules"), RULES).unwrap();
    std::fs::write(dir.join("profiles.jsonl"), PROFILES).unwrap();
    std::fs::write(dir.join("catalog.jsonl"), CATALOG).unwrap();
    std::fs::write(dir.join("history.jsonl"), HISTORY).unwrap();
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

/// `tailor digest PKG --user li --event open --block c-201 EXTRA… --at 12:00`, li opening
/// the one article half an hour after its delivery.
fn open_c201(pkg: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec![
        "digest", pkg, "--user", "li", "--event", "open", "--block", "c-201",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--at", "2013-02-21T12:00:00Z"]);
    run(&args)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn an_open_learns_and_prints_learned_with_an_empty_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path());
    let (code, stdout, stderr) = open_c201(
        &pkg,
        &[
            "--rule",
            "taiwan_first",
            "--section",
            "current",
            "--delivered",
            "2013-02-21T11:30:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let o = json(&stdout);
    assert_eq!(o["outcome"], "empty");
    assert_eq!(o["event"], "open");
    assert_eq!(o["fired"], serde_json::json!([]));
    assert_eq!(
        o["learned"],
        serde_json::json!([
            {"op": "add", "field": "read_tags", "value": ["politics", "taiwan"]},
            {"op": "incr", "field": "reads", "key": "current", "by": 1},
            {"op": "set", "field": "last_rule", "value": "taiwan_first"},
            {"op": "set", "field": "last_delivered", "value": "2013-02-21T11:30:00+00:00"}
        ])
    );
    // The terminal form says what was learned too.
    let (code, text, _) = open_c201(&pkg, &["--rule", "r"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("learned"), "{text}");
    assert!(text.contains("read_tags"), "{text}");
}

#[test]
fn the_item_is_found_in_the_history_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path());
    let history = dir.path().join("history.jsonl");
    let (code, stdout, stderr) = open_c201(
        &pkg,
        &["--history", history.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let o = json(&stdout);
    let learned = o["learned"].as_array().unwrap();
    assert!(
        learned.contains(
            &serde_json::json!({"op": "set", "field": "last_rule", "value": "taiwan_first"})
        ),
        "{o}"
    );
    assert!(
        learned.contains(
            &serde_json::json!({"op": "incr", "field": "reads", "key": "current", "by": 1})
        ),
        "{o}"
    );
    assert!(learned.contains(&serde_json::json!({"op": "set", "field": "last_delivered", "value": "2013-02-21T11:30:00+00:00"})), "{o}");
}

#[test]
fn a_second_open_of_the_same_item_of_the_same_delivery_learns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path());
    let history = dir.path().join("history.jsonl");
    let opened = format!(
        "{HISTORY}{}\n",
        r#"{"user": "li", "at": "2013-02-21T11:40:00Z", "event": "open", "block": "c-201", "rule": "taiwan_first", "section": "current", "delivered": "2013-02-21T11:30:00Z"}"#
    );
    std::fs::write(&history, opened).unwrap();
    let (code, stdout, stderr) = open_c201(
        &pkg,
        &["--history", history.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let o = json(&stdout);
    assert_eq!(o["outcome"], "empty");
    assert!(o.get("learned").is_none(), "{o}");
    assert!(stderr.contains("already opened"), "{stderr}");
    // The open of another delivery of the same block learns.
    let (_, stdout, _) = open_c201(
        &pkg,
        &[
            "--history",
            history.to_str().unwrap(),
            "--delivered",
            "2013-02-21T09:00:00Z",
            "--format",
            "json",
        ],
    );
    assert!(json(&stdout).get("learned").is_some(), "{stdout}");
}

#[test]
fn open_needs_a_block_and_the_item_flags_need_open() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(dir.path());
    let (code, _, stderr) = run(&["digest", &pkg, "--user", "li", "--event", "open"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("`--event open` needs `--block ID`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["digest", &pkg, "--user", "li", "--block", "c-201"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("need `--event open`"), "{stderr}");
}

#[test]
fn tailor_preview_lists_each_readers_recent_opens_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    std::fs::write(
        &history,
        concat!(
            r#"{"user": "zhou-xiaoyu", "at": "2013-02-21T11:30:00Z", "event": "enter", "blocks": ["c-207"], "fired": ["everyone_current"], "items": [{"id": "c-207", "section": "current", "rule": "everyone_current", "url": "https://example.com/qjwb/2013/02/21/c-207.html"}]}"#,
            "\n",
            r#"{"user": "zhou-xiaoyu", "at": "2013-02-21T12:05:00Z", "event": "open", "block": "c-207", "rule": "everyone_current", "section": "current", "delivered": "2013-02-21T11:30:00Z"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("pages");
    let o = tailor(&[
        "preview",
        "rules/qianjiang",
        "--users",
        "zhou-xiaoyu,li-daye",
        "--history",
        history.to_str().unwrap(),
        "--at",
        "2013-02-22T19:30:00+08:00",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = |name: &str| {
        let file = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("no page for {name}"));
        std::fs::read_to_string(file).unwrap()
    };
    let zhou = page("zhou-xiaoyu");
    assert!(zhou.contains("Recent opens (1)"), "{zhou}");
    assert!(zhou.contains("<li data-block=\"c-207\">"), "{zhou}");
    assert!(zhou.contains("2013-02-21T20:05:00+08:00"), "{zhou}");
    // Another reader's page lists none of her opens.
    assert!(!page("li-daye").contains("Recent opens"));
}
