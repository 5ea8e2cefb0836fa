//! The hostile-input corpus: requests an attacker (or a broken client) sends to the public
//! endpoint and the JSON API — forged and replayed signatures, entity bombs, oversized
//! bodies, odd ids, bad JSON, half-open connections. Each is refused with its documented
//! status, the server keeps serving, and — checked through a store that records every
//! write — nothing at all was stored for any of them.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::io::Write as _;

/// One hostile request and the status it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// The answer is the JSON API's `{"error": …}`.
    json_error: bool,
}

fn wechat(name: &'static str, path: String, body: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name,
        method: "POST",
        path,
        headers: Vec::new(),
        body: body.into(),
        status,
        json_error: false,
    }
}

fn api(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        headers: vec![
            ("authorization", format!("Bearer {ADMIN}")),
            ("content-type", "application/json".to_owned()),
        ],
        body: body.into(),
        status,
        json_error: true,
    }
}

fn signed(s: &Server, xml: &str, at: u64) -> (String, String) {
    let push = s.callback.simulate_push(xml, at, "n0nce").unwrap();
    (
        format!("/wechat/qianjiang?{}", push.query.to_query_string()),
        push.body,
    )
}

fn corpus(s: &Server) -> Vec<Case> {
    let now = s.now();
    let good = enter("xiao-chen", now);
    let mut cases = Vec::new();

    // Signatures.
    let (path, body) = signed(s, &good, now);
    let forged = path.replace("signature=", "signature=0");
    cases.push(wechat("forged signature", forged, body.clone(), 403));
    let unsigned = path
        .split('?')
        .next()
        .map(|p| format!("{p}?timestamp={now}&nonce=1"))
        .unwrap();
    cases.push(wechat("no signature", unsigned, body.clone(), 400));
    let (stale, stale_body) = signed(s, &good, now - 3600);
    cases.push(wechat("replayed an hour later", stale, stale_body, 403));
    let (future, future_body) = signed(s, &good, now + 3600);
    cases.push(wechat("timestamp an hour ahead", future, future_body, 403));
    cases.push(wechat(
        "another account's path",
        path.replace("/wechat/qianjiang", "/wechat/nobody"),
        body.clone(),
        404,
    ));

    // Bodies.
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]><xml><FromUserName>&lol9;</FromUserName></xml>",
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!("&lol{};", i - 1).repeat(10)
            ))
            .collect::<String>()
            .replace("&lol0;", "&lol;")
    );
    cases.push(wechat("entity bomb", path.clone(), bomb, 400));
    cases.push(wechat(
        "10 MB body",
        path.clone(),
        vec![b'<'; 10 * 1024 * 1024],
        413,
    ));
    cases.push(wechat(
        "not UTF-8",
        path.clone(),
        vec![0xff, 0xfe, 0x00, 0x3c],
        400,
    ));
    cases.push(wechat("empty body", path.clone(), Vec::new(), 400));
    cases.push(wechat(
        "unclosed XML",
        path.clone(),
        "<xml><FromUserName>x</FromUserName>",
        400,
    ));
    cases.push(wechat(
        "empty FromUserName",
        path.clone(),
        enter("", now),
        400,
    ));

    // Odd ids: WeChat openids are 28 characters.
    cases.push(wechat(
        "60 KB FromUserName",
        path.clone(),
        enter(&"o".repeat(60 * 1024), now),
        400,
    ));
    cases.push(wechat(
        "FromUserName with a control character",
        path.clone(),
        enter("evil\u{1}reader", now),
        400,
    ));
    cases.push(wechat(
        "FromUserName with a newline",
        path.clone(),
        enter("evil\nreader", now),
        400,
    ));

    // The JSON API.
    let mut unauthenticated = api("no token", "POST", "/v1/qianjiang/events", "{}", 401);
    unauthenticated.headers.clear();
    cases.push(unauthenticated);
    let mut wrong = api(
        "wrong token",
        "PUT",
        "/v1/qianjiang/profiles/xiao-chen",
        "{}",
        401,
    );
    wrong.headers[0].1 = "Bearer not-the-token".to_owned();
    cases.push(wrong);
    cases.push(api(
        "bad JSON event",
        "POST",
        "/v1/qianjiang/events",
        "{\"user\": ",
        400,
    ));
    cases.push(api(
        "event of an unknown kind",
        "POST",
        "/v1/qianjiang/events",
        r#"{"user": "xiao-chen", "event": "teleport"}"#,
        400,
    ));
    cases.push(api(
        "10 MB event",
        "POST",
        "/v1/qianjiang/events",
        format!(
            r#"{{"user": "xiao-chen", "text": "{}"}}"#,
            "x".repeat(10 << 20)
        ),
        413,
    ));
    cases.push(api(
        "event for a 60 KB user id",
        "POST",
        "/v1/qianjiang/events",
        format!(r#"{{"user": "{}"}}"#, "u".repeat(60 * 1024)),
        400,
    ));
    cases.push(api(
        "event for a user id with a control character",
        "POST",
        "/v1/qianjiang/events",
        r#"{"user": "a\u0007b"}"#,
        400,
    ));
    cases.push(api(
        "profile that is not an object",
        "PUT",
        "/v1/qianjiang/profiles/xiao-chen",
        "[1, 2]",
        400,
    ));
    cases.push(api(
        "profile with a wrongly typed field",
        "PUT",
        "/v1/qianjiang/profiles/xiao-chen",
        r#"{"age": "old"}"#,
        422,
    ));
    cases.push(api(
        "patch with a wrongly typed field",
        "PATCH",
        "/v1/qianjiang/profiles/xiao-chen",
        r#"{"interests": 7}"#,
        422,
    ));
    cases.push(api(
        "profile for a user id with a control character",
        "PUT",
        "/v1/qianjiang/profiles/a%01b",
        "{}",
        400,
    ));
    cases.push(api(
        "catalog with one bad block",
        "POST",
        "/v1/qianjiang/catalog",
        "{\"id\": \"fine\", \"section\": \"current\", \"title\": \"t\", \"summary\": \"s\", \"url\": \"https://example.com/\", \"published\": \"2013-02-21T18:00:00+08:00\"}\n{\"id\": \"bad\", \"section\": \"current\"\n",
        422,
    ));
    cases.push(api(
        "digest query with an unknown key",
        "GET",
        "/v1/qianjiang/users/xiao-chen/digest?teleport=1",
        "",
        400,
    ));
    cases.push(api(
        "digest query with a bad time",
        "GET",
        "/v1/qianjiang/users/xiao-chen/digest?at=yesterday",
        "",
        400,
    ));
    cases
}

