//! The JSON API, durability across a restart, and reload under load, over real HTTP on
//! loopback.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use serde_json::json;
use tailor_engine::preview::{PreviewOptions, escape, render_preview};
use tailor_engine::{Catalog, Event, EventKind, History, Package, Profile};
use tailor_lang::SourceMap;

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

/// What `tailor explain` and `tailor preview` would read for one reader, read back from
/// the server: the package and catalog files it serves, the stored profile and the
/// stored history.
struct Inputs {
    package: Package,
    profile: Profile,
    catalog: Catalog,
    history: History,
}

async fn inputs(s: &Server, user: &str) -> Inputs {
    let dir = repo().join("rules/qianjiang");
    let package = Package::load(&dir).unwrap();
    let profile = package
        .profile_from_json(s.profile(user).await.as_object().unwrap().clone())
        .unwrap();
    let mut sources = SourceMap::new();
    let text = std::fs::read_to_string(dir.join("catalog.jsonl")).unwrap();
    let catalog = package
        .parse_catalog(&mut sources, "catalog.jsonl", &text)
        .unwrap();
    let history = stored_history(s, user).await;
    Inputs {
        package,
        profile,
        catalog,
        history,
    }
}

#[tokio::test]
async fn the_digest_explains_exactly_as_the_library_does() {
    let s = Server::start(Options::default()).await;
    // Without `explain` the dry run has reasons and fired rules only.
    let (status, v) = s
        .admin("GET", "/v1/qianjiang/users/xiao-chen/digest", "")
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("explanation").is_none(), "{v}");

    // A reader with no history: rules fired and not, every pick's candidates.
    let (status, v) = s
        .admin(
            "GET",
            "/v1/qianjiang/users/xiao-chen/digest?explain=true",
            "",
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let i = inputs(&s, "xiao-chen").await;
    let expected = i.package.explain(
        &Event::new(EventKind::Enter, now(&s)),
        &i.profile,
        &i.catalog,
        &i.history,
    );
    assert_eq!(v["explanation"], expected.to_json());
    assert!(!expected.picks.is_empty());
    assert_eq!(item_ids(&v["explanation"]["items"]), item_ids(&v["items"]));
    assert_eq!(v["recorded"], false);

    // A reader with history: the edition's cap counts the stored delivery, and repeat
    // after leaves the delivered blocks out of a later `text` answer's fallback.
    let (status, v) = s
        .admin("POST", "/v1/qianjiang/events", r#"{"user": "li-daye"}"#)
        .await;
    assert_eq!((status, v["recorded"].as_bool()), (200, Some(true)), "{v}");
    s.clock.advance(jiff::SignedDuration::from_hours(2));
    let (status, v) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/digest?explain=true", "")
        .await;
    assert_eq!(status, 200, "{v}");
    let i = inputs(&s, "li-daye").await;
    assert_eq!(i.history.len(), 1);
    let enter = i.package.explain(
        &Event::new(EventKind::Enter, now(&s)),
        &i.profile,
        &i.catalog,
        &i.history,
    );
    assert!(enter.quiet);
    assert_eq!(v["explanation"], enter.to_json());
    let (status, v) = s
        .admin(
            "GET",
            "/v1/qianjiang/users/li-daye/digest?event=text&text=%E4%BD%A0%E5%A5%BD&explain=true",
            "",
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let text = i.package.explain(
        &Event {
            text: Some("你好".to_owned()),
            ..Event::new(EventKind::Text, now(&s))
        },
        &i.profile,
        &i.catalog,
        &i.history,
    );
    assert!(text.fallback.ran);
    assert_eq!(v["explanation"], text.to_json());
    assert!(
        v["explanation"].to_string().contains("repeat after"),
        "{}",
        v["explanation"]
    );
    // Explaining stores nothing.
    assert_eq!(s.history("li-daye").await.len(), 1);
}

#[tokio::test]
async fn the_preview_page_is_the_readers_digest_rendered_live() {
    let s = Server::start(Options::default()).await;
    let (status, digest) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/digest", "")
        .await;
    assert_eq!((status, digest["outcome"].as_str()), (200, Some("digest")));
    let (status, content_type, html) = s.page("/preview/qianjiang/li-daye").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("data-user=\"li-daye\""), "{html}");
    assert!(html.contains(EVENING), "the page is at the server clock");
    // Every title of the digest, in the digest's order.
    let titles: Vec<&str> = digest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 8);
    let mut from = 0;
    for t in &titles {
        let at = html[from..]
            .find(&escape(t))
            .unwrap_or_else(|| panic!("`{t}` is not on the page after byte {from}"));
        from += at;
    }
    // Exactly the page `tailor preview` renders from the same inputs.
    let i = inputs(&s, "li-daye").await;
    let expected = render_preview(
        &i.package,
        &Event::new(EventKind::Enter, now(&s)),
        &i.profile,
        &i.catalog,
        &i.history,
        &PreviewOptions {
            index_href: Some("../qianjiang".to_owned()),
        },
    );
    assert_eq!(html, expected);

    // `at` and the event come from the query, as for the digest.
    let morning = "2013-02-21T08:00:00+08:00";
    let (status, _, html) = s
        .page(&format!(
            "/preview/qianjiang/li-daye?at={}",
            morning.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(morning) && !html.contains(EVENING), "{html}");
    let (status, _, html) = s.page("/preview/qianjiang/li-daye?event=text").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("· text ·"), "{html}");
    for bad in [
        "event=party",
        "at=tonight",
        "explain=true",
        "user=xiao-chen",
    ] {
        let (status, _, body) = s.page(&format!("/preview/qianjiang/li-daye?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// What a dry run must leave as it was: a reader's history, profile and digest, and the
/// account's number of profiles.
async fn snapshot(
    s: &Server,
    user: &str,
) -> (
    Vec<serde_json::Value>,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
) {
    let (status, digest) = s
        .admin("GET", &format!("/v1/qianjiang/users/{user}/digest"), "")
        .await;
    assert_eq!(status, 200, "{digest}");
    let (_, status) = s.admin("GET", "/v1/qianjiang/status", "").await;
    (
        s.history(user).await,
        s.profile(user).await,
        digest,
        status["profiles"].clone(),
    )
}

#[tokio::test]
async fn the_preview_is_a_dry_run() {
    let mut s = Server::start(Options::default()).await;
    // A reader with a recorded digest, 13 hours later: the cap no longer holds.
    let (status, v) = s
        .admin("POST", "/v1/qianjiang/events", r#"{"user": "li-daye"}"#)
        .await;
    assert_eq!((status, v["recorded"].as_bool()), (200, Some(true)), "{v}");
    s.clock.advance(jiff::SignedDuration::from_hours(13));
    let before = snapshot(&s, "li-daye").await;
    assert_eq!(before.0.len(), 1);
    assert_eq!(before.2["outcome"], "digest");
    // Events that would learn (`last_seen` on enter, `sports` on the menu click) and
    // would record a digest.
    for query in [
        "",
        "?event=enter",
        "?event=click&key=MENU_SPORTS",
        "?event=location&lat=30.0&lon=120.0",
    ] {
        let (status, _, html) = s.page(&format!("/preview/qianjiang/li-daye{query}")).await;
        assert_eq!(status, 200, "{query}: {html}");
    }
    let after = snapshot(&s, "li-daye").await;
    assert_eq!(before, after);
    // Nor did the store change beneath the caches.
    s.restart(Options::default()).await;
    let restarted = snapshot(&s, "li-daye").await;
    assert_eq!(before, restarted);
    // The next real event still gets the digest the preview showed.
    let (_, v) = s
        .admin("POST", "/v1/qianjiang/events", r#"{"user": "li-daye"}"#)
        .await;
    assert_eq!(v["items"], before.2["items"]);
    assert_eq!(s.history("li-daye").await.len(), 2);
}

#[tokio::test]
async fn the_preview_answers_404_for_an_unknown_account_or_reader() {
    let s = Server::start(Options::default()).await;
    let (status, content_type, body) = s.page("/preview/nowhere/li-daye").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"error": "no account `nowhere`"})
    );
    let (status, _, body) = s.page("/preview/qianjiang/nobody").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"error": "no profile `nobody`"})
    );
    // Asking created nobody.
    let (status, _) = s.admin("GET", "/v1/qianjiang/profiles/nobody", "").await;
    assert_eq!(status, 404);
    let (_, v) = s.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(v["profiles"], 7);
}

