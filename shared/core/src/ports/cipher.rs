//! Cipher: seals secrets before they are stored and opens them when read. Embedded adapter:
//! AES-256-GCM under a key of the data directory; AWS adapter: KMS envelope encryption (a data
//! key from KMS seals, the sealed value carries that key as KMS encrypted it).

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rand::RngCore as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The key service did not answer; the caller may retry.
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    /// Tampered with, truncated, or sealed under another key: retrying cannot help.
    #[error("a sealed value does not open with this deployment's key")]
    Undecryptable,
    /// A key of the wrong size or shape.
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

/// Seals and opens bytes. Sealing the same bytes twice gives two different values; each opens
/// only with the deployment's key, and any change to a sealed value makes it fail to open.
#[async_trait]
pub trait Cipher: Send + Sync {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError>;
    async fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError>;
    fn backend_name(&self) -> &'static str;
}

/// Binds sealed values to their use: bytes sealed by another program under the same key do not
/// open as a Vigil secret.
const AAD: &[u8] = b"vigil secret v1";

/// A 256-bit AES-GCM key. What it seals is `nonce (12 bytes) || ciphertext || tag (16 bytes)`.
pub struct DataKey(LessSafeKey);

impl DataKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CipherError> {
        if bytes.len() != Self::LEN {
            return Err(CipherError::InvalidKey(format!(
                "a key is {} bytes, not {}",
                Self::LEN,
                bytes.len()
            )));
        }
        UnboundKey::new(&AES_256_GCM, bytes)
            .map(|key| DataKey(LessSafeKey::new(key)))
            .map_err(|_| CipherError::InvalidKey("AES-256-GCM refused the key".into()))
    }

    /// The bytes of a key given as base64 (`VIGIL_MASTER_KEY`, the embedded key file).
    pub fn decode_base64(text: &str) -> Result<[u8; Self::LEN], CipherError> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| <[u8; Self::LEN]>::try_from(bytes).ok())
            .ok_or_else(|| {
                CipherError::InvalidKey(format!(
                    "must be the base64 of {} random bytes (e.g. `openssl rand -base64 32`)",
                    Self::LEN
                ))
            })
    }

    /// Fresh random key bytes.
    pub fn random_bytes() -> [u8; Self::LEN] {
        let mut bytes = [0u8; Self::LEN];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut in_out,
            )
            .map_err(|_| CipherError::InvalidKey("AES-256-GCM could not seal".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(CipherError::Undecryptable)?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Undecryptable)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(AAD), &mut in_out)
            .map_err(|_| CipherError::Undecryptable)?;
        Ok(plain.to_vec())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(***)")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A cipher over a random key, for unit tests of code that seals.
    pub(crate) struct KeyCipher(DataKey);

    impl KeyCipher {
        pub(crate) fn random() -> Self {
            KeyCipher(DataKey::from_bytes(&DataKey::random_bytes()).unwrap())
        }
    }

    #[async_trait]
    impl Cipher for KeyCipher {
        async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
            self.0.seal(plaintext)
        }
        async fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
            self.0.open(sealed)
        }
        fn backend_name(&self) -> &'static str {
            "test"
        }
    }

    #[test]
    fn sealed_bytes_open_only_unchanged_and_under_their_key() {
        let key = DataKey::from_bytes(&DataKey::random_bytes()).unwrap();
        let other = DataKey::from_bytes(&DataKey::random_bytes()).unwrap();
        let sealed = key.seal(b"whsec_abc").unwrap();
        assert_ne!(
            key.seal(b"whsec_abc").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed).unwrap(), b"whsec_abc");
        assert_eq!(other.open(&sealed), Err(CipherError::Undecryptable));
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert_eq!(key.open(&flipped), Err(CipherError::Undecryptable));
        assert_eq!(key.open(&sealed[..5]), Err(CipherError::Undecryptable));
        assert!(DataKey::from_bytes(&[0u8; 16]).is_err());
    }
}
