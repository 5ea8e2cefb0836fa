//! WeChat official-account server callback protocol: URL verification, plain, compatible
//! and safe (encrypted) modes, typed inbound messages and events, replies, deduplication.
//!
//! The crate knows nothing of rules: it turns an HTTP request from WeChat into an
//! [`Inbound`] (or a typed [`Error`] with an HTTP status) and a [`Reply`] into a response
//! body. It reads no clock in its core API: every check that needs the time takes a
//! `now` in Unix seconds ([`unix_now`] and the `*_now` methods are conveniences).
//!
//! # A complete handler
//!
//! ```
//! use std::collections::HashMap;
//!
//! use tailor_wechat::{
//!     Article, Callback, Config, DedupKey, Event, Inbound, Kind, Message, Mode, Query, Reply,
//!     random_nonce, signature,
//! };
//!
//! /// Decides the reply; a real host would ask its rules engine here.
//! fn decide(inbound: &Inbound) -> Reply {
//!     match &inbound.kind {
//!         Kind::Message(Message::Text { content }) if content.contains("news") => Reply::news([
//!             Article::new("Today's pick", "https://example.com/today")
//!                 .with_description("Chosen for you")
//!                 .with_pic_url("https://example.com/today.png"),
//!         ]),
//!         Kind::Event(Event::Subscribe { .. }) => Reply::text("Welcome!"),
//!         _ => Reply::Success,
//!     }
//! }
//!
//! /// GET /wechat: WeChat checks that we own the token.
//! fn handle_get(callback: &Callback, raw_query: &str, now: u64) -> (u16, String) {
//!     match Query::parse(raw_query).and_then(|q| callback.verify_url(&q, now)) {
//!         Ok(echostr) => (200, echostr),
//!         Err(err) => (err.http_status(), err.to_string()),
//!     }
//! }
//!
//! /// POST /wechat: a message or event. `seen` stands for a shared cache with a TTL of
//! /// a few minutes (for example in Redis), keyed by the delivery's dedup key.
//! fn handle_post(
//!     callback: &Callback,
//!     seen: &mut HashMap<DedupKey, Reply>,
//!     raw_query: &str,
//!     body: &[u8],
//!     now: u64,
//! ) -> (u16, String) {
//!     let inbound = match Query::parse(raw_query).and_then(|q| callback.open(&q, body, now)) {
//!         Ok(inbound) => inbound,
//!         Err(err) => return (err.http_status(), err.to_string()),
//!     };
//!     // First delivery: decide and record once. Retry: answer with the first reply.
//!     let reply = seen
//!         .entry(inbound.dedup_key())
//!         .or_insert_with(|| decide(&inbound))
//!         .clone();
//!     match random_nonce().and_then(|nonce| callback.seal(&inbound, &reply, now, &nonce)) {
//!         Ok(body) => (200, body),
//!         Err(err) => (err.http_status(), err.to_string()),
//!     }
//! }
//!
//! # fn main() -> Result<(), tailor_wechat::Error> {
//! let config = Config::new("my-token", "wx0123456789abcdef")
//!     .with_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?
//!     .with_mode(Mode::Safe);
//! let callback = Callback::new(config)?;
//! let now = 1_700_000_000;
//!
//! // URL verification, signed as WeChat signs it.
//! let sig = signature::sign(&["my-token", "1700000000", "8271"]);
//! let get = format!("signature={sig}&timestamp=1700000000&nonce=8271&echostr=5837163");
//! assert_eq!(handle_get(&callback, &get, now), (200, "5837163".to_owned()));
//!
//! // A text message, encrypted and signed as WeChat would push it in safe mode.
//! let message = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>\
//!     <FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1699999999</CreateTime>\
//!     <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[news please]]></Content>\
//!     <MsgId>6054768590064713728</MsgId></xml>";
//! let push = callback.simulate_push(message, now, "1320562132")?;
//! let query = push.query.to_query_string();
//!
//! let mut seen = HashMap::new();
//! let (status, body) = handle_post(&callback, &mut seen, &query, push.body.as_bytes(), now);
//! assert_eq!(status, 200);
//! assert!(body.contains("<MsgSignature>"));
//!
//! // What WeChat reads: a news reply from the account to the user.
//! let reply = callback.open_reply(&body)?;
//! let header = reply.header.expect("an xml reply");
//! assert_eq!((header.to_user_name.as_str(), header.from_user_name.as_str()), ("o_user", "gh_account"));
//! assert!(matches!(reply.reply, Reply::News { ref articles } if articles.len() == 1));
//!
//! // WeChat's retry of the same push gets the same reply and is recorded only once.
//! let (_, again) = handle_post(&callback, &mut seen, &query, push.body.as_bytes(), now + 5);
//! assert_eq!(callback.open_reply(&again)?.reply, reply.reply);
//! assert_eq!(seen.len(), 1);
//!
//! // A forged request is refused with a status the host can send as is.
//! let (status, _) = handle_post(&callback, &mut seen, "signature=00&timestamp=1700000000&nonce=1", b"<xml/>", now);
//! assert_eq!(status, 403);
//! # Ok(())
//! # }
//! ```
//!
//! # Deduplication: WeChat retries
//!
//! When WeChat gets no answer within 5 seconds it sends the same push again, up to three
//! times. [`Inbound::dedup_key`] identifies a delivery across those copies: the sender's
//! `FromUserName` and `MsgId` for messages (so that a colliding `MsgId` never hands one
//! reader's reply to another); `FromUserName` + `CreateTime` + `Event` + `EventKey` for events. A host must:
//!
//! 1. look the key up in a cache shared by all its workers, kept a few minutes (retries
//!    arrive within about 15 s);
//! 2. on a miss, decide the reply, store it under the key, and record the delivery
//!    (counters, rule history, side effects) **once**;
//! 3. on a hit, answer with the stored reply and record nothing; if the first copy is
//!    still being processed, wait for it (or answer `success`) rather than deciding again.
//!
//! Answering every retry with the first reply keeps what the user sees consistent, and
//! recording once keeps counts and rule state right. Sealing the stored [`Reply`] again
//! (new timestamp and nonce) is fine.
//!
//! # Security choices
//!
//! * The query `signature` (token, timestamp, nonce) is verified on **every** request in
//!   every mode, in constant time ([`subtle`]); in the compatible and safe modes
//!   `msg_signature` (token, timestamp, nonce, `Encrypt`) is verified too, before any
//!   decryption.
//! * In compatible mode only the encrypted copy of the message is trusted; see [`Mode`].
//! * PKCS#7 padding (32-byte blocks) is validated, not trusted; the decrypted length
//!   prefix is bounds-checked; the app id is compared in constant time.
//! * Bodies over [`Config::max_body_bytes`] (64 KiB by default) are rejected before
//!   parsing; DOCTYPE (and so entity declarations), unknown entities and processing
//!   instructions are rejected; nesting and element counts are bounded.
//! * Timestamps further than [`Config::timestamp_window_secs`] (300 s by default) from
//!   `now`, in either direction, are rejected.
//! * No input makes the crate panic: library code denies `unwrap`, `expect`, `panic!`
//!   and indexing, and property tests and a fuzz target feed it arbitrary bytes.

mod callback;
mod config;
mod crypto;
mod dedup;
mod error;
mod inbound;
mod query;
mod reply;
pub mod signature;
mod xml;

pub use callback::{Callback, SignedRequest, unix_now};
pub use config::{
    Config, DEFAULT_ARTICLE_LIMIT, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMESTAMP_WINDOW_SECS,
    EncodingAesKey, Mode,
};
pub use crypto::{MessageCipher, random_nonce};
pub use dedup::DedupKey;
pub use error::Error;
pub use inbound::{Event, Inbound, Kind, Message, parse_inbound, parse_inbound_bytes};
pub use query::Query;
pub use reply::{Article, ParsedReply, Reply, ReplyHeader, SUCCESS, parse_reply};
pub use xml::{Fields, xml_safe_text};
