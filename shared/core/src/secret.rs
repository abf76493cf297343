//! Secrets in memory and at rest. A [`Secret`] never prints its value (`Debug` shows
//! `Secret(***)`), so a logged record or a panic message cannot leak it; serde still sees the
//! plain string, so API answers that show a credential once keep their shape.
//!
//! At rest a secret is a [`StoredSecret`]: `enc:v1:` and the base64 of what the deployment's
//! [`Cipher`] sealed. Values written before encryption existed have no prefix; they still read,
//! and are sealed the next time their record is written.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::ports::cipher::{Cipher, CipherError};

/// A credential or a URL that works as one (a Slack incoming webhook).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (a MAC key, a request URL, a shown-once answer).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Signing code takes any string-like key; a `Secret` lends its value there.
impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Reads as the string it holds (a shown-once credential passed on as a bearer token); only
/// `Debug` and `Display` are kept from it, so formatting never prints the value.
impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// One way of turning each secret of a record into another form: [`Sealing`] for storage,
/// [`Opening`] when read. (A trait object rather than an async closure: the futures of ingest
/// and API handlers must be `Send`, which closures over borrowed ciphers cannot promise.)
#[async_trait::async_trait]
pub trait Convert<S: Send + 'static, T>: Sync {
    async fn convert(&self, value: S) -> Result<T, CipherError>;
}

/// Seals each secret with the deployment's cipher.
pub struct Sealing<'a>(pub &'a dyn Cipher);

/// Opens each stored secret with the deployment's cipher.
pub struct Opening<'a>(pub &'a dyn Cipher);

#[async_trait::async_trait]
impl Convert<Secret, StoredSecret> for Sealing<'_> {
    async fn convert(&self, secret: Secret) -> Result<StoredSecret, CipherError> {
        seal(self.0, &secret).await
    }
}

#[async_trait::async_trait]
impl Convert<StoredSecret, Secret> for Opening<'_> {
    async fn convert(&self, stored: StoredSecret) -> Result<Secret, CipherError> {
        open(self.0, &stored).await
    }
}

/// Converts every value of a list, one after the other (a record's few secrets).
pub async fn map_all<S: Send + 'static, T>(
    values: Vec<S>,
    f: &dyn Convert<S, T>,
) -> Result<Vec<T>, CipherError> {
    let mut mapped = Vec::with_capacity(values.len());
    for value in values {
        mapped.push(f.convert(value).await?);
    }
    Ok(mapped)
}

/// `https://hooks.example.com/…`: enough to recognise a URL that may carry a credential (in its
/// path, query or user part), nothing to reuse. The one way such URLs are shown to callers who
/// may not use them.
pub fn url_hint(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None => "…".into(),
    }
}

/// Marks a sealed value; anything else is a value stored before sealing existed.
const SEALED_PREFIX: &str = "enc:v1:";

/// A secret as a record stores it: sealed, or (written before sealing existed) plain.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredSecret(String);

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredSecret(***)")
    }
}

impl StoredSecret {
    pub fn is_sealed(&self) -> bool {
        self.0.starts_with(SEALED_PREFIX)
    }
}

/// Seals `secret` for storage.
pub async fn seal(cipher: &dyn Cipher, secret: &Secret) -> Result<StoredSecret, CipherError> {
    let sealed = cipher.seal(secret.expose().as_bytes()).await?;
    Ok(StoredSecret(format!(
        "{SEALED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
    )))
}

/// The secret a stored value holds; a plain (older) value is taken as it is.
pub async fn open(cipher: &dyn Cipher, stored: &StoredSecret) -> Result<Secret, CipherError> {
    let Some(encoded) = stored.0.strip_prefix(SEALED_PREFIX) else {
        return Ok(Secret(stored.0.clone()));
    };
    let sealed = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(encoded)
        .map_err(|_| CipherError::Undecryptable)?;
    let plain = cipher.open(&sealed).await?;
    String::from_utf8(plain)
        .map(Secret)
        .map_err(|_| CipherError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::cipher::tests::KeyCipher;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("whsec_very_secret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(
            serde_json::to_string(&secret).unwrap_or_default(),
            "\"whsec_very_secret\""
        );
    }

    #[tokio::test]
    async fn sealed_values_round_trip_and_plain_ones_still_read() {
        let cipher = KeyCipher::random();
        let secret = Secret::new("https://hooks.slack.com/services/T/B/X");
        let stored = seal(&cipher, &secret).await.unwrap();
        assert!(stored.is_sealed());
        assert!(!stored.0.contains("hooks.slack.com"));
        assert_eq!(open(&cipher, &stored).await.unwrap(), secret);
        let legacy = StoredSecret("whsec_plain".into());
        assert!(!legacy.is_sealed());
        assert_eq!(
            open(&cipher, &legacy).await.unwrap(),
            Secret::new("whsec_plain")
        );
        let tampered = StoredSecret(format!("{}A", stored.0));
        assert!(open(&cipher, &tampered).await.is_err());
    }
}
