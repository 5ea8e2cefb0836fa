//! Tracked links' tokens (issue 21): a compact, URL-safe, HMAC-SHA256-signed encoding of
//! one item of one delivery — account, user, block, rule, section and delivery time — for
//! `{track_base}/{token}` links in news replies and `GET /t/{token}`.
//!
//! The token is `base64url(payload ‖ tag)` without padding. The payload is a version
//! byte, then the account, user, block, rule and section as length-prefixed UTF-8 (one
//! byte of length: each is at most 255 bytes, or the item is not tracked), then the
//! delivery time as a LEB128 count of seconds since 1970. The tag is HMAC-SHA256 over the
//! payload with the account's `track_secret`, truncated to its first 16 bytes (128 bits,
//! within RFC 2104's advice of at least half the hash). A typical token is about 120
//! characters: short enough for a WeChat article URL.
//!
//! [`verify`] checks the tag in constant time (`hmac`'s `verify_truncated_left`) under
//! the secret of the account the link was served for, before it reads anything else: a
//! forged, truncated or other account's token is `None`, and the caller records nothing.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// The format's version, the payload's first byte.
const VERSION: u8 = 1;
/// Bytes of the HMAC-SHA256 tag kept in the token.
const TAG_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// One item of one delivery, as a tracked link names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedItem {
    pub account: String,
    pub user: String,
    pub block: String,
    /// The item's reason: a rule name or `fallback`.
    pub rule: String,
    pub section: String,
    /// When the digest that carried the item was sent (whole seconds).
    pub delivered: Timestamp,
}

/// The token of `item` signed with `secret`; `None` when a field is longer than 255
/// bytes or the delivery time is before 1970 (such an item keeps its plain URL).
pub fn sign(secret: &[u8], item: &TrackedItem) -> Option<String> {
    let mut payload = vec![VERSION];
    for field in [
        &item.account,
        &item.user,
        &item.block,
        &item.rule,
        &item.section,
    ] {
        payload.push(u8::try_from(field.len()).ok()?);
        payload.extend_from_slice(field.as_bytes());
    }
    let mut secs = u64::try_from(item.delivered.as_second()).ok()?;
    loop {
        let low = (secs & 0x7f) as u8;
        secs >>= 7;
        if secs == 0 {
            payload.push(low);
            break;
        }
        payload.push(low | 0x80);
    }
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(&payload);
    let tag = mac.finalize().into_bytes();
    payload.extend_from_slice(tag.get(..TAG_LEN)?);
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload))
}

/// The item a token names, when `secret` signed it and it names `account`; `None` for
/// anything else (forged, truncated, altered, another account's, not base64url).
pub fn verify(secret: &[u8], account: &str, token: &str) -> Option<TrackedItem> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let split = bytes.len().checked_sub(TAG_LEN)?;
    let (payload, tag) = bytes.split_at_checked(split)?;
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(payload);
    mac.verify_truncated_left(tag).ok()?;
    let item = decode(payload)?;
    (item.account == account).then_some(item)
}

/// The fields of a payload whose tag was verified.
fn decode(payload: &[u8]) -> Option<TrackedItem> {
    let (&version, mut rest) = payload.split_first()?;
    if version != VERSION {
        return None;
    }
    let mut field = || -> Option<String> {
        let (&len, tail) = rest.split_first()?;
        let (text, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        String::from_utf8(text.to_vec()).ok()
    };
    let (account, user, block, rule, section) = (field()?, field()?, field()?, field()?, field()?);
    let mut secs: u64 = 0;
    let mut shift = 0u32;
    let mut done = false;
    for &b in rest {
        if done || shift > 63 {
            return None;
        }
        secs |= u64::from(b & 0x7f).checked_shl(shift)?;
        shift += 7;
        done = b & 0x80 == 0;
    }
    if !done {
        return None;
    }
    let delivered = Timestamp::from_second(i64::try_from(secs).ok()?).ok()?;
    Some(TrackedItem {
        account,
        user,
        block,
        rule,
        section,
        delivered,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;

    fn item() -> TrackedItem {
        TrackedItem {
            account: "qianjiang".into(),
            user: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            block: "c-201".into(),
            rule: "taiwan_first".into(),
            section: "current".into(),
            delivered: "2013-02-21T11:30:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_signed_item_verifies_to_itself_and_the_token_is_url_safe_and_short() {
        let t = sign(b"s3cret", &item()).unwrap();
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{t}"
        );
        assert!(t.len() < 130, "{} characters: {t}", t.len());
        assert_eq!(verify(b"s3cret", "qianjiang", &t), Some(item()));
    }

    #[test]
    fn forged_truncated_altered_and_other_account_tokens_are_refused() {
        let t = sign(b"s3cret", &item()).unwrap();
        // Another secret (a forger's, or another account's).
        assert_eq!(verify(b"other", "qianjiang", &t), None);
        // Signed by this account's secret, but served for another account.
        assert_eq!(verify(b"s3cret", "other-account", &t), None);
        // Truncated at every length.
        for n in 0..t.len() {
            assert_eq!(verify(b"s3cret", "qianjiang", &t[..n]), None, "{n}");
        }
        // Every single character changed.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(b).unwrap();
            assert_eq!(verify(b"s3cret", "qianjiang", &altered), None, "{i}");
        }
        // Not base64url at all.
        assert_eq!(verify(b"s3cret", "qianjiang", "../../etc/passwd"), None);
        // A token naming another block, signed with another secret.
        let forged = sign(
            b"guess",
            &TrackedItem {
                block: "c-999".into(),
                ..item()
            },
        )
        .unwrap();
        assert_eq!(verify(b"s3cret", "qianjiang", &forged), None);
    }

    #[test]
    fn long_fields_and_times_before_1970_are_not_tracked() {
        let long = TrackedItem {
            block: "x".repeat(256),
            ..item()
        };
        assert_eq!(sign(b"s", &long), None);
        let ok = TrackedItem {
            block: "x".repeat(255),
            ..item()
        };
        assert!(sign(b"s", &ok).is_some());
        let old = TrackedItem {
            delivered: "1969-12-31T23:59:59Z".parse().unwrap(),
            ..item()
        };
        assert_eq!(sign(b"s", &old), None);
    }

    #[test]
    fn unicode_ids_and_the_epoch_round_trip() {
        let i = TrackedItem {
            user: "李大爷".into(),
            section: "时事".into(),
            delivered: Timestamp::UNIX_EPOCH,
            ..item()
        };
        let t = sign(b"k", &i).unwrap();
        assert_eq!(verify(b"k", "qianjiang", &t), Some(i));
    }
}
