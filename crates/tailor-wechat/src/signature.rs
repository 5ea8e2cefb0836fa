//! WeChat SHA-1 signatures (sorted, concatenated parts) and their constant-time verification.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Hex SHA-1 of the parts sorted bytewise and concatenated, as WeChat computes
/// `signature` (token, timestamp, nonce) and `msg_signature` (token, timestamp, nonce, Encrypt).
///
/// ```
/// use tailor_wechat::signature::sign;
/// // The same value whatever the order of the parts.
/// assert_eq!(sign(&["token", "1", "nonce"]), sign(&["nonce", "token", "1"]));
/// assert_eq!(sign(&["token", "1", "nonce"]).len(), 40);
/// ```
#[must_use]
pub fn sign(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    to_hex(&hasher.finalize())
}

/// Whether `given` is the signature of `parts`, compared in constant time.
///
/// Hex digits in `given` are accepted in either case.
#[must_use]
pub fn verify(parts: &[&str], given: &str) -> bool {
    let expected = sign(parts);
    let given = given.to_ascii_lowercase();
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Constant-time equality of two byte strings (lengths are not secret).
#[must_use]
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha1() {
        // SHA-1("abc") from FIPS 180-1.
        assert_eq!(sign(&["abc"]), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sign(&["c", "a", "b"]), sign(&["abc"]));
    }

    #[test]
    fn verify_is_exact() {
        let sig = sign(&["t", "1", "n"]);
        assert!(verify(&["t", "1", "n"], &sig));
        assert!(verify(&["t", "1", "n"], &sig.to_ascii_uppercase()));
        assert!(!verify(&["t", "1", "n"], &sig[..39]));
        assert!(!verify(&["t", "2", "n"], &sig));
        assert!(!verify(&["t", "1", "n"], ""));
    }
}
