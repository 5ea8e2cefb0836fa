//! Shared helpers for the integration tests: configured callbacks and hand-signed requests.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use aes::Aes256;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut as _, KeyIvInit as _};
use tailor_wechat::{Callback, Config, EncodingAesKey, Mode, Query, signature};

pub const TOKEN: &str = "tailor-token";
pub const APP_ID: &str = "wx1234567890abcdef";
pub const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const NOW: u64 = 1_700_000_000;
pub const NONCE: &str = "1320562132";

pub const TEXT: &str = "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1699999999</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>42</MsgId></xml>";

pub fn callback(mode: Mode) -> Callback {
    let config = Config::new(TOKEN, APP_ID)
        .with_encoding_aes_key(KEY)
        .unwrap()
        .with_mode(mode);
    Callback::new(config).unwrap()
}

/// The query WeChat would send for a plain request.
pub fn plain_query(timestamp: u64) -> Query {
    let ts = timestamp.to_string();
    Query {
        signature: Some(signature::sign(&[TOKEN, &ts, NONCE])),
        timestamp: Some(ts),
        nonce: Some(NONCE.to_owned()),
        ..Query::default()
    }
}

/// A safe-mode request around an arbitrary `Encrypt` value, with both signatures valid.
pub fn safe_request(encrypt: &str, timestamp: u64) -> (Query, String) {
    let mut query = plain_query(timestamp);
    let ts = timestamp.to_string();
    query.encrypt_type = Some("aes".to_owned());
    query.msg_signature = Some(signature::sign(&[TOKEN, &ts, NONCE, encrypt]));
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (query, body)
}

/// Raw AES-256-CBC (WeChat key and IV, no padding added) of whole 16-byte blocks, in base64.
pub fn raw_encrypt(plain: &[u8]) -> String {
    assert_eq!(plain.len() % 16, 0);
    let key = *EncodingAesKey::parse(KEY).unwrap().as_bytes();
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let mut buf = plain.to_vec();
    let len = buf.len();
    let out = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .unwrap()
        .to_vec();
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Builds the WeChat plaintext layout by hand: random, length, message, app id, then
/// the given padding bytes.
pub fn layout(message: &[u8], app_id: &[u8], declared_len: u32, padding: &[u8]) -> Vec<u8> {
    let mut out = b"0123456789abcdef".to_vec();
    out.extend_from_slice(&declared_len.to_be_bytes());
    out.extend_from_slice(message);
    out.extend_from_slice(app_id);
    out.extend_from_slice(padding);
    out
}

/// Correct PKCS#7 padding (32-byte blocks) for `len` bytes of content.
pub fn pad_for(len: usize) -> Vec<u8> {
    let n = 32 - len % 32;
    vec![n as u8; n]
}
