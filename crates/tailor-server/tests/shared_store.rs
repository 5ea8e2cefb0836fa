//! Several `tailor serve` nodes on one Redis behave as one server: caps exact across
//! nodes, retries answered by any node, learning, profiles and the catalog shared, no
//! acknowledged delivery lost when Redis is killed, an unreachable Redis answered
//! gracefully, keys that expire by themselves, and a Redis Cluster. Every test runs
//! against real `redis-server` processes it starts (see `redis_support`).
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;
mod redis_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use redis_support::{Cluster, Redis};
use tailor_server::ManualClock;

/// A node on the given store (`redis://…` or `redis-cluster://…`), its clock at the
/// example's evening.
async fn node(store: &str, o: Options) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(evening()));
    let o = Options {
        extra: format!("store = \"{store}\"\n{}", o.extra),
        ..o
    };
    let running =
        tailor_server::start_with_store(config(dir.path(), &o), Some(clock.clone()), None)
            .await
            .unwrap();
    Server {
        addr: running.addr(),
        running: Some(running),
        clock,
        callback: callback(o.mode),
        dir,
    }
}

async fn two_nodes(store: &str) -> (Arc<Server>, Arc<Server>) {
    let (a, b) = tokio::join!(
        node(store, Options::default()),
        node(store, Options::default())
    );
    (Arc::new(a), Arc::new(b))
}

