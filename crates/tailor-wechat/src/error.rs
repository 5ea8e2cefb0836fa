//! Typed errors for every rejection, each mapped to an HTTP status a host can answer with.

/// Everything that can go wrong while verifying, opening or sealing a callback.
///
/// Every variant maps to an HTTP status through [`Error::http_status`]:
///
/// | status | variants |
/// | --- | --- |
/// | 400 Bad Request | [`MissingParam`](Error::MissingParam), [`InvalidQuery`](Error::InvalidQuery), [`InvalidTimestamp`](Error::InvalidTimestamp), [`InvalidUtf8`](Error::InvalidUtf8), [`Doctype`](Error::Doctype), [`Entity`](Error::Entity), [`MalformedXml`](Error::MalformedXml), [`MissingField`](Error::MissingField), [`InvalidField`](Error::InvalidField), [`NotEncrypted`](Error::NotEncrypted), [`Base64`](Error::Base64), [`CiphertextLength`](Error::CiphertextLength), [`Padding`](Error::Padding), [`Payload`](Error::Payload) |
/// | 403 Forbidden | [`BadSignature`](Error::BadSignature), [`BadMsgSignature`](Error::BadMsgSignature), [`StaleTimestamp`](Error::StaleTimestamp), [`AppIdMismatch`](Error::AppIdMismatch) |
/// | 413 Payload Too Large | [`BodyTooLarge`](Error::BodyTooLarge) |
/// | 500 Internal Server Error | [`Config`](Error::Config), [`EmptyNews`](Error::EmptyNews), [`TooManyArticles`](Error::TooManyArticles), [`InvalidNonce`](Error::InvalidNonce), [`Random`](Error::Random) |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (empty token, bad EncodingAESKey, missing key for an encrypted mode, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A required query-string parameter is absent.
    #[error("missing query parameter `{0}`")]
    MissingParam(&'static str),
    /// The query string is not well formed (bad percent escape, repeated parameter, ...).
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    /// The `timestamp` parameter is not a decimal number of seconds.
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// The timestamp lies outside the configured window around `now`.
    #[error("stale timestamp {timestamp} (now {now}, window {window_secs} s)")]
    StaleTimestamp {
        /// Timestamp sent by the caller.
        timestamp: u64,
        /// The `now` the host passed in.
        now: u64,
        /// The configured window.
        window_secs: u64,
    },
    /// The plain `signature` (token, timestamp, nonce) does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// The `msg_signature` (token, timestamp, nonce, Encrypt) does not match.
    #[error("message signature mismatch")]
    BadMsgSignature,
    /// The body exceeds the configured limit; it was not parsed.
    #[error("body too large: {size} bytes, limit {limit}")]
    BodyTooLarge {
        /// Size of the rejected body.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The body (or the decrypted message) is not UTF-8.
    #[error("body is not valid utf-8")]
    InvalidUtf8,
    /// The XML carries a document type declaration (and with it, possibly entity declarations).
    #[error("xml document type declarations are not allowed")]
    Doctype,
    /// The XML references an entity other than the five predefined ones or a character reference.
    #[error("xml entity reference `&{0};` is not allowed")]
    Entity(String),
    /// The XML is not well formed or not shaped like a WeChat message.
    #[error("malformed xml: {0}")]
    MalformedXml(String),
    /// A field the message needs is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field is present but its value cannot be used (e.g. a non-numeric `CreateTime`).
    #[error("invalid value for field `{0}`")]
    InvalidField(&'static str),
    /// The mode requires an encrypted message but the request carries no `Encrypt` or no `msg_signature`.
    #[error("encrypted message expected: {0}")]
    NotEncrypted(&'static str),
    /// The ciphertext is not valid base64 (e.g. truncated).
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The decoded ciphertext length is not a positive multiple of 32 bytes.
    #[error("ciphertext length {0} is not a positive multiple of 32")]
    CiphertextLength(usize),
    /// The PKCS#7 padding of the decrypted data is invalid.
    #[error("invalid padding")]
    Padding,
    /// The decrypted payload is inconsistent (length prefix beyond the data, ...).
    #[error("invalid decrypted payload: {0}")]
    Payload(&'static str),
    /// The app id inside the decrypted payload is not ours.
    #[error("app id mismatch")]
    AppIdMismatch,
    /// A news reply without articles.
    #[error("news reply has no articles")]
    EmptyNews,
    /// A news reply with more articles than the configured limit.
    #[error("news reply has {count} articles, limit is {limit}")]
    TooManyArticles {
        /// Number of articles in the reply.
        count: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The nonce given to seal a reply is empty, longer than 64 bytes or not ASCII alphanumeric.
    #[error("invalid nonce for a reply")]
    InvalidNonce,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

impl Error {
    /// The HTTP status code a host should answer with for this error.
    ///
    /// 400 for malformed requests, 403 for requests that fail authentication or
    /// freshness, 413 for oversized bodies and 500 for problems on our side
    /// (configuration, reply construction, randomness).
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Error::MissingParam(_)
            | Error::InvalidQuery(_)
            | Error::InvalidTimestamp
            | Error::InvalidUtf8
            | Error::Doctype
            | Error::Entity(_)
            | Error::MalformedXml(_)
            | Error::MissingField(_)
            | Error::InvalidField(_)
            | Error::NotEncrypted(_)
            | Error::Base64
            | Error::CiphertextLength(_)
            | Error::Padding
            | Error::Payload(_) => 400,
            Error::BadSignature
            | Error::BadMsgSignature
            | Error::StaleTimestamp { .. }
            | Error::AppIdMismatch => 403,
            Error::BodyTooLarge { .. } => 413,
            Error::Config(_)
            | Error::EmptyNews
            | Error::TooManyArticles { .. }
            | Error::InvalidNonce
            | Error::Random => 500,
        }
    }

    /// Whether the error is the caller's fault (a 4xx status).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.http_status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Error::BadSignature.http_status(), 403);
        assert_eq!(Error::BodyTooLarge { size: 2, limit: 1 }.http_status(), 413);
        assert_eq!(Error::Padding.http_status(), 400);
        assert_eq!(Error::Random.http_status(), 500);
        assert!(Error::Doctype.is_client_error());
        assert!(!Error::EmptyNews.is_client_error());
    }
}