const CHALLENGE: &str = r#"Basic realm="tailor preview", charset="UTF-8""#;

#[tokio::test]
async fn the_preview_needs_the_admin_token() {
    let s = Server::start(Options::default()).await;
    // The index and a reader's page alike; a reader who does not exist is not told
    // apart from one who does.
    for path in [
        "/preview/qianjiang",
        "/preview/qianjiang/li-daye",
        "/preview/qianjiang/nobody",
        "/preview/nowhere",
    ] {
        let wrong_password = basic("editor", "nope");
        let token_as_user = basic(ADMIN, "");
        for authorization in [
            None,
            Some("Bearer nope"),
            Some(wrong_password.as_str()),
            Some(token_as_user.as_str()),
            Some("Basic not*base64"),
            Some("Basic"),
        ] {
            let headers: Vec<(&str, &str)> = authorization
                .map(|a| ("authorization", a))
                .into_iter()
                .collect();
            let (status, headers, body) =
                request_with_headers(s.addr, "GET", path, &headers, Vec::new()).await;
            assert_eq!(status, 401, "{path} {authorization:?}: {body}");
            // The browser asks for the password.
            assert_eq!(
                headers["www-authenticate"], CHALLENGE,
                "{path} {authorization:?}"
            );
            assert!(
                !body.contains("li-daye") && !body.contains("no profile"),
                "{body}"
            );
        }
    }
    let (status, _, _) = s.page("/preview/qianjiang/li-daye").await;
    assert_eq!(status, 200);
    let (status, _, _) = s.page("/preview/qianjiang").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_browser_opens_the_preview_with_the_admin_token_as_the_password() {
    let s = Server::start(Options::default()).await;
    let path = "/preview/qianjiang/li-daye";
    let (_, _, with_bearer) = s.page(path).await;
    let (status, headers, html) = s.browse(path).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(html, with_bearer);
    // Any user name, the scheme in any case.
    for authorization in [
        basic("", ADMIN),
        basic("李编辑", ADMIN),
        basic("editor", ADMIN).replacen("Basic", "basic", 1),
    ] {
        let (status, _, body) = request_with_headers(
            s.addr,
            "GET",
            path,
            &[("authorization", authorization.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, html.as_str()),
            "{authorization}"
        );
    }
    let (status, _, body) = s.browse("/preview/qianjiang").await;
    assert_eq!(status, 200, "{body}");
    // The JSON API still takes the Bearer token only.
    let (status, headers, body) = request_with_headers(
        s.addr,
        "GET",
        "/v1/qianjiang/status",
        &[("authorization", basic("editor", ADMIN).as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer");
}

/// The text of an HTML attribute value as the engine escapes it.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of the first `attr="…"` in `html`, unescaped.
fn attribute(html: &str, attr: &str) -> Option<String> {
    let start = html.find(&format!("{attr}=\""))? + attr.len() + 2;
    let len = html[start..].find('"')?;
    Some(unescape(&html[start..start + len]))
}

/// The readers an index page lists: each one's id and link.
fn listed(html: &str) -> Vec<(String, String)> {
    html.split("<li data-user=")
        .skip(1)
        .map(|li| {
            let li = format!("data-user={li}");
            (
                attribute(&li, "data-user").unwrap(),
                attribute(&li, "href").unwrap(),
            )
        })
        .collect()
}

/// `href` resolved against the page at `base` as a browser resolves a relative link.
fn resolve(base: &str, href: &str) -> String {
    let (path, query) = href
        .split_once('?')
        .map_or((href, None), |(p, q)| (p, Some(q)));
    let mut segments: Vec<&str> = base.split('/').collect();
    segments.pop();
    for segment in path.split('/') {
        match segment {
            ".." => {
                segments.pop();
            }
            "." => {}
            s => segments.push(s),
        }
    }
    let mut out = segments.join("/");
    if let Some(q) = query {
        out = format!("{out}?{q}");
    }
    out
}

/// The ids of the profiles the server imported at start.
fn imported_at_start() -> Vec<String> {
    std::fs::read_to_string(repo().join("rules/qianjiang/profiles.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_preview_index_lists_the_readers_with_links_to_their_pages() {
    let s = Server::start(Options::default()).await;
    // Readers whose ids need escaping in HTML and encoding in URLs, besides the file's.
    let added = ["a b/c", "x&y\"z", "100%", "é-reader", "?#"];
    let jsonl: Vec<String> = added
        .iter()
        .map(|id| json!({"id": id, "age": 50}).to_string())
        .collect();
    let (status, v) = s
        .admin("POST", "/v1/qianjiang/profiles", &jsonl.join("\n"))
        .await;
    assert_eq!((status, v["imported"].as_u64()), (200, Some(5)), "{v}");
    let mut ids = imported_at_start();
    ids.extend(added.iter().map(|id| (*id).to_owned()));
    ids.sort();

    let index = "/preview/qianjiang";
    let (status, headers, html) = s.browse(index).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains(&format!("· {} readers</div>", ids.len())),
        "{html}"
    );
    assert!(!html.contains("more readers"), "{html}");
    let readers = listed(&html);
    let listed_ids: Vec<&str> = readers.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(listed_ids, ids);
    // Each link opens that reader's page, whose "readers" link leads back here.
    for (id, href) in &readers {
        assert!(!href.starts_with('/'), "relative: {href}");
        let page = resolve(index, href);
        let (status, _, body) = s.browse(&page).await;
        assert_eq!(status, 200, "{id}: {page}: {body}");
        assert_eq!(attribute(&body, "data-user").as_deref(), Some(id.as_str()));
        let back = attribute(&body, "href").unwrap();
        assert_eq!(resolve(&page, &back), index, "{id}: {back}");
    }
    // What `enter` would give now, as the digest says.
    let (_, digest) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/digest", "")
        .await;
    let lead = digest["items"][0]["title"].as_str().unwrap();
    assert!(
        html.contains(&format!(
            "<li data-user=\"li-daye\"><a href=\"qianjiang/li-daye\">李大爷 <small>(li-daye)</small></a><div class=\"lead\">digest · 8 item(s) · {}</div></li>",
            escape(lead)
        )),
        "{html}"
    );
    // A dry run: nothing recorded.
    assert!(s.history("li-daye").await.is_empty());
    // The index with a trailing slash is the same index.
    let (status, headers, _) = s.browse("/preview/qianjiang/").await;
    assert_eq!(status, 308);
    assert_eq!(
        resolve("/preview/qianjiang/", headers["location"].to_str().unwrap()),
        index
    );
    // An unknown account; a query it does not take.
    let (status, _, body) = s.browse("/preview/nowhere").await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = s.browse("/preview/qianjiang?at=2013-02-21T08:00:00Z").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_preview_index_pages_through_many_readers() {
    let s = Server::start(Options::default()).await;
    let added: Vec<String> = (0..1_000).map(|n| format!("r-{n:04}")).collect();
    let jsonl: Vec<String> = added
        .iter()
        .map(|id| json!({"id": id}).to_string())
        .collect();
    let (status, v) = s
        .admin("POST", "/v1/qianjiang/profiles", &jsonl.join("\n"))
        .await;
    assert_eq!((status, v["imported"].as_u64()), (200, Some(1_000)), "{v}");
    let mut ids = imported_at_start();
    ids.extend(added);
    ids.sort();
    assert!(ids.len() > 1_000);

    let index = "/preview/qianjiang";
    let (status, _, first) = s.browse(index).await;
    assert_eq!(status, 200);
    assert!(
        first.contains(&format!("· 1000 of {} readers</div>", ids.len())),
        "the total"
    );
    assert!(!first.contains("‹ first"));
    let page: Vec<String> = listed(&first).into_iter().map(|(id, _)| id).collect();
    assert_eq!(page, ids[..1_000]);
    let next = first
        .split("<div class=\"more\">")
        .nth(1)
        .and_then(|more| attribute(more, "href"))
        .expect("a link to the next page");
    assert_eq!(next, format!("qianjiang?after={}", ids[999]));
    let second_path = resolve(index, &next);
    let (status, _, second) = s.browse(&second_path).await;
    assert_eq!(status, 200, "{second}");
    let rest: Vec<String> = listed(&second).into_iter().map(|(id, _)| id).collect();
    assert_eq!(rest, ids[1_000..]);
    assert!(
        second.contains(&format!("· {} of {} readers</div>", rest.len(), ids.len())),
        "{second}"
    );
    assert!(!second.contains("more readers"), "the last page");
    let first_href = attribute(second.split("<div class=\"bar\">").nth(1).unwrap(), "href");
    assert_eq!(
        first_href.map(|h| resolve(&second_path, &h)).as_deref(),
        Some(index)
    );
}

#[tokio::test]
async fn a_profile_that_no_longer_fits_is_shown_on_the_index_without_hiding_the_others() {
    let pkg_dir = tempfile::tempdir().unwrap();
    let pkg = pkg_dir.path().join("qianjiang");
    copy_dir(&repo().join("rules/qianjiang"), &pkg);
    let s = Server::start(Options {
        package: pkg.clone(),
        ..Options::default()
    })
    .await;
    // A new schema in which the stored names are of the wrong type (no rule reads them).
    let schema = std::fs::read_to_string(pkg.join("schema.rules")).unwrap();
    assert!(schema.contains("  name: string "));
    std::fs::write(
        pkg.join("schema.rules"),
        schema.replace("  name: string ", "  name: int "),
    )
    .unwrap();
    let (status, v) = s.admin("POST", "/v1/qianjiang/reload", "").await;
    assert_eq!(status, 200, "{v}");
    let (status, _, body) = s.browse("/preview/qianjiang/li-daye").await;
    assert_eq!(status, 422, "{body}");
    let (status, _, html) = s.browse("/preview/qianjiang").await;
    assert_eq!(status, 200, "{html}");
    let readers = listed(&html);
    assert_eq!(readers.len(), imported_at_start().len(), "{html}");
    let entry = |user: &str| {
        let li = html
            .split(&format!("<li data-user=\"{user}\">"))
            .nth(1)
            .unwrap();
        li[..li.find("</li>").unwrap()].to_owned()
    };
    let li_daye = entry("li-daye");
    assert!(
        li_daye.contains("profile error · 0 item(s) · "),
        "{li_daye}"
    );
    assert!(li_daye.contains("name"), "{li_daye}");
    // A reader without a name is evaluated as before.
    let (_, digest) = s
        .admin("GET", "/v1/qianjiang/users/guest-0221/digest", "")
        .await;
    let guest = entry("guest-0221");
    assert!(
        guest.contains(&format!(
            "{} · {} item(s)",
            digest["outcome"].as_str().unwrap(),
            digest["items"].as_array().unwrap().len()
        )),
        "{guest}"
    );
}

#[tokio::test]
async fn an_unknown_readers_dry_run_is_a_new_readers_digest_and_status_times_are_local() {
    let s = Server::start(Options::default()).await;
    let (status, v) = s
        .admin("GET", "/v1/qianjiang/users/never-seen/digest", "")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"], "never-seen");
    assert_eq!(v["outcome"], "digest", "{v}");
    assert_eq!(v["dry_run"], true);
    // Nothing was stored for them.
    let (status, _) = s
        .admin("GET", "/v1/qianjiang/profiles/never-seen", "")
        .await;
    assert_eq!(status, 404);
    // Status times are in the edition's zone, as the outcome's `at` is.
    let (status, st) = s.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["now"], EVENING, "{st}");
    for t in [&st["now"], &st["loaded_at"], &st["last_reload"]["at"]] {
        assert!(t.as_str().unwrap().ends_with("+08:00"), "{st}");
    }
    assert!(v["at"].as_str().unwrap().ends_with("+08:00"), "{v}");
}

#[tokio::test]
async fn deliveries_carry_their_items_and_an_open_without_its_block_is_refused() {
    let s = Server::start(Options::default()).await;
    let body = r#"{"user": "li-daye", "event": "enter"}"#;
    let (status, v) = s.admin("POST", "/v1/qianjiang/events", body).await;
    assert_eq!(status, 200, "{v}");
    // The delivery record lists each item with its section, reason and URL (language.md §12).
    let (_, h) = s
        .admin("GET", "/v1/qianjiang/users/li-daye/history", "")
        .await;
    let d = &h["deliveries"][0];
    assert_eq!(
        d["items"].as_array().map(Vec::len),
        v["items"].as_array().map(Vec::len),
        "{h}"
    );
    assert_eq!(d["items"][0]["id"], v["items"][0]["id"], "{h}");
    assert_eq!(d["items"][0]["section"], "headline", "{h}");
    assert_eq!(d["items"][0]["rule"], "front_page", "{h}");
    assert_eq!(d["items"][0]["url"], v["items"][0]["url"], "{h}");
    // An open without its block is refused (400) and records nothing, rather than learning
    // without its item (tests/tracked.rs posts complete ones).
    let (status, e) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "open"}"#,
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(s.history("li-daye").await.len(), 1);
}

#[tokio::test]
async fn stats_count_the_delivered_items_per_rule_section_and_day() {
    let s = Server::start(Options::default()).await;
    let (status, v) = s
        .admin(
            "POST",
            "/v1/qianjiang/events",
            r#"{"user": "li-daye", "event": "enter"}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    let front = items
        .iter()
        .filter(|i| i["reasons"][0] == "front_page")
        .count();
    let (status, st) = s.admin("GET", "/v1/qianjiang/stats", "").await;
    assert_eq!(status, 200, "{st}");
    let rule = |name: &str| {
        st["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == name)
            .cloned()
    };
    let fp = rule("front_page").expect("front_page has items");
    assert_eq!(fp["items"], front, "{st}");
    assert_eq!(fp["deliveries"], 1, "{st}");
    assert_eq!(fp["opens"], 0, "{st}");
    let total: u64 = st["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["items"].as_u64().unwrap())
        .sum();
    assert_eq!(total, items.len() as u64, "{st}");
    // A window before the delivery counts nothing; a bad time is a 400.
    let (_, none) = s
        .admin("GET", "/v1/qianjiang/stats?to=2000-01-01T00:00:00Z", "")
        .await;
    assert_eq!(none["rules"], json!([]), "{none}");
    let (status, _) = s
        .admin("GET", "/v1/qianjiang/stats?from=yesterday", "")
        .await;
    assert_eq!(status, 400);
}
