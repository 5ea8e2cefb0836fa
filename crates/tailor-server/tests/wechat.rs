//! The WeChat endpoint over real HTTP on loopback: verification, the enter edition,
//! retries, caps, requests, learning, safe mode, refusals, concurrency, reload under load.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::sync::Arc;

use tailor_server::Store;
use tailor_server::store::{JsonMap, StoreError, StoredReply, Write};
use tailor_wechat::{Reply, signature};

#[tokio::test]
async fn url_verification_echoes_and_refuses_a_bad_signature() {
    let s = Server::start(Options::default()).await;
    let ts = s.now().to_string();
    let sig = signature::sign(&[TOKEN, &ts, "77"]);
    let (status, body) = s
        .get(&format!(
            "/wechat/qianjiang?signature={sig}&timestamp={ts}&nonce=77&echostr=hello123"
        ))
        .await;
    assert_eq!((status, body.as_str()), (200, "hello123"));
    let (status, _) = s
        .get(&format!(
            "/wechat/qianjiang?signature=00{}&timestamp={ts}&nonce=77&echostr=x",
            &sig[2..]
        ))
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.get("/wechat/nobody?echostr=x").await;
    assert_eq!(status, 404);
    let (status, body) = s.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
}

#[tokio::test]
async fn enter_is_answered_with_li_dayes_edition_and_retries_get_the_same_reply_once() {
    let s = Server::start(Options::default()).await;
    let xml = enter("li-daye", s.now());
    let (status, first) = s.push(&xml).await;
    assert_eq!(status, 200, "{first}");
    let reply = s.read_reply(&first);
    let titles = titles(&reply);
    assert_eq!(titles.len(), 8);
    assert_eq!(titles[0], "元宵将至 西湖灯会今晚试灯");
    assert!(titles.contains(&"美国波士顿牛顿市：今天小雪转晴 -7～1℃".to_owned()));
    let Reply::News { articles } = &reply else {
        unreachable!()
    };
    assert!(articles[0].description.starts_with("2月24日是元宵节"));
    // WeChat retries the same delivery three times, seconds apart.
    for _ in 0..3 {
        s.clock.advance(jiff::SignedDuration::from_secs(5));
        let (status, again) = s.push(&xml).await;
        assert_eq!(status, 200);
        assert_eq!(again, first, "a retry gets exactly the first reply");
    }
    let history = s.history("li-daye").await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["blocks"][0], "h-101");
    // Learning was stored once: last_seen is the evening.
    let profile = s.profile("li-daye").await;
    assert_eq!(profile["last_seen"], "2013-02-21T19:30:00+08:00");

    // A second enter inside the 12 h cap window is quiet: `success`, nothing recorded.
    s.clock.advance(jiff::SignedDuration::from_mins(30));
    let (status, body) = s.push(&enter("li-daye", s.now())).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    assert_eq!(s.history("li-daye").await.len(), 1);

    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"tailor_events_total{account="qianjiang",kind="enter",outcome="digest"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"tailor_events_total{account="qianjiang",kind="enter",outcome="quiet"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tailor_wechat_replays_total{account="qianjiang"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("tailor_event_duration_seconds_count"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_text_asking_for_the_weather_gets_the_weather_block() {
    let s = Server::start(Options::default()).await;
    let (status, body) = s
        .push(&text(
            "li-daye",
            s.now(),
            6_054_768_590_064_713_001,
            "今天天气怎么样",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let reply = s.read_reply(&body);
    assert_eq!(
        titles(&reply),
        vec!["杭州：今夜小雨 明天阴转多云 3～9℃".to_owned()]
    );
}

#[tokio::test]
async fn a_location_event_is_learned_into_the_profile() {
    let s = Server::start(Options::default()).await;
    let xml = event(
        "li-daye",
        s.now(),
        "LOCATION",
        "<Latitude>42.337</Latitude><Longitude>-71.209</Longitude><Precision>65.0</Precision>",
    );
    let (status, body) = s.push(&xml).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "success"),
        "no rule answers location"
    );
    let profile = s.profile("li-daye").await;
    assert_eq!(profile["last_lat"], 42.337);
    assert_eq!(profile["last_lon"], -71.209);
    // A location *message* too.
    let msg = "<xml><ToUserName>gh</ToUserName><FromUserName>li-daye</FromUserName><CreateTime>1</CreateTime><MsgType>location</MsgType><Location_X>30.25</Location_X><Location_Y>120.17</Location_Y><Scale>15</Scale><Label>西湖</Label><MsgId>42</MsgId></xml>";
    let (status, _) = s.push(msg).await;
    assert_eq!(status, 200);
    assert_eq!(s.profile("li-daye").await["last_lat"], 30.25);
}

#[tokio::test]
async fn safe_mode_end_to_end() {
    let s = Server::start(Options {
        mode: "safe",
        ..Options::default()
    })
    .await;
    let (status, body) = s.push(&enter("li-daye", s.now())).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Encrypt>") && !body.contains("西湖"),
        "the reply is encrypted"
    );
    let parsed = s.callback.open_reply(&body).unwrap();
    let header = parsed.header.unwrap();
    assert_eq!(header.to_user_name, "li-daye");
    assert_eq!(titles(&parsed.reply)[0], "元宵将至 西湖灯会今晚试灯");
    // A plaintext body is refused in safe mode.
    let ts = s.now().to_string();
    let sig = signature::sign(&[TOKEN, &ts, "1"]);
    let path = format!("/wechat/qianjiang?signature={sig}&timestamp={ts}&nonce=1");
    let (status, _) = request(
        s.addr,
        "POST",
        &path,
        &[],
        enter("xiao-chen", s.now()).into_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(s.history("xiao-chen").await.len(), 0);
}

#[tokio::test]
async fn bad_requests_are_refused_without_a_state_change() {
    let s = Server::start(Options::default()).await;
    let before = s.profile("xiao-chen").await;
    let xml = enter("xiao-chen", s.now());

    // A bad signature.
    let push = s.callback.simulate_push(&xml, s.now(), "abc").unwrap();
    let mut q = push.query.clone();
    q.signature = Some("0".repeat(40));
    let (status, _) = request(
        s.addr,
        "POST",
        &format!("/wechat/qianjiang?{}", q.to_query_string()),
        &[],
        xml.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 403);

    // A replayed request whose timestamp is older than the window.
    let stale = s
        .callback
        .simulate_push(&xml, s.now() - 3600, "abc")
        .unwrap();
    let path = format!("/wechat/qianjiang?{}", stale.query.to_query_string());
    let (status, _) = request(s.addr, "POST", &path, &[], stale.body.into_bytes()).await;
    assert_eq!(status, 403);

    // An oversized body (over the 64 KiB limit).
    let big = format!(
        "<xml><ToUserName>a</ToUserName><FromUserName>xiao-chen</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{}</Content><MsgId>1</MsgId></xml>",
        "x".repeat(70 * 1024)
    );
    let push = s.callback.simulate_push(&big, s.now(), "abc").unwrap();
    let path = format!("/wechat/qianjiang?{}", push.query.to_query_string());
    let (status, _) = request(s.addr, "POST", &path, &[], push.body.into_bytes()).await;
    assert_eq!(status, 413);

    // Malformed XML, correctly signed (plain mode signs the query only).
    let push = s.callback.simulate_push(&xml, s.now(), "abc").unwrap();
    let path = format!("/wechat/qianjiang?{}", push.query.to_query_string());
    for body in [
        "<xml><FromUserName>xiao-chen</FromUserName>",
        "<!DOCTYPE x [<!ENTITY a 'b'>]><xml/>",
        "not xml",
    ] {
        let (status, _) = request(s.addr, "POST", &path, &[], body.as_bytes().to_vec()).await;
        assert_eq!(status, 400, "{body}");
    }

    assert_eq!(s.history("xiao-chen").await.len(), 0);
    assert_eq!(s.profile("xiao-chen").await, before);
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        !metrics.contains("kind=\"enter\""),
        "no event was evaluated: {metrics}"
    );
}

#[tokio::test]
async fn concurrent_clicks_of_one_user_count_exactly_and_an_unknown_openid_gets_a_profile() {
    let s = std::sync::Arc::new(Server::start(Options::default()).await);
    let n = 40u64;
    let base = s.now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let xml = event(
                "o-new-reader",
                base + i,
                "CLICK",
                "<EventKey><![CDATA[MENU_SPORTS]]></EventKey>",
            );
            s.push(&xml).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let profile = s.profile("o-new-reader").await;
    assert_eq!(profile["id"], "o-new-reader");
    assert_eq!(profile["reads"]["sports"], n, "{profile}");
    assert_eq!(profile["interests"], serde_json::json!(["sports"]));
}

#[tokio::test]
async fn concurrent_enters_under_the_cap_give_exactly_one_digest() {
    let s = std::sync::Arc::new(Server::start(Options::default()).await);
    let base = s.now();
    let mut tasks = Vec::new();
    for i in 0..30u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.push(&enter("zhang-laoshi", base + i)).await
        }));
    }
    let mut digests = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        if body != "success" {
            digests += 1;
        }
    }
    assert_eq!(digests, 1);
    assert_eq!(s.history("zhang-laoshi").await.len(), 1);
}

