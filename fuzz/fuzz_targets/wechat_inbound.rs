//! Fuzz target: the WeChat inbound parser and decryptor, fed arbitrary bytes directly and
//! through validly signed plain and safe-mode requests.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tailor_wechat::{Callback, Config, Mode, Query, parse_inbound_bytes, parse_reply, signature};

const TOKEN: &str = "fuzz-token";
const APP_ID: &str = "wxfuzz0000000000";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const NOW: u64 = 1_700_000_000;
const NONCE: &str = "1320562132";

fn callback(mode: Mode) -> Option<Callback> {
    let config = Config::new(TOKEN, APP_ID)
        .with_encoding_aes_key(KEY)
        .ok()?
        .with_mode(mode);
    Callback::new(config).ok()
}

fn callbacks() -> &'static [Callback] {
    static CALLBACKS: OnceLock<Vec<Callback>> = OnceLock::new();
    CALLBACKS.get_or_init(|| {
        [Mode::Plain, Mode::Compatible, Mode::Safe]
            .into_iter()
            .filter_map(callback)
            .collect()
    })
}

fn signed_query(encrypt: Option<&str>) -> Query {
    let ts = NOW.to_string();
    Query {
        signature: Some(signature::sign(&[TOKEN, &ts, NONCE])),
        timestamp: Some(ts.clone()),
        nonce: Some(NONCE.to_owned()),
        encrypt_type: encrypt.map(|_| "aes".to_owned()),
        msg_signature: encrypt.map(|e| signature::sign(&[TOKEN, &ts, NONCE, e])),
        ..Query::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // The parser on raw bytes, and reply parsing.
    let _ = parse_inbound_bytes(data);
    let _ = parse_reply(&text);
    let _ = Query::parse(&text);

    for callback in callbacks() {
        // Arbitrary bodies behind a valid plain signature.
        let _ = callback.open(&signed_query(None), data, NOW);
        let _ = callback.open_reply(&text);

        if let Some(cipher) = callback.cipher() {
            // The decryptor on arbitrary ciphertext text.
            let _ = cipher.decrypt(&text);
            // Arbitrary `Encrypt` values in a fully signed safe-mode envelope.
            let body = format!(
                "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{text}]]></Encrypt></xml>"
            );
            let _ = callback.open(&signed_query(Some(&text)), body.as_bytes(), NOW);
            // Arbitrary plaintext behind valid encryption and signatures.
            if let Ok(encrypt) = cipher.encrypt(&text) {
                let body = format!(
                    "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
                );
                let _ = callback.open(&signed_query(Some(&encrypt)), body.as_bytes(), NOW);
            }
        }
    }
});
