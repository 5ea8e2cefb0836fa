//! The host-facing entry point: verify the callback URL, open inbound requests
//! (size, signatures, freshness, decryption, parsing) and seal replies.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::config::{Config, Mode};
use crate::crypto::{MessageCipher, random_nonce};
use crate::inbound::{Inbound, from_root};
use crate::query::Query;
use crate::reply::{ParsedReply, Reply, SUCCESS, parse_reply};
use crate::signature::{sign, verify};
use crate::xml::{parse_document, push_cdata_element, push_number_element};

/// Seconds since the Unix epoch from the system clock (0 if the clock is before 1970).
#[must_use]
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// What WeChat would send for one push: the query string parameters and the body.
/// Built by [`Callback::simulate_push`] for tests and local tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Query parameters (`signature`, `timestamp`, `nonce`, and in encrypted modes
    /// `encrypt_type` and `msg_signature`).
    pub query: Query,
    /// The POST body.
    pub body: String,
}

/// The WeChat callback endpoint for one official account.
///
/// All methods taking `now` use it as the current Unix time in seconds and read no
/// clock; the `*_now` conveniences read the system clock.
#[derive(Debug, Clone)]
pub struct Callback {
    config: Config,
    cipher: Option<MessageCipher>,
}

impl Callback {
    /// Validates the configuration and prepares the cipher.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] as [`Config::validate`].
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let cipher = config
            .encoding_aes_key
            .as_ref()
            .map(|key| MessageCipher::new(key, config.app_id.clone()));
        Ok(Self { config, cipher })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cipher, when an EncodingAESKey is configured.
    #[must_use]
    pub fn cipher(&self) -> Option<&MessageCipher> {
        self.cipher.as_ref()
    }

    /// Answers WeChat's URL verification (GET with `signature`, `timestamp`, `nonce`,
    /// `echostr`): checks the signature in constant time and the timestamp window, and
    /// returns the `echostr` to send back as the response body. Official accounts send
    /// `echostr` in clear in every mode.
    ///
    /// # Errors
    ///
    /// [`Error::MissingParam`], [`Error::BadSignature`], [`Error::InvalidTimestamp`],
    /// [`Error::StaleTimestamp`].
    pub fn verify_url(&self, query: &Query, now: u64) -> Result<String, Error> {
        let echostr = Query::require(&query.echostr, "echostr")?;
        self.check_query(query, now)?;
        Ok(echostr.to_owned())
    }

    /// [`verify_url`](Self::verify_url) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`verify_url`](Self::verify_url).
    pub fn verify_url_now(&self, query: &Query) -> Result<String, Error> {
        self.verify_url(query, unix_now())
    }

    /// Opens an inbound POST: rejects an oversized body before parsing, verifies the
    /// plain `signature` (every mode) and the timestamp window, then
    ///
    /// * [`Mode::Plain`]: parses the body (an `Encrypt` element, if any, is ignored);
    /// * [`Mode::Compatible`] and [`Mode::Safe`]: requires `msg_signature` and
    ///   `Encrypt`, verifies `msg_signature`, decrypts, checks the app id and parses
    ///   the decrypted message only. Plaintext fields beside `Encrypt` are never used.
    ///
    /// # Errors
    ///
    /// Any of the request errors of [`Error`]; see [`Error::http_status`].
    pub fn open(&self, query: &Query, body: &[u8], now: u64) -> Result<Inbound, Error> {
        if body.len() > self.config.max_body_bytes {
            return Err(Error::BodyTooLarge {
                size: body.len(),
                limit: self.config.max_body_bytes,
            });
        }
        let (timestamp, nonce) = self.check_query(query, now)?;
        let body = std::str::from_utf8(body).map_err(|_| Error::InvalidUtf8)?;
        let outer = parse_document(body)?;
        let Some(cipher) = self.encrypted_cipher() else {
            return from_root(&outer);
        };
        let encrypt = outer
            .child_text("Encrypt")
            .ok_or(Error::NotEncrypted("body has no Encrypt element"))?;
        let msg_signature = query
            .msg_signature
            .as_deref()
            .ok_or(Error::NotEncrypted("query has no msg_signature"))?;
        if !verify(
            &[&self.config.token, timestamp, nonce, encrypt],
            msg_signature,
        ) {
            return Err(Error::BadMsgSignature);
        }
        let message = cipher.decrypt(encrypt)?;
        from_root(&parse_document(&message)?)
    }

