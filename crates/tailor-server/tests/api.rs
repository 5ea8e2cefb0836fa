//! The JSON API, durability across a restart, and reload under load, over real HTTP on
//! loopback.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use serde_json::json;

#[tokio::test]
async fn the_json_api_needs_the_admin_token() {
    let s = Server::start(Options::default()).await;
    let (status, _) = request(s.addr, "GET", "/v1/qianjiang/status", &[], Vec::new()).await;
    assert_eq!(status, 401);
    let (status, _) = request(
        s.addr,
        "POST",
        "/v1/qianjiang/reload",
        &[("authorization", "Bearer nope")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, v) = s.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["profiles"], 7);
    assert_eq!(v["catalog_blocks"], 58);
    assert_eq!(v["edition"], "evening");
    assert_eq!(v["history_kept_secs"], 3 * 86_400);
    assert_eq!(v["last_reload"]["ok"], true);
}

#[tokio::test]
async fn events_digests_and_profiles() {
    let s = Server::start(Options::default()).await;
    // A dry run explains and stores nothing.
    let (status, v) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/digest", "")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outcome"], "digest");
    assert_eq!(v["at"], EVENING);
    assert_eq!(v["items"][0]["id"], "h-101");
    assert_eq!(v["items"][0]["reasons"], json!(["front_page"]));
    assert_eq!(v["fired"][0], "front_page");
    assert_eq!(v["recorded"], false);
    let (_, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "enter", "dry_run": true}"#,
        )
        .await;
    assert_eq!(
        (v["outcome"].as_str(), v["recorded"].as_bool()),
        (Some("digest"), Some(false))
    );
    assert!(s.history("li-daye").await.is_empty());

    // Recorded, with an idempotency key: the second post is a replay.
    let body = r#"{"user": "li-daye", "event": "enter", "idempotency_key": "k1"}"#;
    let (status, v) = s.admin("POST", "/v1/qianjiang/events", body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["recorded"], true);
    let (_, again) = s.admin("POST", "/v1/qianjiang/events", body).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["items"], v["items"]);
    assert_eq!(s.history("li-daye").await.len(), 1);
    let (_, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "enter"}"#,
        )
        .await;
    assert_eq!(
        (v["outcome"].as_str(), v["reason"].is_string()),
        (Some("quiet"), true),
        "{v}"
    );
    let (status, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "party"}"#,
        )
        .await;
    assert_eq!(status, 400, "{v}");

    // Profiles: put, patch, schema errors, delete.
    let (status, v) = s
        .admin(
            "PUT",
            "/v1/qianjiang/profiles/o-1",
            r#"{"age": 70, "city": "宁波"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"age": 70, "city": "宁波", "id": "o-1"}));
    let (status, v) = s
        .admin(
            "PATCH",
            "/v1/qianjiang/profiles/o-1",
            r#"{"city": null, "interests": ["opera"]}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        s.profile("o-1").await,
        json!({"age": 70, "id": "o-1", "interests": ["opera"]})
    );
    let (status, v) = s
        .admin("PATCH", "/v1/qianjiang/profiles/o-1", r#"{"age": "old"}"#)
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(v["diagnostics"].as_str().unwrap().contains("age"), "{v}");
    let (status, _) = s.admin("DELETE", "/v1/qianjiang/profiles/o-1", "").await;
    assert_eq!(status, 204);
    let (status, _) = s.admin("GET", "/v1/qianjiang/profiles/o-1", "").await;
    assert_eq!(status, 404);

    // Bulk import: good lines are stored, bad ones listed.
    let jsonl = "{\"id\": \"b-1\", \"age\": 30}\n\n{\"id\": \"b-2\", \"age\": \"x\"}\nnot json\n{\"id\": \"b-3\"}";
    let (status, v) = s.admin("POST", "/v1/qianjiang/profiles", jsonl).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(2)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["line"], 3);
    assert_eq!(s.profile("b-3").await, json!({"id": "b-3"}));
}

