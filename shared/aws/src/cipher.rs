//! The AWS cipher: KMS envelope encryption. A data key from `GenerateDataKey` seals (AES-256-GCM,
//! as the embedded cipher); each sealed value carries that data key as KMS encrypted it, so only
//! a holder of `kms:Decrypt` on the key can open it. One data key per process is made on the
//! first seal and kept; data keys KMS decrypted are kept too, so the ingest path, which opens a
//! tenant's secrets when it is not cached, does not call KMS per request.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use tokio::sync::OnceCell;
use vigil_core::ports::cipher::{Cipher, CipherError, DataKey};

use crate::error::describe;

/// First byte of every sealed value: the layout below.
const FORMAT_V1: u8 = 1;
/// Decrypted data keys kept: one per process that ever sealed a stored secret, so a few.
const OPENED_KEYS: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");

/// The data key this process seals with, and the same key as KMS encrypted it.
struct SealingKey {
    key: DataKey,
    encrypted: Vec<u8>,
}

pub struct KmsCipher {
    client: aws_sdk_kms::Client,
    key_id: String,
    sealing: OnceCell<SealingKey>,
    /// Data keys by their encrypted form.
    opened: Mutex<lru::LruCache<Vec<u8>, Arc<DataKey>>>,
}

impl KmsCipher {
    /// `key_id`: the KMS key's id, ARN or alias (`alias/<prefix>-secrets`). Makes no call.
    pub fn new(client: aws_sdk_kms::Client, key_id: &str) -> Self {
        Self {
            client,
            key_id: key_id.to_owned(),
            sealing: OnceCell::new(),
            opened: Mutex::new(lru::LruCache::new(OPENED_KEYS)),
        }
    }

    async fn sealing_key(&self) -> Result<&SealingKey, CipherError> {
        self.sealing
            .get_or_try_init(|| async {
                let answer = self
                    .client
                    .generate_data_key()
                    .key_id(&self.key_id)
                    .key_spec(DataKeySpec::Aes256)
                    .send()
                    .await
                    .map_err(|e| CipherError::Unavailable(describe(&e)))?;
                let (Some(plain), Some(encrypted)) = (answer.plaintext(), answer.ciphertext_blob())
                else {
                    return Err(CipherError::Unavailable(
                        "GenerateDataKey answered without a key".into(),
                    ));
                };
                Ok(SealingKey {
                    key: DataKey::from_bytes(plain.as_ref())?,
                    encrypted: encrypted.as_ref().to_vec(),
                })
            })
            .await
    }

    async fn data_key(&self, encrypted: &[u8]) -> Result<Arc<DataKey>, CipherError> {
        if let Some(key) = self.cached(encrypted) {
            return Ok(key);
        }
        let answer = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .send()
            .await
            .map_err(|e| {
                let refused = e.as_service_error().is_some_and(|e| {
                    e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()
                });
                if refused {
                    CipherError::Undecryptable
                } else {
                    CipherError::Unavailable(describe(&e))
                }
            })?;
        let plain = answer.plaintext().ok_or(CipherError::Undecryptable)?;
        let key = Arc::new(DataKey::from_bytes(plain.as_ref())?);
        if let Ok(mut opened) = self.opened.lock() {
            opened.put(encrypted.to_vec(), key.clone());
        }
        Ok(key)
    }

    fn cached(&self, encrypted: &[u8]) -> Option<Arc<DataKey>> {
        self.opened.lock().ok()?.get(encrypted).cloned()
    }
}

/// `[1][length of the encrypted data key, 2 bytes big-endian][encrypted data key][sealed bytes]`.
fn split(sealed: &[u8]) -> Result<(&[u8], &[u8]), CipherError> {
    let (&format, rest) = sealed.split_first().ok_or(CipherError::Undecryptable)?;
    let (length, rest) = rest.split_at_checked(2).ok_or(CipherError::Undecryptable)?;
    if format != FORMAT_V1 {
        return Err(CipherError::Undecryptable);
    }
    let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
    rest.split_at_checked(length)
        .ok_or(CipherError::Undecryptable)
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let sealing = self.sealing_key().await?;
        let length = u16::try_from(sealing.encrypted.len())
            .map_err(|_| CipherError::InvalidKey("encrypted data key too long".into()))?;
        let body = sealing.key.seal(plaintext)?;
        let mut sealed = Vec::with_capacity(3 + sealing.encrypted.len() + body.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&length.to_be_bytes());
        sealed.extend_from_slice(&sealing.encrypted);
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    async fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        let (encrypted, body) = split(sealed)?;
        self.data_key(encrypted).await?.open(body)
    }

    fn backend_name(&self) -> &'static str {
        "kms"
    }
}
