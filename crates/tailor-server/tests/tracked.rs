//! Tracked links (issue 21): with `track_base` and `track_secret`, a news reply's item
//! URLs are `{track_base}/{token}`; `GET /t/{token}` records the open in the reader's
//! history, teaches `learn on open` once per item of a delivery (language.md §12) and
//! redirects to the article; forged tokens are 404 and store nothing. Without
//! `track_base` the reply is byte for byte what it was before tracking existed.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use tailor_server::track::{TrackedItem, sign, verify};
use tailor_wechat::Reply;

const BASE: &str = "https://t.example.com/t";
const SECRET: &str = "track-secret-of-qianjiang-0123456789";

fn tracked() -> Options {
    Options {
        account_extra: format!("track_base = \"{BASE}/\"\ntrack_secret = \"{SECRET}\"\n"),
        ..Options::default()
    }
}

/// The URLs of a news reply.
fn urls(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::News { articles } => articles.iter().map(|a| a.url.clone()).collect(),
        other => panic!("expected a news reply, got {other:?}"),
    }
}

/// The path `/t/{token}` a reverse proxy maps a tracked URL to.
fn path_of(url: &str) -> String {
    let token = url
        .strip_prefix(BASE)
        .and_then(|t| t.strip_prefix('/'))
        .unwrap_or_else(|| panic!("`{url}` is not under {BASE}"));
    format!("/t/{token}")
}

/// `GET path`: the status and the `Location` header.
async fn follow(s: &Server, path: &str) -> (u16, Option<String>) {
    let (status, headers, _) = request_with_headers(s.addr, "GET", path, &[], Vec::new()).await;
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location)
}

/// The open records of a reader, via the admin API.
async fn opens(s: &Server, user: &str) -> Vec<serde_json::Value> {
    let (status, v) = s
        .admin("GET", &format!("/v1/qianjiang/users/{user}/history"), "")
        .await;
    assert_eq!(status, 200, "{v}");
    v["opens"].as_array().unwrap().clone()
}

async fn metric(s: &Server, line_start: &str) -> Option<u64> {
    let (_, text) = s.get("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().unwrap())
}

/// The plain-mode reply to li-daye's ENTER at the example's evening, as `tailor serve`
/// answered it before tracked links existed (captured from the server of commit 12bb882, before tracked links).
const UNTRACKED_REPLY: &str = include_str!("fixtures/untracked_reply_li-daye.xml");

#[tokio::test]
async fn without_track_base_the_reply_is_byte_for_byte_unchanged() {
    let s = Server::start(Options::default()).await;
    let (status, body) = s.push(&enter("li-daye", s.now())).await;
    assert_eq!(status, 200);
    assert_eq!(body, UNTRACKED_REPLY);
    // No URL points anywhere but at the catalog's articles.
    assert!(!body.contains("/t/"), "{body}");
}

#[tokio::test]
async fn every_item_url_is_a_signed_link_naming_the_delivered_item() {
    let s = Server::start(tracked()).await;
    let (status, body) = s.push(&enter("li-daye", s.now())).await;
    assert_eq!(status, 200);
    let reply = s.read_reply(&body);
    let urls = urls(&reply);
    let history = s.history("li-daye").await;
    assert_eq!(history.len(), 1);
    let items = history[0]["items"].as_array().unwrap();
    assert_eq!(urls.len(), items.len().min(8), "{urls:?}");
    let delivered: jiff::Timestamp = history[0]["at"].as_str().unwrap().parse().unwrap();
    for (url, item) in urls.iter().zip(items) {
        let token = url.strip_prefix(&format!("{BASE}/")).unwrap();
        let named = verify(SECRET.as_bytes(), "qianjiang", token).unwrap();
        assert_eq!(
            named,
            TrackedItem {
                account: "qianjiang".into(),
                user: "li-daye".into(),
                block: item["id"].as_str().unwrap().into(),
                rule: item["rule"].as_str().unwrap().into(),
                section: item["section"].as_str().unwrap().into(),
                delivered,
            }
        );
        // The delivery keeps the article's own URL.
        assert!(
            item["url"]
                .as_str()
                .unwrap()
                .starts_with("https://example.com/"),
            "{item}"
        );
    }
}

#[tokio::test]
async fn an_open_redirects_records_and_learns_once() {
    let s = Server::start(tracked()).await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][0].clone();
    let before = s.profile("li-daye").await;
    assert!(before.get("section_reads").is_none(), "{before}");

    s.clock.advance(jiff::SignedDuration::from_secs(60));
    let (status, location) = follow(&s, &path_of(&urls[0])).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), item["url"].as_str());

    let opened = opens(&s, "li-daye").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["event"], "open");
    assert_eq!(opened[0]["block"], item["id"]);
    assert_eq!(opened[0]["rule"], item["rule"]);
    assert_eq!(opened[0]["section"], item["section"]);
    // Opens are not deliveries.
    assert_eq!(s.history("li-daye").await.len(), 1);

    let after = s.profile("li-daye").await;
    let section = item["section"].as_str().unwrap();
    assert_eq!(after["section_reads"][section], 1, "{after}");
    assert!(after["last_read"].is_string(), "{after}");
    let rule = item["rule"].as_str().unwrap();
    let series = format!("tailor_opens_total{{account=\"qianjiang\",rule=\"{rule}\"}}");
    assert_eq!(metric(&s, &series).await, Some(1));

    // The second open of the same item of the same delivery: recorded, redirected, but
    // nothing learned again and not counted again.
    s.clock.advance(jiff::SignedDuration::from_secs(60));
    let (status, location) = follow(&s, &path_of(&urls[0])).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), item["url"].as_str());
    assert_eq!(opens(&s, "li-daye").await.len(), 2);
    assert_eq!(s.profile("li-daye").await, after);
    assert_eq!(metric(&s, &series).await, Some(1));

    // The stats count the item's opens once.
    let (status, stats) = s.admin("GET", "/v1/qianjiang/stats", "").await;
    assert_eq!(status, 200, "{stats}");
    let row = stats["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap()
        .clone();
    assert_eq!(row["opens"], 1, "{stats}");
}

