//! Credentials Vigil hands out: API keys, ingest tokens and webhook signing secrets.
//! API keys and ingest tokens are shown once and stored only as SHA-256 digests (they are
//! 192-bit random strings, so a fast hash is enough); signing secrets must be kept to verify.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

pub const API_KEY_PREFIX: &str = "vgl_ak_";
pub const INGEST_TOKEN_PREFIX: &str = "vgl_it_";
/// The console's session cookie value.
pub const SESSION_TOKEN_PREFIX: &str = "vgl_ss_";
pub use crate::standard_webhooks::WEBHOOK_SECRET_PREFIX;

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn new_api_key() -> String {
    random_token(API_KEY_PREFIX)
}

pub fn new_ingest_token() -> String {
    random_token(INGEST_TOKEN_PREFIX)
}

pub fn new_session_token() -> String {
    random_token(SESSION_TOKEN_PREFIX)
}

/// The token a console session's forms carry against cross-site requests.
pub fn new_csrf_token() -> String {
    random_token("")
}

/// A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Hex SHA-256 of a token: what is stored in place of the token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored_digest`, in constant time.
pub fn matches_digest(token: &str, stored_digest: &str) -> bool {
    digest(token)
        .as_bytes()
        .ct_eq(stored_digest.as_bytes())
        .into()
}

/// First characters of a credential, safe to show in lists (`vgl_ak_Ab3d…`).
pub fn display_prefix(token: &str) -> String {
    let shown: String = token.chars().take(API_KEY_PREFIX.len() + 4).collect();
    format!("{shown}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_match_only_their_digest() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert!(new_ingest_token().starts_with(INGEST_TOKEN_PREFIX));
        assert!(matches_digest(&a, &digest(&a)));
        assert!(!matches_digest(&b, &digest(&a)));
    }

    #[test]
    fn webhook_secrets_decode_to_32_bytes() {
        let secret = new_webhook_secret();
        let encoded = secret.strip_prefix(WEBHOOK_SECRET_PREFIX).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(raw.len(), 32);
    }
}
