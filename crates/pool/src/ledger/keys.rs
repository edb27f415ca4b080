//! Ledger keys as text: a signing key is its 32-byte Ed25519 seed, a public key its 32 bytes,
//! each written as 64 hex digits on one line (docs/pool.md "Keys"). The caller reads the files
//! and the seed's randomness (hearth reads `/dev/urandom`); this module only converts.

use super::encode::{hex, unhex};
use super::{SigningKey, VerifyingKey};

/// Why a key's text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing but whitespace.
    #[error("empty; expected 64 hex digits on one line")]
    Empty,
    /// Not 64 hex digits on one line (surrounding whitespace aside).
    #[error("expected 64 hex digits on one line: {reason}")]
    NotHex {
        /// What is wrong (length, the first bad character).
        reason: String,
    },
    /// 32 bytes that are not an Ed25519 public key (not a curve point, or of small order).
    #[error("not a usable Ed25519 public key ({reason})")]
    NotAKey {
        /// Why.
        reason: &'static str,
    },
}

/// The signing key with this seed (Ed25519's 32-byte secret key).
pub fn signing_key_from_seed(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

/// 32 bytes from `text`: 64 hex digits, either case, surrounded by any whitespace (a trailing
/// newline, say).
fn key_bytes(text: &str) -> Result<[u8; 32], KeyError> {
    let digits = text.trim();
    if digits.is_empty() {
        return Err(KeyError::Empty);
    }
    unhex::<32>(digits).map_err(|reason| KeyError::NotHex { reason })
}

/// Parses a signing-key file's text: the seed, 64 hex digits.
pub fn parse_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    key_bytes(text).map(signing_key_from_seed)
}

/// Parses a public-key file's text: the key, 64 hex digits; refuses bytes that are not a
/// curve point and weak (small-order) keys.
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(&key_bytes(text)?)
        .map_err(|_| KeyError::NotAKey { reason: "not a curve point" })?;
    if key.is_weak() {
        return Err(KeyError::NotAKey { reason: "a weak, small-order point" });
    }
    Ok(key)
}

/// A signing-key file's text: the seed as 64 lowercase hex digits and a newline. Secret.
pub fn signing_key_text(key: &SigningKey) -> String {
    format!("{}\n", hex(&key.to_bytes()))
}

/// A public key as 64 lowercase hex digits (a public-key file's line, an entry's `key`, a
/// join's `detail.public_key`).
pub fn verifying_key_hex(key: &VerifyingKey) -> String {
    hex(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text() {
        let key = signing_key_from_seed([42; 32]);
        let text = signing_key_text(&key);
        assert_eq!(text, format!("{}\n", "2a".repeat(32)));
        assert_eq!(parse_signing_key(&text).unwrap().to_bytes(), key.to_bytes());
        let public = verifying_key_hex(&key.verifying_key());
        assert_eq!(
            parse_verifying_key(&format!("  {}\r\n", public.to_uppercase())),
            Ok(key.verifying_key())
        );
    }

    #[test]
    fn bad_key_text_says_what_is_wrong() {
        assert_eq!(parse_verifying_key(" \n"), Err(KeyError::Empty));
        let short = parse_verifying_key("abcd\n").unwrap_err();
        assert_eq!(
            short.to_string(),
            "expected 64 hex digits on one line: expected 64 hex digits, found 4 characters"
        );
        let two_lines = format!("{}\n{}\n", "ab".repeat(16), "ab".repeat(16));
        assert!(matches!(parse_verifying_key(&two_lines), Err(KeyError::NotHex { .. })));
        // The identity point (y = 1) is a curve point of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            parse_verifying_key(&hex(&identity)),
            Err(KeyError::NotAKey { reason: "a weak, small-order point" })
        );
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            parse_verifying_key(&hex(&off_curve)),
            Err(KeyError::NotAKey { reason: "not a curve point" })
        );
    }
}