#[tokio::test]
async fn concurrent_opens_of_one_item_learn_once() {
    let s = Arc::new(Server::start(tracked()).await);
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][0].clone();
    let path = path_of(&urls[0]);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = Arc::clone(&s);
        let path = path.clone();
        tasks.push(tokio::spawn(async move { follow(&s, &path).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 302);
    }
    assert_eq!(opens(&s, "li-daye").await.len(), 16);
    let section = item["section"].as_str().unwrap();
    assert_eq!(s.profile("li-daye").await["section_reads"][section], 1);
}

#[tokio::test]
async fn a_block_that_left_the_catalog_still_redirects_to_the_delivered_url() {
    let s = Server::start(tracked()).await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][0].clone();
    let id = item["id"].as_str().unwrap();
    let (status, v) = s
        .admin("DELETE", &format!("/v1/qianjiang/catalog/{id}"), "")
        .await;
    assert!(status == 200 || status == 204, "{status} {v}");
    let (status, location) = follow(&s, &path_of(&urls[0])).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), item["url"].as_str());
    // Recorded; `block.FIELD` was missing, so the section count learned nothing.
    assert_eq!(opens(&s, "li-daye").await.len(), 1);
    let p = s.profile("li-daye").await;
    assert!(p.get("section_reads").is_none(), "{p}");
}

