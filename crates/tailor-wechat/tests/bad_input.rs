//! Bad input: every rejection is a typed error with the right HTTP status, never a panic.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/helpers.rs"]
mod common;

use common::*;
use tailor_wechat::{Callback, Config, Error, MessageCipher, Mode, Query, Reply, signature};

fn assert_err(result: Result<impl std::fmt::Debug, Error>, expected: &Error, status: u16) {
    match result {
        Err(err) => {
            assert_eq!(&err, expected);
            assert_eq!(err.http_status(), status, "{err}");
        }
        Ok(v) => panic!("expected {expected:?}, got Ok({v:?})"),
    }
}

#[test]
fn oversized_body_is_rejected_before_parsing() {
    for mode in [Mode::Plain, Mode::Safe] {
        let cb = callback(mode);
        // Not even a valid query: the size check comes first.
        let body = vec![b'<'; 64 * 1024 + 1];
        assert_err(
            cb.open(&Query::default(), &body, NOW),
            &Error::BodyTooLarge {
                size: 64 * 1024 + 1,
                limit: 64 * 1024,
            },
            413,
        );
    }
    let small = Callback::new(Config::new(TOKEN, APP_ID).with_max_body_bytes(10)).unwrap();
    assert_err(
        small.open(&plain_query(NOW), TEXT.as_bytes(), NOW),
        &Error::BodyTooLarge {
            size: TEXT.len(),
            limit: 10,
        },
        413,
    );
}

#[test]
fn doctype_and_entities_are_rejected() {
    let cb = callback(Mode::Plain);
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><ToUserName>&xxe;</ToUserName></xml>";
    assert_err(
        cb.open(&plain_query(NOW), xxe.as_bytes(), NOW),
        &Error::Doctype,
        400,
    );
    let laughs = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><xml><A>&lol2;</A></xml>";
    assert_err(
        cb.open(&plain_query(NOW), laughs.as_bytes(), NOW),
        &Error::Doctype,
        400,
    );
    let undeclared = TEXT.replace("<![CDATA[hello]]>", "&custom;");
    assert_err(
        cb.open(&plain_query(NOW), undeclared.as_bytes(), NOW),
        &Error::Entity("custom".to_owned()),
        400,
    );
    // Predefined entities and character references are fine.
    let fine = TEXT.replace("<![CDATA[hello]]>", "a &lt; b &#x4E2D;");
    let inbound = cb.open(&plain_query(NOW), fine.as_bytes(), NOW).unwrap();
    assert_eq!(inbound.fields.get("Content"), Some("a < b 中"));

    // The same rules apply to the decrypted message in safe mode.
    let safe = callback(Mode::Safe);
    let cipher = safe.cipher().unwrap();
    let encrypt = cipher.encrypt(xxe).unwrap();
    let (query, body) = safe_request(&encrypt, NOW);
    assert_err(
        safe.open(&query, body.as_bytes(), NOW),
        &Error::Doctype,
        400,
    );
}

#[test]
fn stale_timestamps_are_rejected_both_ways() {
    let cb = callback(Mode::Plain);
    for sent in [NOW - 301, NOW + 301, 0] {
        assert_err(
            cb.open(&plain_query(sent), TEXT.as_bytes(), NOW),
            &Error::StaleTimestamp {
                timestamp: sent,
                now: NOW,
                window_secs: 300,
            },
            403,
        );
        let mut query = plain_query(sent);
        query.echostr = Some("echo".to_owned());
        assert!(matches!(
            cb.verify_url(&query, NOW),
            Err(Error::StaleTimestamp { .. })
        ));
    }
    for sent in [NOW - 300, NOW + 300] {
        assert!(cb.open(&plain_query(sent), TEXT.as_bytes(), NOW).is_ok());
    }
    let narrow = Callback::new(Config::new(TOKEN, APP_ID).with_timestamp_window_secs(5)).unwrap();
    assert!(
        narrow
            .open(&plain_query(NOW - 6), TEXT.as_bytes(), NOW)
            .is_err()
    );
}