#[tokio::test]
async fn hostile_requests_are_refused_and_store_nothing() {
    let applied = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&applied);
    let s = Server::start_with(Options::default(), move |inner| {
        Arc::new(Recording {
            inner,
            applied: counter,
            failing: Arc::default(),
        })
    })
    .await;
    let profile = s.profile("xiao-chen").await;
    let store = Arc::clone(&s.running.as_ref().unwrap().state().store);
    let profiles = store.profile_count("qianjiang").unwrap();

    // Half-open connections held throughout: headers started, never finished.
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        c.write_all(b"POST /wechat/qianjiang HTTP/1.1\r\nHost: x\r\nContent-Le")
            .unwrap();
        held.push(c);
    }

    let mut failures = Vec::new();
    for case in corpus(&s) {
        let before = applied.load(Ordering::SeqCst);
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = request(s.addr, case.method, &case.path, &headers, case.body).await;
        if status != case.status {
            failures.push(format!(
                "{}: expected {}, got {status}: {}",
                case.name,
                case.status,
                body.chars().take(200).collect::<String>()
            ));
        } else if case.json_error
            && serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").map(|e| e.is_string()))
                != Some(true)
        {
            failures.push(format!(
                "{}: the answer is not {{\"error\": …}}: {body}",
                case.name
            ));
        }
        let writes = applied.load(Ordering::SeqCst) - before;
        if writes != 0 {
            failures.push(format!("{}: {writes} write batches stored", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing changed, and a good request is still served.
    assert_eq!(s.profile("xiao-chen").await, profile);
    assert_eq!(store.profile_count("qianjiang").unwrap(), profiles);
    assert_eq!(s.history("xiao-chen").await.len(), 0);
    let (status, body) = s.push(&enter("xiao-chen", s.now())).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Articles>"), "{body}");
    drop(held);
}
