//! The official sample vectors of WeChat's message-encryption documentation, as reused
//! by public SDK test suites: exact ciphertexts, signatures and plaintexts.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tailor_wechat::{
    Callback, Config, EncodingAesKey, Kind, Message, MessageCipher, Mode, Query, signature,
};

// Vector A: WeChat's official Java sample (WXBizMsgCryptTest, token "pamtest"), as kept in
// Wechat-Group/WxJava, file
// weixin-java-common/src/test/java/me/chanjar/weixin/common/util/crypto/WxCryptUtilTest.java
// (fields encodingAesKey, token, timestamp, nonce, appId, randomStr, replyMsg,
// afterAesEncrypt, replyMsg2, afterAesEncrypt2).
const A_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const A_APP_ID: &str = "wxb11529c136998cb6";
const A_RANDOM: &[u8; 16] = b"aaaabbbbccccdddd";
const A_REPLY: &str = "我是中文abcd123";
const A_CIPHER: &str =
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
const A_REPLY2: &str = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
const A_CIPHER2: &str = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";

// Vector B: WeChat's official Python sample (Sample.py: token "spamtest", a
// compatible-mode body carrying both the plaintext fields and Encrypt). The token,
// timestamp, nonce, Encrypt and msg_signature are asserted in sdkwe/pywe-sign, file
// tests/test_sign.py (test_msg_signature_relative); the EncodingAESKey, AppID and full
// body are reproduced in fotock/WXbizMsgCrypt-Node, file README.md.
const B_TOKEN: &str = "spamtest";
const B_APP_ID: &str = "wx2c2769f8efd9abc2";
const B_TIMESTAMP: &str = "1409735669";
const B_NONCE: &str = "1320562132";
const B_MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
const B_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

fn b_body() -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{B_ENCRYPT}]]></Encrypt></xml>"
    )
}

// Vector C: a safe-mode push with the official sample's token, key and AppID (vector A),
// from w7corp/easywechat, file tests/Kernel/EncryptorTest.php (testDecrypt:
// msg_signature 4f3ad57b…, nonce 260774613, timestamp 1458300676).
const C_TIMESTAMP: &str = "1458300676";
const C_NONCE: &str = "260774613";
const C_MSG_SIGNATURE: &str = "4f3ad57b6989f09f4eb392acce4f9e93942ed890";
const C_ENCRYPT: &str = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";

fn cipher(app_id: &str) -> MessageCipher {
    MessageCipher::new(&EncodingAesKey::parse(A_KEY).unwrap(), app_id)
}

#[test]
fn vector_a_encrypts_to_the_official_ciphertext() {
    let c = cipher(A_APP_ID);
    assert_eq!(c.encrypt_with_random(A_REPLY, A_RANDOM), A_CIPHER);
    assert_eq!(c.encrypt_with_random(A_REPLY2, A_RANDOM), A_CIPHER2);
}

#[test]
fn vector_a_decrypts_to_the_official_plaintext() {
    let c = cipher(A_APP_ID);
    assert_eq!(c.decrypt(A_CIPHER).unwrap(), A_REPLY);
    assert_eq!(c.decrypt(A_CIPHER2).unwrap(), A_REPLY2);
    assert_eq!(
        cipher("wx0000000000000000").decrypt(A_CIPHER),
        Err(tailor_wechat::Error::AppIdMismatch)
    );
}

#[test]
fn vector_b_official_msg_signature_verifies() {
    assert!(signature::verify(
        &[B_TOKEN, B_TIMESTAMP, B_NONCE, B_ENCRYPT],
        B_MSG_SIGNATURE
    ));
    assert_eq!(
        signature::sign(&[B_TOKEN, B_TIMESTAMP, B_NONCE, B_ENCRYPT]),
        B_MSG_SIGNATURE
    );
}