#[test]
fn bad_signatures_are_rejected_in_every_mode() {
    for mode in [Mode::Plain, Mode::Compatible, Mode::Safe] {
        let cb = callback(mode);
        let push = cb.simulate_push(TEXT, NOW, NONCE).unwrap();
        assert!(cb.open(&push.query, push.body.as_bytes(), NOW).is_ok());

        let mut query = push.query.clone();
        query.signature = Some("0".repeat(40));
        assert_err(
            cb.open(&query, push.body.as_bytes(), NOW),
            &Error::BadSignature,
            403,
        );

        let mut query = push.query.clone();
        query.signature = None;
        assert_err(
            cb.open(&query, push.body.as_bytes(), NOW),
            &Error::MissingParam("signature"),
            400,
        );

        let mut query = push.query.clone();
        query.echostr = Some("e".to_owned());
        query.nonce = Some("other".to_owned());
        assert_err(cb.verify_url(&query, NOW), &Error::BadSignature, 403);

        if mode.is_encrypted() {
            let mut query = push.query.clone();
            query.msg_signature = Some("f".repeat(40));
            assert_err(
                cb.open(&query, push.body.as_bytes(), NOW),
                &Error::BadMsgSignature,
                403,
            );
            let mut query = push.query.clone();
            query.msg_signature = None;
            assert_err(
                cb.open(&query, push.body.as_bytes(), NOW),
                &Error::NotEncrypted("query has no msg_signature"),
                400,
            );
        }
    }
}

#[test]
fn encrypted_modes_refuse_plain_bodies() {
    for mode in [Mode::Compatible, Mode::Safe] {
        let cb = callback(mode);
        let mut query = plain_query(NOW);
        query.msg_signature = Some(signature::sign(&[TOKEN, &NOW.to_string(), NONCE, ""]));
        assert_err(
            cb.open(&query, TEXT.as_bytes(), NOW),
            &Error::NotEncrypted("body has no Encrypt element"),
            400,
        );
    }
}

#[test]
fn bad_padding_is_rejected() {
    let cb = callback(Mode::Safe);
    let message = TEXT.as_bytes();
    let content = 20 + message.len() + APP_ID.len();
    let good = pad_for(content);
    // Sanity check: the hand-built layout with correct padding opens.
    let encrypt = raw_encrypt(&layout(
        message,
        APP_ID.as_bytes(),
        message.len() as u32,
        &good,
    ));
    let (query, body) = safe_request(&encrypt, NOW);
    assert!(cb.open(&query, body.as_bytes(), NOW).is_ok());

    let n = good.len();
    let mut zero = good.clone();
    *zero.last_mut().unwrap() = 0;
    let mut inconsistent = good.clone();
    if n > 1 {
        inconsistent[0] ^= 1;
    }
    let mut cases = vec![zero, inconsistent];
    // A pad byte above 32 (the whole last block set to 33).
    let mut too_big = good.clone();
    too_big.iter_mut().for_each(|b| *b = 33);
    cases.push(too_big);
    for padding in cases {
        if padding == good {
            continue;
        }
        let encrypt = raw_encrypt(&layout(
            message,
            APP_ID.as_bytes(),
            message.len() as u32,
            &padding,
        ));
        let (query, body) = safe_request(&encrypt, NOW);
        assert_err(cb.open(&query, body.as_bytes(), NOW), &Error::Padding, 400);
    }
    // Padding to 16 only (valid PKCS#7 for AES, not for WeChat's 32-byte blocks).
    let mut plain = layout(message, APP_ID.as_bytes(), message.len() as u32, &[]);
    let pad16 = 16 - plain.len() % 16;
    plain.extend(std::iter::repeat_n(pad16 as u8, pad16));
    if !plain.len().is_multiple_of(32) {
        let encrypt = raw_encrypt(&plain);
        let (query, body) = safe_request(&encrypt, NOW);
        assert_err(
            cb.open(&query, body.as_bytes(), NOW),
            &Error::CiphertextLength(plain.len()),
            400,
        );
    }
}

#[test]
fn inconsistent_length_prefix_is_rejected() {
    let cb = callback(Mode::Safe);
    let message = TEXT.as_bytes();
    let content = 20 + message.len() + APP_ID.len();
    let plain = layout(message, APP_ID.as_bytes(), u32::MAX, &pad_for(content));
    let (query, body) = safe_request(&raw_encrypt(&plain), NOW);
    assert_err(
        cb.open(&query, body.as_bytes(), NOW),
        &Error::Payload("message length exceeds payload"),
        400,
    );
    // Only the random prefix: too short for the length field.
    let plain = [16u8; 32];
    let (query, body) = safe_request(&raw_encrypt(&plain), NOW);
    assert_err(
        cb.open(&query, body.as_bytes(), NOW),
        &Error::Payload("missing length prefix"),
        400,
    );
}

#[test]
fn wrong_app_id_is_rejected() {
    let cb = callback(Mode::Safe);
    let key = tailor_wechat::EncodingAesKey::parse(KEY).unwrap();
    for other in [
        "wx1234567890abcdeg",
        "wx1234567890abcde",
        "",
        "wx1234567890abcdef0",
    ] {
        let encrypt = MessageCipher::new(&key, other).encrypt(TEXT).unwrap();
        let (query, body) = safe_request(&encrypt, NOW);
        assert_err(
            cb.open(&query, body.as_bytes(), NOW),
            &Error::AppIdMismatch,
            403,
        );
    }
}

