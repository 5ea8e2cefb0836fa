//! Stored replies: keyed by recipient (a colliding `MsgId` never replays one reader's
//! digest to another), expired in bounded batches, kept compact.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use std::sync::Arc;

/// The placeholder `MsgId` of several WeChat SDKs' test fixtures.
const PLACEHOLDER_MSG_ID: u64 = 1_234_567_890_123_456;

#[tokio::test]
async fn two_senders_with_the_same_msg_id_each_get_their_own_reply() {
    for mode in ["plain", "safe"] {
        let s = Server::start(Options {
            mode,
            ..Options::default()
        })
        .await;
        let mut firsts = Vec::new();
        for user in ["li-daye", "zhang-laoshi"] {
            let xml = text(user, s.now(), PLACEHOLDER_MSG_ID, "今天天气怎么样");
            let (status, body) = s.push(&xml).await;
            assert_eq!(status, 200, "{body}");
            let parsed = s.callback.open_reply(&body).unwrap();
            assert_eq!(parsed.header.unwrap().to_user_name, user, "{mode}: {body}");
            assert_eq!(titles(&parsed.reply).len(), 1, "{mode}: {body}");
            firsts.push((xml, body));
        }
        assert_ne!(firsts[0].1, firsts[1].1);
        // Each sender's retry is still recognised and gets that sender's first reply.
        for (xml, first) in &firsts {
            s.clock.advance(jiff::SignedDuration::from_secs(5));
            let (status, again) = s.push(xml).await;
            assert_eq!(status, 200);
            assert_eq!(
                &again, first,
                "{mode}: a retry gets exactly its first reply"
            );
        }
    }
}

/// How many expired replies the backlog test starts with.
const BACKLOG: u64 = 100_000;

/// Fills `store` with `BACKLOG` replies that expired long before the evening, oldest
/// first; returns the (user, key) of the one that expires last.
fn fill_backlog(store: &dyn tailor_server::Store) -> (String, String) {
    use tailor_server::store::{StoredReply, Write};
    let at = evening().as_second() - 7_200;
    let body = format!("<xml>{}</xml>", "x".repeat(400));
    let mut last = (String::new(), String::new());
    for chunk in 0..BACKLOG / 10_000 {
        let writes = (0..10_000)
            .map(|i| {
                let n = chunk * 10_000 + i;
                let user = format!("old-{n}");
                let key = format!("wechat|msg|{user}|{n}");
                last = (user.clone(), key.clone());
                Write::PutReply {
                    account: "qianjiang".into(),
                    user: user.clone(),
                    key,
                    reply: StoredReply {
                        user,
                        body: body.clone(),
                        outcome: "digest".into(),
                        at: at + i64::try_from(n / 1_000).unwrap(),
                        until: at + 5 + i64::try_from(n / 1_000).unwrap(),
                    },
                }
            })
            .collect();
        store.apply(writes).unwrap();
    }
    last
}

/// The server's store and the (user, key) of the reply that expires last.
type Kept = (Arc<dyn tailor_server::Store>, (String, String));

/// A large backlog of expired replies (as a load with a short `dedup_ttl_secs` leaves
/// between two expiry runs) is deleted while ENTERs keep coming: every one of them is
/// answered with its digest well within the budget, because expiry runs in small
/// commits in the store's writer, between the events' commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiring_a_large_backlog_does_not_stall_events() {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    let kept: Arc<OnceLock<Kept>> = Arc::new(OnceLock::new());
    let kept2 = Arc::clone(&kept);
    let filling = Instant::now();
    let s = Arc::new(
        Server::start_with(
            Options {
                budget_ms: 1_000,
                extra: "dedup_ttl_secs = 5".into(),
                ..Options::default()
            },
            move |store| {
                let last = fill_backlog(&*store);
                let _ = kept2.set((Arc::clone(&store), last));
                store
            },
        )
        .await,
    );
    eprintln!(
        "backlog of {BACKLOG} stored and server started in {:?}",
        filling.elapsed()
    );
    let (store, (last_user, last_key)) = kept.get().unwrap().clone();
    assert!(
        store
            .reply("qianjiang", &last_user, &last_key)
            .unwrap()
            .is_some()
    );
    // The pruner starts with the server: ENTERs from new readers until the backlog is
    // gone (or a minute has passed).
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let s = Arc::clone(&s);
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                let mut n = 0u64;
                let mut failures = Vec::new();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let user = format!("reader-{c}-{n}");
                    let t = Instant::now();
                    let (status, body) = s.push(&enter(&user, s.now())).await;
                    slowest = slowest.max(t.elapsed());
                    if status != 200 || !body.contains("<Articles>") {
                        failures.push(format!("{user}: {status} {body}"));
                    }
                    n += 1;
                }
                (n, slowest, failures)
            })
        })
        .collect();
    while store
        .reply("qianjiang", &last_user, &last_key)
        .unwrap()
        .is_some()
        && started.elapsed() < Duration::from_secs(50)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cleared = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for c in clients {
        let (n, worst, failed) = c.await.unwrap();
        total += n;
        slowest = slowest.max(worst);
        failures.extend(failed);
    }
    eprintln!(
        "{BACKLOG} expired replies deleted in {cleared:?} while {total} ENTERs were answered, slowest {slowest:?}, {} without a digest",
        failures.len()
    );
    assert!(failures.is_empty(), "ENTERs without a digest: {failures:?}");
    assert!(
        store
            .reply("qianjiang", &last_user, &last_key)
            .unwrap()
            .is_none(),
        "the backlog was not expired within 50 s"
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(!metrics.contains("over_budget"), "{metrics}");
    assert!(total > 0);
    assert!(
        slowest < Duration::from_secs(1),
        "slowest ENTER took {slowest:?}"
    );
}