#[tokio::test]
async fn catalog_upserts_and_deletes_serve_at_once() {
    let s = Server::start(Options::default()).await;
    let block = r#"{"id": "w-999", "section": "weather", "title": "宁波：晴 5～12℃", "city": "宁波", "published": "2013-02-21T18:00:00+08:00"}"#;
    let (status, v) = s.admin("POST", "/v1/qianjiang/catalog", block).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"upserted": 1, "blocks": 59}));
    let (status, v) = s.admin("POST", "/v1/qianjiang/catalog", r#"{"id": "x-1", "section": "weather", "title": "t", "score": "high", "published": "2013-02-21T18:00:00+08:00"}"#).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["diagnostics"].as_str().unwrap().contains("score"), "{v}");
    let (status, _) = s.admin("DELETE", "/v1/qianjiang/catalog/w-999", "").await;
    assert_eq!(status, 204);
    let (status, _) = s.admin("DELETE", "/v1/qianjiang/catalog/w-999", "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_restart_keeps_profiles_catalog_history_and_first_replies() {
    let mut s = Server::start(Options::default()).await;
    let xml = enter("li-daye", s.now());
    let (_, first) = s.push(&xml).await;
    s.push(&enter("xiao-chen", s.now())).await;
    s.admin(
        "PATCH",
        "/v1/qianjiang/profiles/guest-0221",
        r#"{"age": 40}"#,
    )
    .await;
    s.admin("POST", "/v1/qianjiang/catalog", r#"{"id": "w-999", "section": "weather", "title": "宁波：晴", "city": "宁波", "published": "2013-02-21T18:00:00+08:00"}"#).await;
    let before = (
        s.history("li-daye").await,
        s.history("xiao-chen").await,
        s.profile("li-daye").await,
    );

    s.restart(Options::default()).await;

    let after = (
        s.history("li-daye").await,
        s.history("xiao-chen").await,
        s.profile("li-daye").await,
    );
    assert_eq!(before, after);
    assert_eq!(after.0.len(), 1);
    // Profiles were not re-imported over the changed store; the upserted block is there.
    assert_eq!(s.profile("guest-0221").await["age"], 40);
    let (_, status) = s.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(status["catalog_blocks"], 59);
    // A retry of a delivery answered before the restart gets the same reply.
    let (_, again) = s.push(&xml).await;
    assert_eq!(again, first);
    assert_eq!(s.history("li-daye").await.len(), 1);
    s.running.take().unwrap().shutdown().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

const HELLO: &str = "rule hello_ningbo {\n  on text\n  when \"hello\" in event.text\n  pick 1 from weather where block.city == \"宁波\"\n}\n";
const BROKEN: &str = "rule broken {\n  on text\n  pick 1 from nowhere\n}\n";

#[tokio::test]
async fn reload_under_load_never_fails_a_request_and_never_serves_a_broken_package() {
    let pkg_dir = tempfile::tempdir().unwrap();
    let pkg = pkg_dir.path().join("qianjiang");
    copy_dir(&repo().join("rules/qianjiang"), &pkg);
    let options = || Options {
        package: pkg.clone(),
        watch: true,
        ..Options::default()
    };
    let s = Arc::new(Server::start(options()).await);
    let (_, v) = s.admin("GET", "/v1/qianjiang/status", "").await;
    let v1 = v["version"].as_str().unwrap().to_owned();

    // A stream of events from four readers while packages are swapped.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut streams = Vec::new();
    for w in 0..4u64 {
        let (s, stop) = (s.clone(), stop.clone());
        streams.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 400 {
                let user = format!("o-load-{w}");
                let xml = if n.is_multiple_of(2) {
                    enter(&user, s.now() + n)
                } else {
                    text(&user, 1, w * 10_000 + n, "hello")
                };
                let (status, body) = s.push(&xml).await;
                assert_eq!(status, 200, "{body}");
                if body != "success" {
                    s.read_reply(&body);
                }
                n += 1;
            }
            n
        }));
    }

    // A good new version through the endpoint.
    std::fs::write(pkg.join("hello.rules"), HELLO).unwrap();
    let (status, v) = s.admin("POST", "/v1/qianjiang/reload", "").await;
    assert_eq!(status, 200, "{v}");
    let v2 = v["version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    // A broken one: rejected with its diagnostics, v2 keeps serving.
    std::fs::write(pkg.join("hello.rules"), BROKEN).unwrap();
    let (status, v) = s.admin("POST", "/v1/qianjiang/reload", "").await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["diagnostics"].as_str().unwrap().contains("nowhere"),
        "{v}"
    );
    let (_, st) = s.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(
        (st["version"].as_str(), st["last_reload"]["ok"].as_bool()),
        (Some(v2.as_str()), Some(false))
    );
    // v2 answers `hello` with Ningbo's weather.
    let (_, body) = s.push(&text("xiao-chen", 1, 99, "hello")).await;
    assert_eq!(titles(&s.read_reply(&body)).len(), 1);
    // The watcher picks up a fixed file by itself.
    std::fs::write(
        pkg.join("hello.rules"),
        HELLO.replace("hello_ningbo", "hello_again"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, st) = s.admin("GET", "/v1/qianjiang/status", "").await;
        if st["last_reload"]["trigger"] == "watch" && st["last_reload"]["ok"] == true {
            assert_ne!(st["version"].as_str(), Some(v2.as_str()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher did not reload: {st}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    for t in streams {
        total += t.await.unwrap();
    }
    assert!(total >= 8, "the stream ran ({total} events)");
}
