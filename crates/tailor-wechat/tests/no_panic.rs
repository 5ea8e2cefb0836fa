//! Arbitrary bytes, and arbitrary strings wrapped in valid-looking (and validly signed)
//! envelopes, never panic the parser or the decryptor.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/helpers.rs"]
mod common;

use base64::Engine as _;
use common::*;
use proptest::prelude::*;
use tailor_wechat::{
    EncodingAesKey, MessageCipher, Mode, Query, parse_inbound, parse_inbound_bytes, parse_reply,
};

/// Strings built from XML-ish tokens, to reach deeper parser states than random bytes.
fn xmlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<xml>"),
        Just("</xml>"),
        Just("<ToUserName>"),
        Just("</ToUserName>"),
        Just("<FromUserName>"),
        Just("</FromUserName>"),
        Just("<CreateTime>"),
        Just("</CreateTime>"),
        Just("<MsgType>"),
        Just("</MsgType>"),
        Just("<Event>"),
        Just("</Event>"),
        Just("<MsgId>"),
        Just("</MsgId>"),
        Just("<A/>"),
        Just("<![CDATA["),
        Just("]]>"),
        Just("&amp;"),
        Just("&#x41;"),
        Just("&#0;"),
        Just("&#xFFFFFFFF;"),
        Just("&bogus;"),
        Just("&"),
        Just("<!DOCTYPE x>"),
        Just("<!-- c -->"),
        Just("<?pi x?>"),
        Just("<?xml version=\"1.0\"?>"),
        Just("text"),
        Just("event"),
        Just("location"),
        Just("123"),
        Just("-1"),
        Just("1e999"),
        Just(" "),
        Just("<"),
        Just(">"),
        Just("\u{0}"),
        Just("中"),
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

fn cipher() -> MessageCipher {
    MessageCipher::new(&EncodingAesKey::parse(KEY).unwrap(), APP_ID)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_inbound_bytes(&bytes);
        let _ = parse_inbound(&text);
        let _ = parse_reply(&text);
        let _ = Query::parse(&text);
        let _ = cipher().decrypt(&text);
        let _ = cipher().decrypt_unchecked(&text);
        let _ = EncodingAesKey::parse(&text);
        for mode in [Mode::Plain, Mode::Compatible, Mode::Safe] {
            let cb = callback(mode);
            let _ = cb.open(&plain_query(NOW), &bytes, NOW);
            let _ = cb.open(&Query::default(), &bytes, NOW);
            let _ = cb.open_reply(&text);
            let _ = cb.simulate_push(&text, NOW, NONCE);
        }
    }

    #[test]
    fn xmlish_strings_never_panic(xml in xmlish()) {
        let _ = parse_inbound(&xml);
        let _ = parse_reply(&xml);
        let cb = callback(Mode::Plain);
        let _ = cb.open(&plain_query(NOW), xml.as_bytes(), NOW);
        // The same string as a decrypted payload behind valid signatures.
        let safe = callback(Mode::Safe);
        let encrypt = cipher().encrypt(&xml).unwrap();
        let (query, body) = safe_request(&encrypt, NOW);
        let _ = safe.open(&query, body.as_bytes(), NOW);
    }

    #[test]
    fn arbitrary_encrypt_values_in_a_signed_envelope_never_panic(encrypt in any::<String>()) {
        let cb = callback(Mode::Safe);
        let (query, body) = safe_request(&encrypt, NOW);
        let _ = cb.open(&query, body.as_bytes(), NOW);
    }

    #[test]
    fn arbitrary_ciphertext_blocks_reach_the_decryptor(blocks in prop::collection::vec(any::<[u8; 32]>(), 0..8)) {
        let raw: Vec<u8> = blocks.concat();
        let encrypt = base64::engine::general_purpose::STANDARD.encode(&raw);
        let cb = callback(Mode::Safe);
        let (query, body) = safe_request(&encrypt, NOW);
        let result = cb.open(&query, body.as_bytes(), NOW);
        prop_assert!(result.is_err());
    }

    #[test]
    fn arbitrary_plaintext_layouts_never_panic(
        len in any::<u32>(),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        pad in 0u8..=40,
    ) {
        let mut plain = b"0123456789abcdef".to_vec();
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(&payload);
        // Fill to whole 32-byte blocks with the chosen (possibly invalid) pad byte.
        let fill = 32 - plain.len() % 32;
        plain.extend(std::iter::repeat_n(pad, fill));
        let cb = callback(Mode::Safe);
        let (query, body) = safe_request(&raw_encrypt(&plain), NOW);
        let _ = cb.open(&query, body.as_bytes(), NOW);
    }

    #[test]
    fn arbitrary_field_values_never_panic(value in any::<String>(), field in 0usize..6) {
        let tags = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event"];
        let mut fields = vec![
            ("ToUserName", "gh".to_owned()),
            ("FromUserName", "o".to_owned()),
            ("CreateTime", "1".to_owned()),
            ("MsgType", "event".to_owned()),
            ("MsgId", "1".to_owned()),
            ("Event", "LOCATION".to_owned()),
        ];
        fields[field] = (tags[field], value);
        let mut xml = String::from("<xml>");
        for (tag, v) in &fields {
            xml.push_str(&format!("<{tag}><![CDATA[{v}]]></{tag}>"));
        }
        xml.push_str("<Latitude>x</Latitude></xml>");
        let _ = parse_inbound(&xml);
        let cb = callback(Mode::Plain);
        let _ = cb.open(&plain_query(NOW), xml.as_bytes(), NOW);
    }
}