/// Sends `n` WeChat pushes (`make(i)`), alternately to `a` and `b`: every request is
/// connected first and sent at one signal, so that the two nodes handle the reader at
/// once. The statuses and bodies.
async fn at_once(
    a: &Arc<Server>,
    b: &Arc<Server>,
    n: u64,
    make: impl Fn(u64) -> String,
) -> Vec<(u16, String)> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let go = Arc::new(tokio::sync::Barrier::new(usize::try_from(n).unwrap()));
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = if i % 2 == 0 {
            Arc::clone(a)
        } else {
            Arc::clone(b)
        };
        let go = Arc::clone(&go);
        let xml = make(i);
        tasks.push(tokio::spawn(async move {
            let push = s.callback.simulate_push(&xml, s.now(), "n0nce").unwrap();
            let path = format!("/wechat/qianjiang?{}", push.query.to_query_string());
            let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let req = hyper::Request::post(path)
                .header("host", s.addr.to_string())
                .body(Full::new(Bytes::from(push.body)))
                .unwrap();
            go.wait().await;
            let resp = sender.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// 64 concurrent ENTERs of one reader, half to each node, under the edition's
/// `cap 1 per 12h`: exactly one news reply and one delivery.
async fn caps_are_exact(a: &Arc<Server>, b: &Arc<Server>, user: &'static str) {
    let base = a.now();
    let mut digests = 0;
    for (status, body) in at_once(a, b, 64, |i| enter(user, base + i)).await {
        assert_eq!(status, 200, "{body}");
        if body.contains("<Articles>") {
            digests += 1;
        } else {
            assert_eq!(body, "success");
        }
    }
    assert_eq!(digests, 1, "exactly one news reply across both nodes");
    assert_eq!(a.history(user).await.len(), 1);
    assert_eq!(b.history(user).await.len(), 1);
}

/// 32 concurrent requests for the weather (a text, which the edition's cap does not
/// limit), half to each node: under `repeat after 3d` the reader's weather block is
/// sent once, whichever node answers.
async fn repeats_are_exact(a: &Arc<Server>, b: &Arc<Server>, user: &'static str) {
    let base = a.now();
    let answers = at_once(a, b, 32, |i| text(user, base + i, 90_000 + i, "天气")).await;
    let sent = answers
        .iter()
        .filter(|(status, body)| *status == 200 && body.contains("w-401.html"))
        .count();
    assert_eq!(sent, 1, "the weather block is sent once across both nodes");
}

/// A delivery answered by `a` and retried to `b` gets `a`'s reply byte for byte and is
/// recorded once.
async fn retries_are_answered_by_any_node(a: &Server, b: &Server, user: &str) {
    let xml = enter(user, a.now());
    let push = a.callback.simulate_push(&xml, a.now(), "n0nce").unwrap();
    let path = format!("/wechat/qianjiang?{}", push.query.to_query_string());
    let (s1, first) = request(a.addr, "POST", &path, &[], push.body.clone().into_bytes()).await;
    let (s2, again) = request(b.addr, "POST", &path, &[], push.body.into_bytes()).await;
    assert_eq!((s1, s2), (200, 200));
    assert!(first.contains("<Articles>"), "{first}");
    assert_eq!(first, again, "the retry gets the first reply byte for byte");
    assert_eq!(b.history(user).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_redis_behave_as_one_server() {
    if !redis_support::available("two_nodes_on_one_redis_behave_as_one_server") {
        return;
    }
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;

    // Several readers: without the lock across nodes, each round has a good chance of
    // two digests; with it, none may.
    for user in ["zhang-laoshi", "cap-1", "cap-2", "cap-3"] {
        caps_are_exact(&a, &b, user).await;
    }
    repeats_are_exact(&a, &b, "xiao-chen").await;
    retries_are_answered_by_any_node(&a, &b, "retry-reader").await;

    // Learning is shared: a LOCATION on A is in the profile B reads and evaluates.
    let location = event(
        "li-daye",
        a.now(),
        "LOCATION",
        "<Latitude>42.337</Latitude><Longitude>-71.209</Longitude><Precision>65.0</Precision>",
    );
    assert_eq!(a.push(&location).await.0, 200);
    let on_b = b.profile("li-daye").await;
    assert_eq!(on_b["last_lat"], 42.337, "{on_b}");

    // Profiles: written through A, read and patched through B, read again on A.
    let (status, _) = a
        .admin(
            "PUT",
            "/v1/qianjiang/profiles/new-reader",
            r#"{"age": 40, "city": "杭州"}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(b.profile("new-reader").await["age"], 40);
    let (status, _) = b
        .admin(
            "PATCH",
            "/v1/qianjiang/profiles/new-reader",
            r#"{"age": 41}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(a.profile("new-reader").await["age"], 41);

    // The catalog: a block upserted through A is served by B within 2 s; deleted, gone.
    let block = r#"{"id": "c-999", "section": "current", "title": "两岸直航再加密", "summary": "s", "url": "https://example.com/c-999", "tags": ["taiwan"], "published": "2013-02-21T19:00:00+08:00"}"#;
    let (status, v) = a.admin("POST", "/v1/qianjiang/catalog", block).await;
    assert_eq!(status, 200, "{v}");
    let served = |s: Arc<Server>| async move {
        let (_, v) = s
            .admin(
                "GET",
                "/v1/qianjiang/users/li-daye/digest?event=text&text=x",
                "",
            )
            .await;
        let (_, v2) = s
            .admin("GET", "/v1/qianjiang/users/li-daye/digest", "")
            .await;
        format!("{v}{v2}").contains("c-999")
    };
    let started = Instant::now();
    while !served(Arc::clone(&b)).await {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B did not serve A's block within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = a.admin("DELETE", "/v1/qianjiang/catalog/c-999", "").await;
    assert_eq!(status, 204);
    let started = Instant::now();
    while served(Arc::clone(&b)).await {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B still serves a block A deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_import_the_profiles_once() {
    if !redis_support::available("nodes_starting_together_import_the_profiles_once") {
        return;
    }
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    let (status, v) = a.admin("GET", "/v1/qianjiang/status", "").await;
    assert_eq!(status, 200, "{v}");
    let lines = std::fs::read_to_string(repo().join("rules/qianjiang/profiles.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let count: u64 = redis::cmd("ZCARD")
        .arg("tailor:{qianjiang}:profiles")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(count, lines as u64);
    assert_eq!(a.profile("li-daye").await, b.profile("li-daye").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_expire_by_themselves() {
    if !redis_support::available("keys_expire_by_themselves") {
        return;
    }
    let redis = Redis::start();
    let a = node(
        &redis.url(),
        Options {
            extra: "dedup_ttl_secs = 120\n".into(),
            ..Options::default()
        },
    )
    .await;
    let (status, body) = a.push(&enter("xiao-chen", a.now())).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Articles>"), "{body}");
    let mut c = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("tailor:{qianjiang/xiao-chen}:*")
        .query(&mut c)
        .unwrap();
    let ttl = |key: &str, c: &mut redis::Connection| -> i64 {
        redis::cmd("TTL").arg(key).query(c).unwrap()
    };
    let reply = keys.iter().find(|k| k.contains(":reply:")).unwrap();
    let t = ttl(reply, &mut c);
    assert!((1..=120).contains(&t), "reply TTL {t}");
    // The history expires with the package's longest window (a cap's or `repeat
    // after`'s), as `status` reports it.
    let (_, status) = a.admin("GET", "/v1/qianjiang/status", "").await;
    let kept = status["history_kept_secs"].as_i64().unwrap();
    let t = ttl("tailor:{qianjiang/xiao-chen}:history", &mut c);
    assert!(t > kept - 60 && t <= kept, "history TTL {t}, window {kept}");
    // The profile is the reader's, kept.
    assert_eq!(ttl("tailor:{qianjiang/xiao-chen}:profile", &mut c), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_redis_loses_no_acknowledged_delivery() {
    if !redis_support::available("killing_redis_loses_no_acknowledged_delivery") {
        return;
    }
    let mut redis = Redis::start();
    let a = Arc::new(node(&redis.url(), Options::default()).await);
    let base = a.now();
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let a = Arc::clone(&a);
        tasks.push(tokio::spawn(async move {
            let user = format!("reader-{i}");
            let (status, body) = a.push(&enter(&user, base + i)).await;
            (user, status, body)
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        let (user, status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        if body.contains("<Articles>") {
            acknowledged.push(user);
        }
    }
    assert!(!acknowledged.is_empty());
    redis.kill9();
    redis.restart();
    for user in &acknowledged {
        let h = a.history(user).await;
        assert_eq!(
            h.len(),
            1,
            "{user}'s acknowledged delivery survived SIGKILL"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_redis_is_answered_gracefully_and_service_resumes() {
    if !redis_support::available("an_unreachable_redis_is_answered_gracefully_and_service_resumes")
    {
        return;
    }
    let mut redis = Redis::start();
    let a = node(&redis.url(), Options::default()).await;
    assert_eq!(a.get("/healthz").await.0, 200);
    redis.kill9();

    let started = Instant::now();
    let (status, body) = a.push(&enter("xiao-chen", a.now())).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within WeChat's deadline"
    );
    let (status, v) = a.admin("GET", "/v1/qianjiang/profiles/xiao-chen", "").await;
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].is_string(), "{v}");
    assert_eq!(a.get("/healthz").await.0, 503);

    redis.restart();
    assert_eq!(a.get("/healthz").await.0, 200);
    let (status, body) = a.push(&enter("xiao-chen", a.now() + 1)).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Articles>"), "served again: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cluster_behaves_as_one_server_too() {
    if !redis_support::available("a_redis_cluster_behaves_as_one_server_too") {
        return;
    }
    let cluster = Cluster::start();
    let (a, b) = two_nodes(&cluster.url()).await;
    caps_are_exact(&a, &b, "zhang-laoshi").await;
    retries_are_answered_by_any_node(&a, &b, "xiao-chen").await;
    assert_eq!(b.profile("li-daye").await["id"], "li-daye");
}

#[test]
fn a_commit_fenced_by_a_lost_lock_writes_nothing() {
    use tailor_server::Store;
    use tailor_server::store::{RedisTarget, StoreError, Write};
    if !redis_support::available("a_commit_fenced_by_a_lost_lock_writes_nothing") {
        return;
    }
    let redis = Redis::start();
    let store = tailor_server::RedisStore::open(RedisTarget::parse(&redis.url()).unwrap()).unwrap();
    let put = |age: u64| Write::PutProfile {
        account: "a".into(),
        id: "u".into(),
        profile: serde_json::json!({"id": "u", "age": age})
            .as_object()
            .unwrap()
            .clone(),
    };
    let fence = |token: &str| Write::Fence {
        account: "a".into(),
        user: "u".into(),
        token: token.into(),
    };
    // A holder that stalls past its lock's TTL…
    let stalled = store
        .try_lock_user("a", "u", Duration::from_millis(100))
        .unwrap()
        .unwrap();
    assert!(
        store
            .try_lock_user("a", "u", Duration::from_secs(10))
            .unwrap()
            .is_none(),
        "the lock is held"
    );
    std::thread::sleep(Duration::from_millis(250));
    // …is overtaken by another, who commits.
    let next = store
        .try_lock_user("a", "u", Duration::from_secs(10))
        .unwrap()
        .unwrap();
    store.apply(vec![fence(&next), put(2)]).unwrap();
    // The stalled holder's commit is refused whole.
    assert_eq!(
        store.apply(vec![fence(&stalled), put(1)]),
        Err(StoreError::LockLost)
    );
    assert_eq!(store.profile("a", "u").unwrap().unwrap()["age"], 2);
    // Releasing with a stale token leaves the new holder's lock alone.
    store.unlock_user("a", "u", &stalled).unwrap();
    assert!(
        store
            .try_lock_user("a", "u", Duration::from_secs(1))
            .unwrap()
            .is_none()
    );
    store.unlock_user("a", "u", &next).unwrap();
    assert!(
        store
            .try_lock_user("a", "u", Duration::from_secs(1))
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracked_opens_on_two_nodes_are_recorded_in_redis_and_learned_once() {
    if !redis_support::available(
        "tracked_opens_on_two_nodes_are_recorded_in_redis_and_learned_once",
    ) {
        return;
    }
    const BASE: &str = "https://t.example.com/t";
    let redis = Redis::start();
    let tracked = || Options {
        account_extra: format!(
            "track_base = \"{BASE}\"\ntrack_secret = \"shared-track-secret-0123456789\"\n"
        ),
        ..Options::default()
    };
    let url = redis.url();
    let (a, b) = tokio::join!(node(&url, tracked()), node(&url, tracked()));
    let (a, b) = (Arc::new(a), Arc::new(b));
    let (status, body) = a.push(&enter("li-daye", a.now())).await;
    assert_eq!(status, 200);
    let url = match a.read_reply(&body) {
        tailor_wechat::Reply::News { articles } => articles[0].url.clone(),
        other => panic!("{other:?}"),
    };
    let path = format!("/t/{}", url.strip_prefix(&format!("{BASE}/")).unwrap());
    let item = a.history("li-daye").await[0]["items"][0].clone();
    // Both nodes at once, several times each: every open recorded, learned once.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let node = Arc::clone(if i % 2 == 0 { &a } else { &b });
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let (status, headers, _) =
                request_with_headers(node.addr, "GET", &path, &[], Vec::new()).await;
            (status, headers.get("location").cloned())
        }));
    }
    for t in tasks {
        let (status, location) = t.await.unwrap();
        assert_eq!(status, 302);
        assert_eq!(
            location.unwrap().to_str().unwrap(),
            item["url"].as_str().unwrap()
        );
    }
    let (_, h) = b
        .admin("GET", "/v1/qianjiang/users/li-daye/history", "")
        .await;
    assert_eq!(h["opens"].as_array().unwrap().len(), 8, "{h}");
    assert_eq!(h["deliveries"].as_array().unwrap().len(), 1, "{h}");
    let section = item["section"].as_str().unwrap();
    assert_eq!(b.profile("li-daye").await["section_reads"][section], 1);
    // The open records live in the reader's history key, with its expiry.
    let mut c = redis.connection();
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg("tailor:{qianjiang/li-daye}:history")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        members
            .iter()
            .filter(|m| m.contains(r#""event":"open""#))
            .count(),
        8
    );
    // Either node's stats count the item's opens once.
    let (_, st) = a.admin("GET", "/v1/qianjiang/stats", "").await;
    let rule = item["rule"].as_str().unwrap();
    let row = st["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap()
        .clone();
    assert_eq!(row["opens"], 1, "{st}");
    // A forged token on a node of the shared store: 404, nothing in Redis.
    let (status, _) = b
        .get("/t/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(status, 404);
    let n: usize = redis::cmd("ZCARD")
        .arg("tailor:{qianjiang/li-daye}:history")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 9);
}
