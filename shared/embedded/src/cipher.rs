//! The embedded cipher: AES-256-GCM under one key per data directory, from `VIGIL_MASTER_KEY`
//! when given, else from a key file made (readable by its owner only) on first start.

use std::io::Write as _;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine as _;
use vigil_core::ports::cipher::{Cipher, CipherError, DataKey};

use crate::EmbeddedError;

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "master.key";

pub struct AesGcmCipher {
    key: DataKey,
}

impl AesGcmCipher {
    pub fn new(key: DataKey) -> Self {
        Self { key }
    }

    /// The key of `data_dir`: `master_key` (base64) when given, else the key file, created with
    /// a random key on first start.
    pub fn for_data_dir(data_dir: &Path, master_key: Option<&str>) -> Result<Self, EmbeddedError> {
        let text = match master_key {
            Some(text) => text.to_owned(),
            None => read_or_create_key_file(&data_dir.join(KEY_FILE))?,
        };
        let bytes = DataKey::decode_base64(&text).map_err(|e| EmbeddedError::Key(e.to_string()))?;
        let key = DataKey::from_bytes(&bytes).map_err(|e| EmbeddedError::Key(e.to_string()))?;
        Ok(Self::new(key))
    }
}

fn read_or_create_key_file(path: &Path) -> Result<String, EmbeddedError> {
    let io_error = |e: std::io::Error| EmbeddedError::Key(format!("{}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    // `create_new`: of two processes starting on one directory, one writes the key and the
    // other reads it.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let text = base64::engine::general_purpose::STANDARD.encode(DataKey::random_bytes());
            file.write_all(format!("{text}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io_error)?;
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map_err(io_error)
        }
        Err(e) => Err(io_error(e)),
    }
}

#[async_trait]
impl Cipher for AesGcmCipher {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.key.seal(plaintext)
    }

    async fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.key.open(sealed)
    }

    fn backend_name(&self) -> &'static str {
        "aes-256-gcm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_key_file_is_made_once_private_and_a_given_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let first = AesGcmCipher::for_data_dir(dir.path(), None).unwrap();
        let sealed = first.seal(b"whsec_x").await.unwrap();
        let again = AesGcmCipher::for_data_dir(dir.path(), None).unwrap();
        assert_eq!(again.open(&sealed).await.unwrap(), b"whsec_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let other = AesGcmCipher::for_data_dir(dir.path(), Some(&given)).unwrap();
        assert!(other.open(&sealed).await.is_err());
        assert!(AesGcmCipher::for_data_dir(dir.path(), Some("short")).is_err());
    }
}
