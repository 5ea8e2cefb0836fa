//! AES-256-CBC message encryption of the compatible and safe modes, with validated padding and app id.
//!
//! Plaintext layout: 16 random bytes, the message length as 4 big-endian bytes, the
//! message, the app id; then PKCS#7 padding to a multiple of 32 bytes. Key =
//! base64(EncodingAESKey + "="), IV = the first 16 key bytes; the ciphertext travels
//! in standard base64.

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use subtle::{Choice, ConstantTimeEq as _};

use crate::Error;
use crate::config::EncodingAesKey;
use crate::signature::ct_eq;

type Encryptor = cbc::Encryptor<Aes256>;
type Decryptor = cbc::Decryptor<Aes256>;

/// WeChat pads to 32-byte blocks, not to the AES block size.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LEN_PREFIX: usize = 4;

/// The EncodingAESKey's 43rd character carries two bits beyond the 32 key bytes;
/// WeChat's own SDKs ignore them, so we must too.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

pub(crate) fn decode_key_base64(padded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    KEY_ENGINE.decode(padded)
}

/// Encrypts and decrypts message payloads for one app id.
#[derive(Clone)]
pub struct MessageCipher {
    key: [u8; 32],
    iv: [u8; 16],
    app_id: String,
}

impl std::fmt::Debug for MessageCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageCipher")
            .field("key", &"<redacted>")
            .field("app_id", &self.app_id)
            .finish()
    }
}

impl MessageCipher {
    /// A cipher for `app_id` with the given key.
    #[must_use]
    pub fn new(key: &EncodingAesKey, app_id: impl Into<String>) -> Self {
        let key = *key.as_bytes();
        let iv = std::array::from_fn(|i| key.get(i).copied().unwrap_or_default());
        Self {
            key,
            iv,
            app_id: app_id.into(),
        }
    }

    /// The app id written into, and expected inside, every payload.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Encrypts `message` with 16 fresh random bytes from the operating system.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] when the system random number generator fails.
    pub fn encrypt(&self, message: &str) -> Result<String, Error> {
        let mut random = [0u8; RANDOM_LEN];
        getrandom::fill(&mut random).map_err(|_| Error::Random)?;
        Ok(self.encrypt_with_random(message, &random))
    }

    /// Encrypts `message` with the given 16 "random" bytes. Deterministic: meant for
    /// reproducing published test vectors; use [`encrypt`](Self::encrypt) otherwise.
    #[must_use]
    pub fn encrypt_with_random(&self, message: &str, random: &[u8; 16]) -> String {
        let msg = message.as_bytes();
        let unpadded = RANDOM_LEN + LEN_PREFIX + msg.len() + self.app_id.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut buf = Vec::with_capacity(unpadded + pad);
        buf.extend_from_slice(random);
        // WeChat bodies are far below 4 GiB; saturate rather than wrap for absurd inputs.
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.app_id.as_bytes());
        // `pad` is in 1..=32, so it fits in a byte.
        let pad_byte = u8::try_from(pad).unwrap_or(PAD_BLOCK as u8);
        buf.resize(unpadded + pad, pad_byte);
        let total = buf.len();
        let encryptor = Encryptor::new(&self.key.into(), &self.iv.into());
        match encryptor.encrypt_padded_mut::<NoPadding>(&mut buf, total) {
            Ok(ciphertext) => STANDARD.encode(ciphertext),
            // Unreachable: the buffer is a whole number of blocks.
            Err(_) => String::new(),
        }
    }

    /// Decrypts a base64 ciphertext, validates padding and layout, checks the app id
    /// (in constant time) and returns the message.
    ///
    /// # Errors
    ///
    /// [`Error::Base64`], [`Error::CiphertextLength`], [`Error::Padding`],
    /// [`Error::Payload`], [`Error::AppIdMismatch`] or [`Error::InvalidUtf8`].
    pub fn decrypt(&self, ciphertext: &str) -> Result<String, Error> {
        let (message, app_id) = self.decrypt_unchecked(ciphertext)?;
        if !ct_eq(app_id.as_bytes(), self.app_id.as_bytes()) {
            return Err(Error::AppIdMismatch);
        }
        Ok(message)
    }

    /// Decrypts and returns `(message, app_id)` without comparing the app id.
    ///
    /// # Errors
    ///
    /// As [`decrypt`](Self::decrypt), except [`Error::AppIdMismatch`].
    pub fn decrypt_unchecked(&self, ciphertext: &str) -> Result<(String, String), Error> {
        let mut buf = STANDARD
            .decode(ciphertext.as_bytes())
            .map_err(|_| Error::Base64)?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(Error::CiphertextLength(buf.len()));
        }
        let decryptor = Decryptor::new(&self.key.into(), &self.iv.into());
        let plain = decryptor
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| Error::CiphertextLength(0))?;
        let content = unpad(plain)?;
        let rest = content
            .get(RANDOM_LEN..)
            .ok_or(Error::Payload("shorter than the random prefix"))?;
        let (len_bytes, rest) = rest
            .split_first_chunk::<LEN_PREFIX>()
            .ok_or(Error::Payload("missing length prefix"))?;
        let msg_len = usize::try_from(u32::from_be_bytes(*len_bytes))
            .map_err(|_| Error::Payload("message length out of range"))?;
        let (message, app_id) = rest
            .split_at_checked(msg_len)
            .ok_or(Error::Payload("message length exceeds payload"))?;
        let message = std::str::from_utf8(message).map_err(|_| Error::InvalidUtf8)?;
        let app_id =
            std::str::from_utf8(app_id).map_err(|_| Error::Payload("app id is not utf-8"))?;
        Ok((message.to_owned(), app_id.to_owned()))
    }
}

