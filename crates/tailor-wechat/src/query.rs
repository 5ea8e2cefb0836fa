//! The callback URL's query parameters (`signature`, `timestamp`, `nonce`, `echostr`,
//! `msg_signature`, …): parsing from a raw query string or from decoded pairs.

use std::fmt::Write as _;

use crate::Error;

/// The query parameters WeChat adds to the callback URL. Unknown parameters are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `signature`: SHA-1 of token, timestamp and nonce. Sent on every request.
    pub signature: Option<String>,
    /// `timestamp`: seconds since the Unix epoch, as a decimal string.
    pub timestamp: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `echostr`: echoed back on URL verification (GET).
    pub echostr: Option<String>,
    /// `msg_signature`: SHA-1 of token, timestamp, nonce and `Encrypt` (compatible/safe modes).
    pub msg_signature: Option<String>,
    /// `encrypt_type`: `aes` in the compatible and safe modes.
    pub encrypt_type: Option<String>,
    /// `openid`: the sender's OpenID (informational, not verified by WeChat's signature).
    pub openid: Option<String>,
}

impl Query {
    /// Parses a raw query string (`a=1&b=2`, with or without a leading `?`),
    /// percent-decoding names and values and reading `+` as a space.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`] for a bad percent escape, a value that is not UTF-8, or a
    /// known parameter given twice.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((percent_decode(name)?, percent_decode(value)?));
        }
        Self::from_pairs(pairs)
    }

    /// Builds a query from already-decoded `(name, value)` pairs, as web frameworks give them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuery`] when a known parameter appears twice.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut query = Query::default();
        for (name, value) in pairs {
            let slot = match name.as_ref() {
                "signature" => &mut query.signature,
                "timestamp" => &mut query.timestamp,
                "nonce" => &mut query.nonce,
                "echostr" => &mut query.echostr,
                "msg_signature" => &mut query.msg_signature,
                "encrypt_type" => &mut query.encrypt_type,
                "openid" => &mut query.openid,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::InvalidQuery(format!(
                    "parameter `{}` is repeated",
                    name.as_ref()
                )));
            }
            *slot = Some(value.into());
        }
        Ok(query)
    }

    /// Renders the query string (percent-encoding values), e.g. to build test requests.
    #[must_use]
    pub fn to_query_string(&self) -> String {
        let pairs = [
            ("signature", &self.signature),
            ("timestamp", &self.timestamp),
            ("nonce", &self.nonce),
            ("echostr", &self.echostr),
            ("openid", &self.openid),
            ("encrypt_type", &self.encrypt_type),
            ("msg_signature", &self.msg_signature),
        ];
        let mut out = String::new();
        for (name, value) in pairs {
            if let Some(value) = value {
                if !out.is_empty() {
                    out.push('&');
                }
                out.push_str(name);
                out.push('=');
                percent_encode(&mut out, value);
            }
        }
        out
    }

    pub(crate) fn require<'a>(
        value: &'a Option<String>,
        name: &'static str,
    ) -> Result<&'a str, Error> {
        value.as_deref().ok_or(Error::MissingParam(name))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(raw: &str) -> Result<String, Error> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex_value);
                let lo = bytes.next().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(Error::InvalidQuery("bad percent escape".to_owned())),
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| Error::InvalidQuery("value is not utf-8".to_owned()))
}

fn percent_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let q = Query::parse("?signature=abc&timestamp=1&nonce=n&echostr=a%2Bb+c&other=x&openid=")
            .unwrap();
        assert_eq!(q.signature.as_deref(), Some("abc"));
        assert_eq!(q.echostr.as_deref(), Some("a+b c"));
        assert_eq!(q.openid.as_deref(), Some(""));
        assert_eq!(Query::parse(&q.to_query_string()).unwrap(), q);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Query::parse("nonce=%zz").is_err());
        assert!(Query::parse("nonce=%4").is_err());
        assert!(Query::parse("nonce=%ff").is_err());
        assert!(Query::parse("nonce=1&nonce=2").is_err());
        assert_eq!(Query::parse("").unwrap(), Query::default());
    }
}