#[test]
fn vector_b_decrypts_to_the_plaintext_copy() {
    let (message, app_id) = cipher(B_APP_ID).decrypt_unchecked(B_ENCRYPT).unwrap();
    assert_eq!(app_id, B_APP_ID);
    assert_eq!(
        message,
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
    );
    let decrypted = tailor_wechat::parse_inbound(&message).unwrap();
    // The compatible-mode body carries the same message in clear (plus `Encrypt`).
    let in_clear = tailor_wechat::parse_inbound(&b_body()).unwrap();
    assert_eq!(decrypted.kind, in_clear.kind);
    assert_eq!(decrypted.msg_id, in_clear.msg_id);
    assert_eq!(in_clear.fields.get("Encrypt"), Some(B_ENCRYPT));
    assert_eq!(decrypted.to_user_name, "gh_10f6c3c3ac5a");
    assert_eq!(decrypted.from_user_name, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    assert_eq!(decrypted.create_time, 1_409_735_668);
    assert_eq!(decrypted.msg_id, Some(6_054_768_590_064_713_728));
    assert_eq!(
        decrypted.kind,
        Kind::Message(Message::Text {
            content: "abcdteT".to_owned()
        })
    );
}

#[test]
fn vector_b_opens_through_the_callback_in_compatible_mode() {
    let config = Config::new(B_TOKEN, B_APP_ID)
        .with_encoding_aes_key(A_KEY)
        .unwrap()
        .with_mode(Mode::Compatible);
    let callback = Callback::new(config).unwrap();
    let query = Query {
        // The sample gives no plain signature; it is the SHA-1 of the same token,
        // timestamp and nonce.
        signature: Some(signature::sign(&[B_TOKEN, B_TIMESTAMP, B_NONCE])),
        timestamp: Some(B_TIMESTAMP.to_owned()),
        nonce: Some(B_NONCE.to_owned()),
        encrypt_type: Some("aes".to_owned()),
        msg_signature: Some(B_MSG_SIGNATURE.to_owned()),
        ..Query::default()
    };
    let now = 1_409_735_669;
    let inbound = callback.open(&query, b_body().as_bytes(), now).unwrap();
    assert_eq!(
        inbound.kind,
        Kind::Message(Message::Text {
            content: "abcdteT".to_owned()
        })
    );
    // The plaintext copy is not trusted: tampering with it changes nothing.
    let tampered = b_body().replace("abcdteT", "forged!");
    let inbound = callback.open(&query, tampered.as_bytes(), now).unwrap();
    assert_eq!(
        inbound.kind,
        Kind::Message(Message::Text {
            content: "abcdteT".to_owned()
        })
    );
}

#[test]
fn vector_c_safe_mode_push_opens() {
    assert!(signature::verify(
        &["pamtest", C_TIMESTAMP, C_NONCE, C_ENCRYPT],
        C_MSG_SIGNATURE
    ));
    let config = Config::new("pamtest", A_APP_ID)
        .with_encoding_aes_key(A_KEY)
        .unwrap()
        .with_mode(Mode::Safe);
    let callback = Callback::new(config).unwrap();
    let query = Query {
        signature: Some(signature::sign(&["pamtest", C_TIMESTAMP, C_NONCE])),
        timestamp: Some(C_TIMESTAMP.to_owned()),
        nonce: Some(C_NONCE.to_owned()),
        msg_signature: Some(C_MSG_SIGNATURE.to_owned()),
        ..Query::default()
    };
    let body = format!(
        "<xml>\n    <ToUserName><![CDATA[asdasdasd]]></ToUserName>\n    <Encrypt><![CDATA[{C_ENCRYPT}]]></Encrypt>\n</xml>\n"
    );
    let inbound = callback
        .open(&query, body.as_bytes(), 1_458_300_676)
        .unwrap();
    assert_eq!(inbound.to_user_name, "asdasdasd");
    assert_eq!(inbound.from_user_name, "asdasdasdsadasd");
    assert_eq!(inbound.create_time, 1_234_567_898);
    assert_eq!(inbound.msg_id, Some(12345));
    assert_eq!(
        inbound.fields.get("URL"),
        Some("http://wechat.laravel.so/server")
    );
    assert_eq!(
        inbound.kind,
        Kind::Message(Message::Text {
            content: "hello".to_owned()
        })
    );
}
