//! The authoring tools end to end through the `tailor` binary: `test` (green on the
//! example packages with full coverage; a failing case as a diff and exit 1), `explain`
//! and `lint`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::PathBuf;

mod common;
use common::{tailor, workspace};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A package in a fresh temporary directory.
fn package(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-authoring-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    dir
}

const SMALL: &str = r#"
profile { age: int city: string }
content { city: string }
edition e { sections { weather 1 news 2 } }
segment senior = profile.age >= 60
rule home_weather { pick 1 from weather where block.city == profile.city }
rule news_for_seniors { when senior pick 2 from news }
"#;

const CATALOG: &str = r#"{"id": "w-1", "section": "weather", "title": "Hangzhou: rain", "city": "杭州", "published": "2013-02-21T06:00:00+08:00"}
{"id": "w-2", "section": "weather", "title": "Ningbo: sun", "city": "宁波", "published": "2013-02-21T06:00:00+08:00"}
{"id": "n-1", "section": "news", "title": "Lanterns", "published": "2013-02-21T07:00:00+08:00"}
"#;

const PROFILES: &str = r#"{"id": "old", "age": 70, "city": "杭州"}
{"id": "young", "age": 20, "city": "宁波"}
"#;

#[test]
fn qianjiang_tests_pass_and_cover_every_rule_pick_and_drop() {
    let out = tailor(&["test", "rules/qianjiang", "--coverage"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("test li_daye_evening_edition ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("test result: ok."), "{stdout}");
    assert!(
        stdout.contains("every rule, pick and drop was exercised"),
        "{stdout}"
    );
}

#[test]
fn airline_tests_pass_when_the_package_has_tests() {
    let dir = workspace().join("rules/airline");
    if !dir.join("tests").is_dir() {
        println!("rules/airline has no tests/ directory yet");
        return;
    }
    let out = tailor(&["test", "rules/airline", "--coverage"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("every rule, pick and drop was exercised"),
        "{stdout}"
    );
}

#[test]
fn a_failing_case_is_a_diff_with_the_reason_and_exit_1() {
    let dir = package(
        "failing",
        &[
            ("main.rules", SMALL),
            ("catalog.jsonl", CATALOG),
            ("profiles.jsonl", PROFILES),
            (
                "tests/cases.json",
                r#"{"at": "2013-02-21T19:30:00+08:00", "cases": [
                    {"name": "old_reader", "user": "old", "expect": {"items": ["w-1", "n-1"], "fired": ["home_weather", "news_for_seniors"]}},
                    {"name": "young_reader_wrongly_expected", "user": "young", "expect": {"items": ["w-1", "n-1"]}},
                    {"name": "young_fires", "user": "young", "expect": {"fires": ["news_for_seniors"]}}
                ]}"#,
            ),
        ],
    );
    let out = tailor(&["test", dir.to_str().expect("utf-8")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("running 3 tests (tests/cases.json)"),
        "{stdout}"
    );
    assert!(stdout.contains("test old_reader ... ok"), "{stdout}");
    assert!(
        stdout.contains("test young_reader_wrongly_expected ... FAILED"),
        "{stdout}"
    );
    // The diff: expected-only lines with `-`, actual-only with `+`, titles and reasons.
    assert!(stdout.contains("    - w-1      Hangzhou: rain"), "{stdout}");
    assert!(
        stdout.contains("    + w-2      Ningbo: sun  (home_weather)"),
        "{stdout}"
    );
    // And why the expected blocks are missing, from the explanation.
    assert!(
        stdout.contains("home_weather — pick 1 from weather where block.city == profile.city: where: `block.city == profile.city` was false (block.city = \"杭州\", profile.city = \"宁波\")"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fires: rule `news_for_seniors` did not fire: `profile.age >= 60` was false (profile.age = 20) in segment senior"),
        "{stdout}"
    );
    assert!(
        stdout.contains("test result: FAILED. 1 passed; 2 failed"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("error: 2 tests failed"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn test_files_with_unknown_keys_are_rejected_with_a_suggestion() {
    let dir = package(
        "typo",
        &[
            ("main.rules", SMALL),
            ("catalog.jsonl", CATALOG),
            ("profiles.jsonl", PROFILES),
            (
                "tests/cases.json",
                r#"{"at": "2013-02-21T19:30:00+08:00", "cases": [{"user": "old", "expect": {"exclude": ["w-2"]}}]}"#,
            ),
        ],
    );
    let out = tailor(&["test", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown key `exclude`"), "{stderr}");
    assert!(stderr.contains("did you mean `excludes`?"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn explain_says_why_each_rule_fired_or_not_and_why_each_block_was_left() {
    let out = tailor(&[
        "explain",
        "rules/qianjiang",
        "--user",
        "li-daye",
        "--at",
        "2013-02-21T19:30:00+08:00",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in [
        "  ✓ taiwan_first (priority 90) fired",
        "      because `\"taiwan\" in profile.interests` was true (profile.interests = [\"history\",\"taiwan\"]) in segment taiwan_reader",
        "  ✗ young_parents did not fire (rules.rules:",
        "      `profile.young_children > 0` was false (profile.young_children = missing) in segment young_parent",
        "  ✗ weather_on_request does not answer `enter` (on text)",
        "    · h-102 省委主要领导赴宁波舟山港调研 — dropped by rule mute_topics (and by spare_seniors)",
        "    · h-104 今夜快讯：主城区明起实施元宵节交通管制 — ineligible: not yet published (publishes 2013-02-21T20:15:00+08:00)",
        "    · c-203 台股今日收涨 两岸金融合作概念股走强 — ineligible: expired (2013-02-21T19:30:00+08:00)",
        "    · w-401 杭州：今夜小雨 明天阴转多云 3～9℃ [key \"2013-02-21T17:00:00+08:00\"] — no room: the section's quota (1) was full",
        "fallback: not run: the rules chose 8 (min 1)",
        "  7. [weather] w-404 美国波士顿牛顿市：今天小雪转晴 -7～1℃ — grandsons_weather",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }

    // A repeat window and the edition's max, through history.
    let dir = package(
        "history",
        &[(
            "h.jsonl",
            r#"{"user": "li-daye", "at": "2013-02-20T19:30:00+08:00", "event": "text", "blocks": ["h-101"], "fired": []}"#,
        )],
    );
    let out = tailor(&[
        "explain",
        "rules/qianjiang",
        "--user",
        "li-daye",
        "--at",
        "2013-02-21T19:30:00+08:00",
        "--history",
        dir.join("h.jsonl").to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let front = &json["picks"][0];
    assert_eq!(front["rule"], "front_page");
    let h101 = front["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["id"] == "h-101")
        .expect("h-101 considered");
    assert_eq!(h101["status"], "repeat");
    assert_eq!(
        h101["why"],
        "ineligible: delivered 2013-02-20T19:30:00+08:00, within `repeat after 3d`"
    );
    let lantern = json["picks"]
        .as_array()
        .expect("picks")
        .iter()
        .find(|p| p["rule"] == "lantern_festival")
        .expect("lantern_festival ran");
    assert!(
        lantern["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .any(|c| c["why"] == "no room: the edition's max (8) was reached"),
        "{lantern}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn lint_warns_with_spans() {
    let dir = package(
        "lint",
        &[
            (
                "main.rules",
                r#"profile { age: int city: string }
content { city: string }
edition e { sections { weather 1 news 2 sports 1 } }
segment senior = profile.age >= 60
segment unused = profile.city == "杭州"
rule impossible {
  when profile.age > 60 and profile.age < 30
  pick 1 from news
}
rule news_for_all { priority 5 pick 2 from news }
rule late_news { when senior pick 1 from news }
rule weather { pick 1 from weather where block.city == profile.city }
rule no_effect { drop where block.section == "sports" }
"#,
            ),
            ("catalog.jsonl", CATALOG),
        ],
    );
    let out = tailor(&["lint", dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "warnings alone exit 0");
    let stderr = text(&out.stderr);
    for needle in [
        "tailor::never_fires",
        "rule `impossible` can never fire",
        "main.rules:7:8",
        "cannot hold together with `profile.age < 30`",
        "tailor::pick_never_adds",
        "earlier picks that always run fill section `news` (2) first",
        "segment `unused` is never used",
        "no pick takes from section `sports`",
        "section `sports` has no blocks in the catalog",
        "this drop of rule `no_effect` affects no pick",
        "7 warnings in",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in\n{stderr}");
    }
    let denied = tailor(&["lint", dir.to_str().expect("utf-8"), "--deny-warnings"]);
    assert_eq!(denied.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}
