//! Stored replies: keyed by recipient (a colliding `MsgId` never replays one reader's
//! digest to another), expired in bounded batches, kept compact.
// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;

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
