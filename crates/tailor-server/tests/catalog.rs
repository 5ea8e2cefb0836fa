//! The catalog and the index: a catalog upsert or delete is indexed before the next
//! digest, and every digest the server gives equals the reference evaluator's on the
//! same inputs. Over real HTTP on loopback.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::json;
use tailor_engine::{Event, EventKind, Package};
use tailor_lang::SourceMap;

/// The example package's catalog file, a block a line: the catalog a server of
/// [`Options::default`] starts with, in its order.
fn catalog_lines() -> Vec<String> {
    std::fs::read_to_string(repo().join("rules/qianjiang/catalog.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the reference evaluator (`Package::evaluate`) gives for a stored reader's
/// `enter` at the server clock over the catalog `lines`, as language.md §11's JSON.
async fn reference_digest(s: &Server, user: &str, lines: &[String]) -> serde_json::Value {
    let package = Package::load(repo().join("rules/qianjiang")).unwrap();
    let profile = package
        .profile_from_json(s.profile(user).await.as_object().unwrap().clone())
        .unwrap();
    let mut sources = SourceMap::new();
    let catalog = package
        .parse_catalog(&mut sources, "catalog", &lines.join("\n"))
        .unwrap();
    let history = stored_history(s, user).await;
    package
        .evaluate(
            &Event::new(EventKind::Enter, now(s)),
            &profile,
            &catalog,
            &history,
        )
        .to_json()
}

/// The server's dry run of a reader's `enter`, without the fields the API adds to the
/// outcome's JSON.
async fn served_digest(s: &Server, user: &str) -> serde_json::Value {
    let (status, mut v) = s
        .admin("GET", &format!("/v1/qianjiang/users/{user}/digest"), "")
        .await;
    assert_eq!(status, 200, "{v}");
    let fields = v.as_object_mut().unwrap();
    assert_eq!(fields.remove("recorded"), Some(json!(false)));
    assert_eq!(fields.remove("dry_run"), Some(json!(true)));
    v
}

/// The line under a reader's name on the preview index: outcome, items, lead article.
async fn index_line(s: &Server, user: &str) -> String {
    let (status, _, html) = s.page("/preview/qianjiang").await;
    assert_eq!(status, 200, "{html}");
    let li = html
        .split(&format!("<li data-user=\"{user}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("`{user}` is not listed: {html}"));
    let start = li.find("<div class=\"lead\">").unwrap() + "<div class=\"lead\">".len();
    let len = li[start..].find("</div>").unwrap();
    li[start..start + len].to_owned()
}

/// A weather block for 嘉兴, where no reader of the example has weather.
const JIAXING_WEATHER: &str = r#"{"id": "w-950", "section": "weather", "title": "嘉兴：今夜小雨 明天阴 3～8℃", "city": "嘉兴", "published": "2013-02-21T18:00:00+08:00"}"#;

#[tokio::test]
async fn a_catalog_upsert_is_indexed_before_the_next_digest() {
    let s = Server::start(Options::default()).await;
    let (status, v) = s
        .admin(
            "PUT",
            "/v1/qianjiang/profiles/o-jiaxing",
            r#"{"age": 40, "city": "嘉兴"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let mut lines = catalog_lines();
    let before = served_digest(&s, "o-jiaxing").await;
    assert_eq!(before["outcome"], "digest", "{before}");
    assert!(!item_ids(&before["items"]).contains(&"w-950".to_owned()));
    assert_eq!(before, reference_digest(&s, "o-jiaxing", &lines).await);
    let n = before["items"].as_array().unwrap().len();
    assert!(
        index_line(&s, "o-jiaxing")
            .await
            .starts_with(&format!("digest · {n} item(s) · ")),
        "{before}"
    );

    // A new block that `home_weather` picks for this reader: the next dry run and the
    // preview index see it, exactly as the reference evaluator does.
    let (status, v) = s
        .admin("POST", "/v1/qianjiang/catalog", JIAXING_WEATHER)
        .await;
    assert_eq!((status, v["blocks"].as_u64()), (200, Some(59)), "{v}");
    lines.push(JIAXING_WEATHER.to_owned());
    let after = served_digest(&s, "o-jiaxing").await;
    let weather: Vec<&serde_json::Value> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] == "w-950")
        .collect();
    assert_eq!(weather.len(), 1, "{after}");
    assert_eq!(weather[0]["reasons"], json!(["home_weather"]), "{after}");
    assert_eq!(after, reference_digest(&s, "o-jiaxing", &lines).await);
    assert!(
        index_line(&s, "o-jiaxing")
            .await
            .starts_with(&format!("digest · {} item(s) · ", n + 1)),
        "{after}"
    );

    // The same id upserted for another city replaces the block: the reader no longer
    // gets it.
    let huzhou = JIAXING_WEATHER.replace("嘉兴", "湖州");
    let (status, v) = s.admin("POST", "/v1/qianjiang/catalog", &huzhou).await;
    assert_eq!((status, v["blocks"].as_u64()), (200, Some(59)), "{v}");
    lines.pop();
    lines.push(huzhou);
    let replaced = served_digest(&s, "o-jiaxing").await;
    assert!(
        !item_ids(&replaced["items"]).contains(&"w-950".to_owned()),
        "{replaced}"
    );
    assert_eq!(replaced, reference_digest(&s, "o-jiaxing", &lines).await);
    assert_eq!(replaced["items"].as_array().unwrap().len(), n);
}

#[tokio::test]
async fn a_catalog_delete_is_indexed_before_the_next_digest() {
    let s = Server::start(Options::default()).await;
    let mut lines = catalog_lines();
    // The guest lives in 宁波: `home_weather` picks 宁波's forecast, w-402, and nothing
    // else of the catalog takes its place once it is gone.
    let before = served_digest(&s, "guest-0221").await;
    assert!(
        item_ids(&before["items"]).contains(&"w-402".to_owned()),
        "{before}"
    );
    assert_eq!(before, reference_digest(&s, "guest-0221", &lines).await);
    let n = before["items"].as_array().unwrap().len();
    assert!(
        index_line(&s, "guest-0221")
            .await
            .starts_with(&format!("digest · {n} item(s) · ")),
        "{before}"
    );

    let (status, _) = s.admin("DELETE", "/v1/qianjiang/catalog/w-402", "").await;
    assert_eq!(status, 204);
    lines.retain(|l| !l.contains(r#""id": "w-402""#));
    assert_eq!(lines.len(), 57);
    let after = served_digest(&s, "guest-0221").await;
    assert_eq!(after["items"].as_array().unwrap().len(), n - 1, "{after}");
    assert!(
        !item_ids(&after["items"]).contains(&"w-402".to_owned()),
        "{after}"
    );
    assert_eq!(after, reference_digest(&s, "guest-0221", &lines).await);
    assert!(
        index_line(&s, "guest-0221")
            .await
            .starts_with(&format!("digest · {} item(s) · ", n - 1)),
        "{after}"
    );
}