#[test]
fn malformed_xml_is_rejected() {
    let cb = callback(Mode::Plain);
    for body in [
        "",
        "not xml",
        "<xml>",
        "<xml><ToUserName>a</FromUserName></xml>",
        "<root><A/></root>",
        "<xml/><xml/>",
        "<xml><![CDATA[x</xml>",
    ] {
        assert!(
            matches!(
                cb.open(&plain_query(NOW), body.as_bytes(), NOW),
                Err(Error::MalformedXml(_))
            ),
            "{body:?}"
        );
    }
    assert_err(
        cb.open(&plain_query(NOW), b"<xml>\xff</xml>", NOW),
        &Error::InvalidUtf8,
        400,
    );
    assert_err(
        cb.open(
            &plain_query(NOW),
            b"<xml><MsgType>text</MsgType></xml>",
            NOW,
        ),
        &Error::MissingField("ToUserName"),
        400,
    );
    let bad_time = TEXT.replace("1699999999", "yesterday");
    assert_err(
        cb.open(&plain_query(NOW), bad_time.as_bytes(), NOW),
        &Error::InvalidField("CreateTime"),
        400,
    );
    // Malformed XML inside a correctly signed, correctly encrypted payload.
    let safe = callback(Mode::Safe);
    let encrypt = safe.cipher().unwrap().encrypt("<xml><A></xml>").unwrap();
    let (query, body) = safe_request(&encrypt, NOW);
    assert!(matches!(
        safe.open(&query, body.as_bytes(), NOW),
        Err(Error::MalformedXml(_))
    ));
}

#[test]
fn truncated_or_invalid_base64_is_rejected() {
    let cb = callback(Mode::Safe);
    let encrypt = cb.cipher().unwrap().encrypt(TEXT).unwrap();
    // Dropping one character breaks the base64 framing.
    let truncated = &encrypt[..encrypt.len() - 1];
    let (query, body) = safe_request(truncated, NOW);
    assert_err(cb.open(&query, body.as_bytes(), NOW), &Error::Base64, 400);
    // Dropping a whole base64 quantum keeps the framing but not the block structure.
    let short = &encrypt[..encrypt.len() - 4];
    let (query, body) = safe_request(short, NOW);
    assert!(matches!(
        cb.open(&query, body.as_bytes(), NOW),
        Err(Error::Base64 | Error::CiphertextLength(_))
    ));
    for garbage in ["!!!!", "YWJj", "", "====", "AAAAAAAAAAAAAAAAAAAAAA=="] {
        let (query, body) = safe_request(garbage, NOW);
        let err = cb.open(&query, body.as_bytes(), NOW).unwrap_err();
        assert!(
            matches!(err, Error::Base64 | Error::CiphertextLength(_)),
            "{garbage:?}: {err:?}"
        );
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn query_problems_are_typed() {
    let cb = callback(Mode::Plain);
    assert_err(
        Query::parse("nonce=%G1"),
        &Error::InvalidQuery("bad percent escape".to_owned()),
        400,
    );
    let mut query = plain_query(NOW);
    query.timestamp = Some("soon".to_owned());
    query.signature = Some(signature::sign(&[TOKEN, "soon", NONCE]));
    assert_err(
        cb.open(&query, TEXT.as_bytes(), NOW),
        &Error::InvalidTimestamp,
        400,
    );
    assert_err(
        cb.verify_url(&plain_query(NOW), NOW),
        &Error::MissingParam("echostr"),
        400,
    );
}

#[test]
fn reply_problems_are_server_errors() {
    let cb = callback(Mode::Safe);
    let inbound = tailor_wechat::parse_inbound(TEXT).unwrap();
    let article = tailor_wechat::Article::new("t", "https://example.com");
    assert_err(
        cb.seal(&inbound, &Reply::news(vec![article; 9]), NOW, NONCE),
        &Error::TooManyArticles { count: 9, limit: 8 },
        500,
    );
    assert_err(
        cb.seal(&inbound, &Reply::news([]), NOW, NONCE),
        &Error::EmptyNews,
        500,
    );
    assert_err(
        cb.seal(&inbound, &Reply::text("x"), NOW, "a<b"),
        &Error::InvalidNonce,
        500,
    );
    assert_err(
        Callback::new(Config::new(TOKEN, APP_ID).with_mode(Mode::Safe)),
        &Error::Config("Safe mode needs an encoding aes key".to_owned()),
        500,
    );
    assert!(matches!(
        Config::new(TOKEN, APP_ID).with_encoding_aes_key("short"),
        Err(Error::Config(_))
    ));
}
