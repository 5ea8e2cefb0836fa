//! `tailor stats`: items, distinct opens and open rates per rule, section and day from
//! history files, and `--compare` with its z-test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

mod common;
use common::tailor;

const RULES: &str = r#"
profile { city: string }
edition e { timezone "Asia/Shanghai" sections { current 3 } }
rule a { when bucket(profile.id, "exp") < 50 pick 1 from current }
rule b { when bucket(profile.id, "exp") >= 50 pick 1 from current }
"#;

/// `a` placed 200 items of which 60 were opened (one of them twice); `b` 200 of which 30.
fn history() -> String {
    let mut h = String::new();
    for i in 0..400 {
        let rule = if i < 200 { "a" } else { "b" };
        let at = format!("2013-02-20T{:02}:{:02}:00Z", i / 60 % 24, i % 60);
        h.push_str(&format!(
            r#"{{"user": "u{i}", "at": "{at}", "event": "enter", "blocks": ["c{i}"], "fired": ["{rule}"], "items": [{{"id": "c{i}", "section": "current", "rule": "{rule}", "url": "https://x/{i}"}}]}}"#
        ));
        h.push('\n');
        let opened = if i < 200 { i % 10 < 3 } else { i % 20 < 3 };
        let times = if i == 0 { 2 } else { 1 };
        if opened {
            for _ in 0..times {
                h.push_str(&format!(
                    r#"{{"user": "u{i}", "at": "2013-02-21T00:00:00Z", "event": "open", "block": "c{i}", "rule": "{rule}", "section": "current", "delivered": "{at}"}}"#
                ));
                h.push('\n');
            }
        }
    }
    h
}

fn setup() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.rules"), RULES).unwrap();
    let h = dir.path().join("history.jsonl");
    std::fs::write(&h, history()).unwrap();
    let pkg = dir.path().to_str().unwrap().to_owned();
    let h = h.to_str().unwrap().to_owned();
    (dir, pkg, h)
}

#[test]
fn stats_counts_items_and_distinct_opens_per_rule() {
    let (_dir, pkg, h) = setup();
    let o = tailor(&["stats", &pkg, "--history", &h, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["rules"],
        serde_json::json!([
            {"rule": "a", "deliveries": 200, "items": 200, "opens": 60, "open_rate": 0.3},
            {"rule": "b", "deliveries": 200, "items": 200, "opens": 30, "open_rate": 0.15}
        ])
    );
    assert_eq!(j["sections"][0]["opens"], 90);
    // Every delivery is between 00:00 and 06:40 UTC on the 20th: 08:00–14:40 in Shanghai.
    let days: Vec<&str> = j["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2013-02-20"]);
    // The text table has the same figures.
    let t = tailor(&["stats", &pkg, "--history", &h]);
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(text.contains("30.0%") && text.contains("15.0%"), "{text}");
    // --from/--to select deliveries by time, half-open.
    let w = tailor(&[
        "stats",
        &pkg,
        "--history",
        &h,
        "--from",
        "2013-02-20T00:00:00Z",
        "--to",
        "2013-02-20T00:10:00Z",
        "--format",
        "json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&w.stdout).unwrap();
    assert_eq!(j["rules"][0]["items"], 10, "{j}");
    assert_eq!(j["rules"][0]["opens"], 3, "{j}");
}

#[test]
fn compare_says_whether_the_difference_is_significant() {
    let (_dir, pkg, h) = setup();
    let o = tailor(&["stats", &pkg, "--history", &h, "--compare", "a", "b"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    // 60/200 against 30/200: pooled 0.225, z = 0.15 / sqrt(0.225·0.775·0.01)
    // = 0.15 / 0.041758 = 3.592.
    assert!(
        text.contains("a: 60 opens of 200 items, open rate 30.0%"),
        "{text}"
    );
    assert!(text.contains("z = 3.59"), "{text}");
    assert!(text.contains("significant at the 5% level"), "{text}");
    assert!(!text.contains("not significant"), "{text}");
    let bad = tailor(&["stats", &pkg, "--history", &h, "--compare", "a", "zz"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rule `zz`"));
}
