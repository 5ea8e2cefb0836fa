//! Callback configuration: token, app id, EncodingAESKey, message mode and input limits.

use std::fmt;

use crate::Error;

/// Default limit for request bodies: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default accepted distance between a request's timestamp and `now`: 300 s.
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: u64 = 300;
/// Default maximum number of articles in a news reply (WeChat's limit today; it was 10 before).
pub const DEFAULT_ARTICLE_LIMIT: usize = 8;

/// The message encryption mode chosen in the WeChat console (消息加解密方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// 明文模式: plaintext bodies. Only the query `signature` authenticates the request,
    /// and it does not cover the body.
    #[default]
    Plain,
    /// 兼容模式: the body carries the plaintext fields *and* an `Encrypt` element.
    ///
    /// This crate trusts only the encrypted copy, after `msg_signature` and the app id
    /// are verified; the plaintext fields beside it are ignored. A request without
    /// `Encrypt` or `msg_signature` is rejected, because accepting the plaintext copy
    /// would let anyone who saw one signed query string forge a body. Replies are encrypted.
    Compatible,
    /// 安全模式: the body carries only `ToUserName` and `Encrypt`. Replies are encrypted.
    Safe,
}

impl Mode {
    /// Whether inbound messages must be encrypted and replies are encrypted.
    #[must_use]
    pub fn is_encrypted(self) -> bool {
        !matches!(self, Mode::Plain)
    }
}

/// A validated EncodingAESKey: 43 characters of the standard base64 alphabet.
///
/// The AES-256 key is `base64_decode(key + "=")`. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingAesKey {
    bytes: [u8; 32],
}

impl EncodingAesKey {
    /// Validates and decodes a 43-character EncodingAESKey.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the key does not have 43 characters from `A-Z a-z 0-9 + /`.
    pub fn parse(key: &str) -> Result<Self, Error> {
        if key.len() != 43 {
            return Err(Error::Config(format!(
                "encoding aes key must have 43 characters, got {}",
                key.chars().count()
            )));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(Error::Config(
                "encoding aes key must use the base64 alphabet".to_owned(),
            ));
        }
        let mut padded = String::with_capacity(44);
        padded.push_str(key);
        padded.push('=');
        let decoded = crate::crypto::decode_key_base64(&padded)
            .map_err(|_| Error::Config("encoding aes key is not valid base64".to_owned()))?;
        let bytes: [u8; 32] = decoded
            .try_into()
            .map_err(|_| Error::Config("encoding aes key must decode to 32 bytes".to_owned()))?;
        Ok(Self { bytes })
    }

    /// The 32-byte AES key.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey(<redacted>)")
    }
}

impl std::str::FromStr for EncodingAesKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Everything a [`Callback`](crate::Callback) needs. Build it with [`Config::new`] and the
/// `with_*` methods; [`Callback::new`](crate::Callback::new) validates it.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The Token from the WeChat console, used in every signature.
    pub token: String,
    /// The AppID of the official account; checked inside every decrypted payload.
    pub app_id: String,
    /// The EncodingAESKey; required in [`Mode::Compatible`] and [`Mode::Safe`].
    pub encoding_aes_key: Option<EncodingAesKey>,
    /// The message mode.
    pub mode: Mode,
    /// Bodies larger than this are rejected before parsing.
    pub max_body_bytes: usize,
    /// Maximum distance, in seconds, between a request timestamp and `now`.
    pub timestamp_window_secs: u64,
    /// Maximum number of articles in a news reply.
    pub article_limit: usize,
}

impl Config {
    /// A plain-mode configuration with default limits.
    #[must_use]
    pub fn new(token: impl Into<String>, app_id: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            app_id: app_id.into(),
            encoding_aes_key: None,
            mode: Mode::Plain,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timestamp_window_secs: DEFAULT_TIMESTAMP_WINDOW_SECS,
            article_limit: DEFAULT_ARTICLE_LIMIT,
        }
    }

    /// Sets the EncodingAESKey after validating it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the key is not 43 base64 characters.
    pub fn with_encoding_aes_key(mut self, key: &str) -> Result<Self, Error> {
        self.encoding_aes_key = Some(EncodingAesKey::parse(key)?);
        Ok(self)
    }

    /// Sets the mode.
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the body size limit in bytes.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets the timestamp window in seconds.
    #[must_use]
    pub fn with_timestamp_window_secs(mut self, secs: u64) -> Self {
        self.timestamp_window_secs = secs;
        self
    }

    /// Sets the maximum number of articles in a news reply.
    #[must_use]
    pub fn with_article_limit(mut self, limit: usize) -> Self {
        self.article_limit = limit;
        self
    }

    /// Checks that the configuration is usable.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty token or app id, a missing key in an encrypted
    /// mode, a zero body limit or a zero article limit.
    pub fn validate(&self) -> Result<(), Error> {
        if self.token.is_empty() {
            return Err(Error::Config("token must not be empty".to_owned()));
        }
        if self.app_id.is_empty() {
            return Err(Error::Config("app id must not be empty".to_owned()));
        }
        if self.mode.is_encrypted() && self.encoding_aes_key.is_none() {
            return Err(Error::Config(format!(
                "{:?} mode needs an encoding aes key",
                self.mode
            )));
        }
        if self.max_body_bytes == 0 {
            return Err(Error::Config("max body size must be positive".to_owned()));
        }
        if self.article_limit == 0 {
            return Err(Error::Config("article limit must be positive".to_owned()));
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("token", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("encoding_aes_key", &self.encoding_aes_key)
            .field("mode", &self.mode)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("article_limit", &self.article_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation() {
        assert!(EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_ok());
        assert!(EncodingAesKey::parse("abc").is_err());
        assert!(EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=").is_err());
        assert!(EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-").is_err());
        assert!(EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH").is_err());
        let key = EncodingAesKey::parse(&"A".repeat(43)).unwrap();
        assert_eq!(key.as_bytes(), &[0u8; 32]);
        assert_eq!(format!("{key:?}"), "EncodingAesKey(<redacted>)");
    }

    #[test]
    fn config_validation() {
        assert!(Config::new("t", "wx").validate().is_ok());
        assert!(Config::new("", "wx").validate().is_err());
        assert!(Config::new("t", "").validate().is_err());
        assert!(
            Config::new("t", "wx")
                .with_mode(Mode::Safe)
                .validate()
                .is_err()
        );
        assert!(
            Config::new("t", "wx")
                .with_article_limit(0)
                .validate()
                .is_err()
        );
        let debug = format!("{:?}", Config::new("secret-token", "wx"));
        assert!(!debug.contains("secret-token"));
    }
}