/// A store whose history reads (before evaluation) take 300 ms, longer than the test's
/// 100 ms budget.
#[derive(Debug)]
struct SlowStore(Arc<dyn Store>);

impl Store for SlowStore {
    fn profile(&self, a: &str, id: &str) -> Result<Option<JsonMap>, StoreError> {
        self.0.profile(a, id)
    }
    fn profile_count(&self, a: &str) -> Result<u64, StoreError> {
        self.0.profile_count(a)
    }
    fn profile_ids(
        &self,
        a: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.0.profile_ids(a, after, limit)
    }
    fn blocks(&self, a: &str) -> Result<Vec<JsonMap>, StoreError> {
        self.0.blocks(a)
    }
    fn history(&self, a: &str, u: &str) -> Result<Vec<tailor_engine::Delivery>, StoreError> {
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.0.history(a, u)
    }
    fn records(&self, a: &str, u: &str) -> Result<tailor_server::store::Records, StoreError> {
        self.0.records(a, u)
    }
    fn reply(&self, a: &str, u: &str, k: &str) -> Result<Option<StoredReply>, StoreError> {
        self.0.reply(a, u, k)
    }
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.0.apply(writes)
    }
    fn expire_replies(&self, now: i64, max: usize) -> Result<u64, StoreError> {
        self.0.expire_replies(now, max)
    }
}

#[tokio::test]
async fn over_budget_is_answered_success_and_keeps_the_learning_but_no_delivery() {
    let s = Server::start_with(
        Options {
            budget_ms: 100,
            ..Options::default()
        },
        |inner| Arc::new(SlowStore(inner)),
    )
    .await;
    let xml = enter("li-daye", s.now());
    let (status, body) = s.push(&xml).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    // The job finishes in the background: it stores what it learned, not a delivery.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.profile("li-daye").await["last_seen"] != EVENING {
        assert!(
            std::time::Instant::now() < deadline,
            "the learning was not stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(s.history("li-daye").await.is_empty());
    // Its retry finds the stored `success` and is not evaluated again.
    let (_, again) = s.push(&xml).await;
    assert_eq!(again, "success");
    loop {
        let (_, metrics) = s.get("/metrics").await;
        if metrics.contains(r#"tailor_wechat_replays_total{account="qianjiang"} 1"#) {
            assert!(metrics.contains("outcome=\"over_budget\""), "{metrics}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(s.history("li-daye").await.is_empty());
}