    /// [`open`](Self::open) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_now(&self, query: &Query, body: &[u8]) -> Result<Inbound, Error> {
        self.open(query, body, unix_now())
    }

    /// Builds the response body replying to `inbound`: To/From swapped, `CreateTime` =
    /// `now`. In the compatible and safe modes the reply is encrypted into
    /// `<Encrypt>`, `<MsgSignature>`, `<TimeStamp>` (= `now`) and `<Nonce>`.
    /// [`Reply::Success`] is always the bare `success`.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyNews`], [`Error::TooManyArticles`], [`Error::InvalidNonce`] (the
    /// nonce must be 1 to 64 ASCII letters or digits), [`Error::Random`].
    pub fn seal(
        &self,
        inbound: &Inbound,
        reply: &Reply,
        now: u64,
        nonce: &str,
    ) -> Result<String, Error> {
        if nonce.is_empty() || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidNonce);
        }
        if matches!(reply, Reply::Success) {
            return Ok(SUCCESS.to_owned());
        }
        let plain = reply.render_for(inbound, now, self.config.article_limit)?;
        match self.encrypted_cipher() {
            None => Ok(plain),
            Some(cipher) => {
                let encrypt = cipher.encrypt(&plain)?;
                Ok(self.envelope(&encrypt, now, nonce))
            }
        }
    }

    /// [`seal`](Self::seal) with the system clock and a random nonce.
    ///
    /// # Errors
    ///
    /// As [`seal`](Self::seal).
    pub fn seal_now(&self, inbound: &Inbound, reply: &Reply) -> Result<String, Error> {
        self.seal(inbound, reply, unix_now(), &random_nonce()?)
    }

    /// Reads back a body produced by [`seal`](Self::seal): in encrypted modes verifies
    /// `MsgSignature`, decrypts and checks the app id; then parses the reply. Useful in
    /// tests and for tools that play WeChat's side.
    ///
    /// # Errors
    ///
    /// XML and field errors, [`Error::BadMsgSignature`] and the decryption errors.
    pub fn open_reply(&self, body: &str) -> Result<ParsedReply, Error> {
        let Some(cipher) = self.encrypted_cipher() else {
            return parse_reply(body);
        };
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed == SUCCESS {
            return parse_reply(body);
        }
        let root = parse_document(body)?;
        let field = |name: &'static str| root.child_text(name).ok_or(Error::MissingField(name));
        let encrypt = field("Encrypt")?;
        let signature = field("MsgSignature")?;
        let timestamp = field("TimeStamp")?;
        let nonce = field("Nonce")?;
        if !verify(&[&self.config.token, timestamp, nonce, encrypt], signature) {
            return Err(Error::BadMsgSignature);
        }
        parse_reply(&cipher.decrypt(encrypt)?)
    }

    /// Plays WeChat's side: wraps a plaintext message in the request WeChat would send
    /// in this configuration's mode (plain body; body with plaintext fields and
    /// `Encrypt`; or `ToUserName` and `Encrypt` only), with every signature computed.
    /// For tests, examples and local tools.
    ///
    /// # Errors
    ///
    /// XML errors when `message_xml` is not a WeChat document,
    /// [`Error::MissingField`] without `ToUserName`, [`Error::Random`].
    pub fn simulate_push(
        &self,
        message_xml: &str,
        timestamp: u64,
        nonce: &str,
    ) -> Result<SignedRequest, Error> {
        let root = parse_document(message_xml)?;
        let timestamp = timestamp.to_string();
        let mut query = Query {
            signature: Some(sign(&[&self.config.token, &timestamp, nonce])),
            timestamp: Some(timestamp.clone()),
            nonce: Some(nonce.to_owned()),
            ..Query::default()
        };
        let Some(cipher) = self.encrypted_cipher() else {
            return Ok(SignedRequest {
                query,
                body: message_xml.to_owned(),
            });
        };
        let encrypt = cipher.encrypt(message_xml)?;
        query.encrypt_type = Some("aes".to_owned());
        query.msg_signature = Some(sign(&[&self.config.token, &timestamp, nonce, &encrypt]));
        let mut encrypt_element = String::new();
        push_cdata_element(&mut encrypt_element, "Encrypt", &encrypt);
        let body = if self.config.mode == Mode::Compatible {
            let end = message_xml
                .rfind("</xml>")
                .ok_or_else(|| Error::MalformedXml("message must end with </xml>".to_owned()))?;
            let (head, tail) = message_xml.split_at(end);
            format!("{head}{encrypt_element}{tail}")
        } else {
            let to_user = root
                .child_text("ToUserName")
                .ok_or(Error::MissingField("ToUserName"))?;
            let mut body = String::from("<xml>");
            push_cdata_element(&mut body, "ToUserName", to_user);
            body.push_str(&encrypt_element);
            body.push_str("</xml>");
            body
        };
        Ok(SignedRequest { query, body })
    }

    /// The cipher when the mode encrypts (validation guarantees it is configured).
    fn encrypted_cipher(&self) -> Option<&MessageCipher> {
        if self.config.mode.is_encrypted() {
            self.cipher.as_ref()
        } else {
            None
        }
    }

    /// Verifies `signature` over token, timestamp and nonce, then the timestamp window.
    /// Returns `(timestamp, nonce)`.
    fn check_query<'q>(&self, query: &'q Query, now: u64) -> Result<(&'q str, &'q str), Error> {
        let signature = Query::require(&query.signature, "signature")?;
        let timestamp = Query::require(&query.timestamp, "timestamp")?;
        let nonce = Query::require(&query.nonce, "nonce")?;
        if !verify(&[&self.config.token, timestamp, nonce], signature) {
            return Err(Error::BadSignature);
        }
        let sent: u64 = timestamp.parse().map_err(|_| Error::InvalidTimestamp)?;
        if sent.abs_diff(now) > self.config.timestamp_window_secs {
            return Err(Error::StaleTimestamp {
                timestamp: sent,
                now,
                window_secs: self.config.timestamp_window_secs,
            });
        }
        Ok((timestamp, nonce))
    }

    fn envelope(&self, encrypt: &str, now: u64, nonce: &str) -> String {
        let timestamp = now.to_string();
        let signature = sign(&[&self.config.token, &timestamp, nonce, encrypt]);
        let mut out = String::from("<xml>");
        push_cdata_element(&mut out, "Encrypt", encrypt);
        push_cdata_element(&mut out, "MsgSignature", &signature);
        push_number_element(&mut out, "TimeStamp", now);
        push_cdata_element(&mut out, "Nonce", nonce);
        out.push_str("</xml>");
        out
    }
}