#[tokio::test]
async fn forged_truncated_and_other_account_tokens_are_404_and_store_nothing() {
    let applied = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&applied);
    let s = Server::start_with(tracked(), move |inner| {
        Arc::new(Recording {
            inner,
            applied: counter,
            failing: Arc::default(),
        })
    })
    .await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let good = path_of(&urls[0]);
    let token = good.strip_prefix("/t/").unwrap().to_owned();
    let named = verify(SECRET.as_bytes(), "qianjiang", &token).unwrap();
    let profile = s.profile("li-daye").await;

    let mut cases: Vec<(String, String)> = Vec::new();
    // Truncated, by one character and by half.
    cases.push((
        "truncated by one".into(),
        token[..token.len() - 1].to_owned(),
    ));
    cases.push((
        "truncated by half".into(),
        token[..token.len() / 2].to_owned(),
    ));
    // One character changed, at the start, the middle and the end.
    for i in [0, token.len() / 2, token.len() - 1] {
        let mut b = token.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        cases.push((format!("altered at {i}"), String::from_utf8(b).unwrap()));
    }
    // Another block, signed with a guessed secret.
    let other_block = TrackedItem {
        block: "c-999".into(),
        ..named.clone()
    };
    cases.push((
        "forged".into(),
        sign(b"guessed-secret-0123456789", &other_block).unwrap(),
    ));
    // Signed with this account's secret, but naming another account.
    let other_account = TrackedItem {
        account: "other".into(),
        ..named.clone()
    };
    cases.push((
        "other account".into(),
        sign(SECRET.as_bytes(), &other_account).unwrap(),
    ));
    cases.push(("empty".into(), String::new()));
    cases.push(("not base64".into(), "..%2F..%2Fetc%2Fpasswd".into()));
    cases.push(("padding".into(), format!("{token}==")));

    let mut failures = Vec::new();
    for (name, t) in &cases {
        let before = applied.load(Ordering::SeqCst);
        let (status, location) = follow(&s, &format!("/t/{t}")).await;
        if status != 404 || location.is_some() {
            failures.push(format!("{name}: {status} {location:?}"));
        }
        let writes = applied.load(Ordering::SeqCst) - before;
        if writes != 0 {
            failures.push(format!("{name}: {writes} write batches stored"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(opens(&s, "li-daye").await.is_empty());
    assert_eq!(s.profile("li-daye").await, profile);

    // The good token still works, and is the one write.
    let before = applied.load(Ordering::SeqCst);
    assert_eq!(follow(&s, &good).await.0, 302);
    assert_eq!(applied.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test]
async fn a_server_without_tracking_has_no_valid_token() {
    let s = Server::start(Options::default()).await;
    let t = sign(
        SECRET.as_bytes(),
        &TrackedItem {
            account: "qianjiang".into(),
            user: "li-daye".into(),
            block: "c-201".into(),
            rule: "taiwan_first".into(),
            section: "current".into(),
            delivered: evening(),
        },
    )
    .unwrap();
    assert_eq!(follow(&s, &format!("/t/{t}")).await.0, 404);
    assert!(opens(&s, "li-daye").await.is_empty());
}

#[tokio::test]
async fn the_events_endpoint_takes_open_events_through_the_same_path() {
    let s = Server::start(Options::default()).await;
    let (status, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "enter"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let delivery = s.history("li-daye").await[0].clone();
    let item = delivery["items"][0].clone();
    let body = serde_json::json!({
        "user": "li-daye",
        "event": "open",
        "block": item["id"],
        "rule": item["rule"],
        "section": item["section"],
        "delivered": delivery["at"],
    })
    .to_string();
    let (status, v) = s.admin("POST", "/v1/qianjiang/events", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome"], "empty", "{v}");
    assert_eq!(v["recorded"], true, "{v}");
    assert_eq!(v["first_open"], true, "{v}");
    let section = item["section"].as_str().unwrap();
    assert_eq!(s.profile("li-daye").await["section_reads"][section], 1);
    // Again: recorded, not learned.
    let (status, v) = s.admin("POST", "/v1/qianjiang/events", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["first_open"], false, "{v}");
    assert_eq!(s.profile("li-daye").await["section_reads"][section], 1);
    assert_eq!(opens(&s, "li-daye").await.len(), 2);

    // A made-up rule name is counted as `other`, never as a label of its own.
    let body = serde_json::json!({
        "user": "li-daye", "event": "open", "block": item["id"],
        "rule": "made-up-rule", "section": item["section"], "delivered": "2013-02-21T00:00:00Z",
    })
    .to_string();
    let (status, v) = s.admin("POST", "/v1/qianjiang/events", &body).await;
    assert_eq!(status, 200, "{v}");
    let (_, text) = s.get("/metrics").await;
    assert!(!text.contains("made-up-rule"), "{text}");
    assert_eq!(
        metric(
            &s,
            "tailor_opens_total{account=\"qianjiang\",rule=\"other\"}"
        )
        .await,
        Some(1)
    );

    // An open without its block, or an item's fields on another kind, are refused.
    for bad in [
        r#"{"user": "li-daye", "event": "open"}"#,
        r#"{"user": "li-daye", "event": "enter", "block": "c-201"}"#,
        r#"{"user": "li-daye", "event": "open", "block": "c-201", "delivered": "yesterday"}"#,
    ] {
        let (status, v) = s.admin("POST", "/v1/qianjiang/events", bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    // The dry runs of the digest do not take opens.
    let (status, v) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/digest?event=open", "")
        .await;
    assert_eq!(status, 400, "{v}");
}

#[tokio::test]
async fn the_preview_page_shows_the_readers_recent_opens() {
    let s = Server::start(tracked()).await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][1].clone();
    let (status, _, html) = s.page("/preview/qianjiang/li-daye").await;
    assert_eq!(status, 200);
    assert!(!html.contains("Recent opens"), "{html}");
    assert_eq!(follow(&s, &path_of(&urls[1])).await.0, 302);
    let (status, _, html) = s.page("/preview/qianjiang/li-daye").await;
    assert_eq!(status, 200);
    assert!(html.contains("Recent opens (1)"), "{html}");
    let id = item["id"].as_str().unwrap();
    assert!(
        html.contains(&format!("<li data-block=\"{id}\">")),
        "{html}"
    );
}

#[tokio::test]
async fn an_open_changes_the_readers_next_edition() {
    // rules/qianjiang/README.md: 周小雨 opens c-207 of her 21 Feb edition; her 22 Feb
    // edition then leads its current section with 杭州 stories (`more_of_what_you_read`).
    let s = Server::start(tracked()).await;
    let next = "/v1/qianjiang/users/zhou-xiaoyu/digest?at=2013-02-22T19:30:00%2B08:00";
    let (status, before) = s.admin("GET", next, "").await;
    assert_eq!(status, 200, "{before}");
    assert!(
        !before["fired"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "more_of_what_you_read"),
        "{before}"
    );
    let (_, body) = s.push(&enter("zhou-xiaoyu", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let items = s.history("zhou-xiaoyu").await[0]["items"].clone();
    let n = items
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i["id"] == "c-207")
        .unwrap_or_else(|| panic!("c-207 not delivered: {items}"));
    assert_eq!(follow(&s, &path_of(&urls[n])).await.0, 302);
    let (status, after) = s.admin("GET", next, "").await;
    assert_eq!(status, 200, "{after}");
    let by_rule: Vec<&str> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reasons"][0] == "more_of_what_you_read")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(by_rule, ["c-208", "c-212"], "{after}");
    assert_ne!(item_ids(&before["items"]), item_ids(&after["items"]));
}

#[tokio::test]
async fn an_open_of_a_deleted_reader_redirects_but_brings_nothing_back() {
    let s = Server::start(tracked()).await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][0].clone();
    let (status, v) = s
        .admin("DELETE", "/v1/qianjiang/profiles/li-daye", "")
        .await;
    assert!(status == 200 || status == 204, "{status} {v}");
    // The delivery went with the profile: the catalog's URL of the block.
    let (status, location) = follow(&s, &path_of(&urls[0])).await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), item["url"].as_str());
    let (status, v) = s.admin("GET", "/v1/qianjiang/profiles/li-daye", "").await;
    assert_eq!(status, 404, "{v}");
    assert!(opens(&s, "li-daye").await.is_empty());
}

#[tokio::test]
async fn a_store_failure_still_takes_the_reader_to_the_article() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&failing);
    let s = Server::start_with(tracked(), move |inner| {
        Arc::new(Recording {
            inner,
            applied: Arc::default(),
            failing: flag,
        })
    })
    .await;
    let (_, body) = s.push(&enter("li-daye", s.now())).await;
    let urls = urls(&s.read_reply(&body));
    let item = s.history("li-daye").await[0]["items"][0].clone();
    failing.store(true, Ordering::SeqCst);
    let (status, location) = follow(&s, &path_of(&urls[0])).await;
    failing.store(false, Ordering::SeqCst);
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), item["url"].as_str());
    assert!(opens(&s, "li-daye").await.is_empty());
}
