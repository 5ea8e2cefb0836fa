//! Script failures in the runtime, over real HTTP on loopback: an event whose learning
//! and rules call failing scripts is still answered, its outcome lists each failure once,
//! and `/metrics` counts each once.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

/// A package on the example's schema and edition (so that the example's profiles and
/// catalog load) whose learning and one rule call scripts that always throw.
const FAILING_RULES: &str = r#"script failing from "scripts/failing.rhai" {
  fn home_city(profile) -> string
  fn wants_weather(profile) -> bool
}

learn on enter {
  set profile.city = failing::home_city(profile)
}

rule scripted_weather {
  on enter
  when failing::wants_weather(profile)
  pick 1 from weather
}

rule front_page {
  on enter
  pick 1 from headline
}
"#;

const FAILING_RHAI: &str = r#"fn home_city(p) { throw "the city service is down"; }

fn wants_weather(p) { throw "the weather service is down"; }
"#;

/// Writes the failing package into `dir`: the example's schema and edition, plus
/// [`FAILING_RULES`] and its script.
fn failing_package(dir: &Path) {
    let example = repo().join("rules/qianjiang");
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    for file in ["schema.rules", "edition.rules"] {
        std::fs::copy(example.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("failing.rules"), FAILING_RULES).unwrap();
    std::fs::write(dir.join("scripts/failing.rhai"), FAILING_RHAI).unwrap();
}

/// The value of one series of `/metrics`, matched on its whole name and labels; `None`
/// when the series is not shown.
fn series(metrics: &str, name_and_labels: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        (series == name_and_labels).then(|| value.parse().unwrap())
    })
}

const SCRIPT_ERRORS: &str = r#"tailor_script_errors_total{account="qianjiang"}"#;

#[tokio::test]
async fn each_script_failure_of_an_event_is_counted_once() {
    let pkg_dir = tempfile::tempdir().unwrap();
    failing_package(pkg_dir.path());
    let s = Server::start(Options {
        package: pkg_dir.path().to_owned(),
        ..Options::default()
    })
    .await;
    let (_, metrics) = s.get("/metrics").await;
    assert_eq!(series(&metrics, SCRIPT_ERRORS), None, "{metrics}");

    let (status, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "enter"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // The failed learn statement changes nothing, the rule whose `when` failed does not
    // fire, and the other rule still gives the digest.
    assert_eq!(v["recorded"], true, "{v}");
    assert_eq!(v["outcome"], "digest", "{v}");
    assert_eq!(v["fired"], json!(["front_page"]), "{v}");
    assert_eq!(v.get("learned"), None, "{v}");
    let errors: Vec<(&str, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["function"].as_str().unwrap(),
                e["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{v}");
    assert_eq!(errors[0].0, "home_city", "{v}");
    assert!(errors[0].1.contains("the city service is down"), "{v}");
    assert_eq!(errors[1].0, "wants_weather", "{v}");
    assert!(errors[1].1.contains("the weather service is down"), "{v}");
    assert_eq!(s.profile("li-daye").await["city"], "杭州");

    // The outcome's errors already include the learning's: the learn failure is
    // counted once, not once for the learning and again for the outcome.
    let (_, metrics) = s.get("/metrics").await;
    assert_eq!(series(&metrics, SCRIPT_ERRORS), Some(2), "{metrics}");
}