/// Strips PKCS#7 padding to 32-byte blocks after validating it: the pad byte is in
/// 1..=32, not longer than the data, and every pad byte equals it. The byte
/// comparisons do not exit early.
fn unpad(data: &[u8]) -> Result<&[u8], Error> {
    let Some(&last) = data.last() else {
        return Err(Error::Padding);
    };
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > data.len() {
        return Err(Error::Padding);
    }
    let mut ok = Choice::from(1u8);
    for (i, byte) in data.iter().rev().take(PAD_BLOCK).enumerate() {
        let in_pad = Choice::from(u8::from(i < pad));
        // Outside the pad the comparison result is ignored but still computed.
        ok &= !in_pad | byte.ct_eq(&last);
    }
    if !bool::from(ok) {
        return Err(Error::Padding);
    }
    data.get(..data.len() - pad).ok_or(Error::Padding)
}

/// A random numeric nonce (up to 10 digits), as WeChat itself uses.
///
/// # Errors
///
/// [`Error::Random`] when the system random number generator fails.
pub fn random_nonce() -> Result<String, Error> {
    getrandom::u32()
        .map(|n| n.to_string())
        .map_err(|_| Error::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> MessageCipher {
        let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        MessageCipher::new(&key, "wxappid")
    }

    #[test]
    fn round_trip() {
        let c = cipher();
        for len in 0..70 {
            let msg = "x".repeat(len);
            let ct = c.encrypt(&msg).unwrap();
            assert_eq!(c.decrypt(&ct).unwrap(), msg);
        }
    }

    #[test]
    fn unpad_rules() {
        let mut block = vec![7u8; 32];
        assert_eq!(unpad(&block).unwrap().len(), 25);
        block[31] = 0;
        assert_eq!(unpad(&block), Err(Error::Padding));
        block[31] = 33;
        assert_eq!(unpad(&block), Err(Error::Padding));
        let mut block = vec![3u8; 32];
        block[30] = 4;
        assert_eq!(unpad(&block), Err(Error::Padding));
        assert_eq!(unpad(&[32u8; 32]).unwrap().len(), 0);
        assert_eq!(unpad(&[5u8; 3]), Err(Error::Padding));
        assert_eq!(unpad(&[]), Err(Error::Padding));
    }

    #[test]
    fn other_app_id_is_rejected() {
        let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let ours = MessageCipher::new(&key, "wxappid");
        let theirs = MessageCipher::new(&key, "wxappie");
        let ct = theirs.encrypt("hi").unwrap();
        assert_eq!(ours.decrypt(&ct), Err(Error::AppIdMismatch));
        assert_eq!(
            ours.decrypt_unchecked(&ct).unwrap(),
            ("hi".to_owned(), "wxappie".to_owned())
        );
    }

    #[test]
    fn nonce_is_numeric() {
        let n = random_nonce().unwrap();
        assert!(!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    }
}
