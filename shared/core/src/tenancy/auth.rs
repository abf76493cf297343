//! Authentication of inbound hooks. The ingest path must not read the store per event, so a
//! tenant's credentials are cached for a short time (`VIGIL_CREDENTIALS_CACHE_SECONDS`);
//! API keys, by contrast, are checked on every request so revocation takes effect at once.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};

use super::secrets;
use super::tenants::{self, Tenant};
use crate::cache::TtlCache;
use crate::ports::{Cipher, ItemStore};
use crate::secret::Secret;
use crate::standard_webhooks::{self, SignedHeaders};
use crate::{Clock, Error, Result};

/// How a hook request tried to authenticate.
#[derive(Debug, Clone, Copy)]
pub struct HookCredentials<'a> {
    /// The `Authorization: Bearer …` value, if any.
    pub bearer: Option<&'a str>,
    pub signed: SignedHeaders<'a>,
}

/// Why a hook request was not authenticated (recorded for the webhook-integrity rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookAuthError {
    #[error(
        "no credentials: send Authorization: Bearer <ingest token> or Standard Webhooks headers"
    )]
    Missing,
    #[error("ingest token is not valid")]
    BadToken,
    #[error("signature: {0}")]
    BadSignature(#[from] standard_webhooks::SignatureError),
}

impl HookAuthError {
    /// Short reason stored with the integrity record.
    pub fn reason(&self) -> &'static str {
        match self {
            HookAuthError::Missing => "missing_credentials",
            HookAuthError::BadToken => "bad_token",
            HookAuthError::BadSignature(standard_webhooks::SignatureError::StaleTimestamp) => {
                "stale_timestamp"
            }
            HookAuthError::BadSignature(standard_webhooks::SignatureError::HeaderTooLarge) => {
                "oversized_signature"
            }
            HookAuthError::BadSignature(_) => "bad_signature",
        }
    }
}

/// Checks a hook request against a tenant's ingest token or webhook secrets.
pub fn verify_hook(
    tenant: &Tenant,
    credentials: HookCredentials<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> std::result::Result<(), HookAuthError> {
    if let Some(token) = credentials.bearer {
        return if tenant.accepts_ingest_token(token, now) {
            Ok(())
        } else {
            Err(HookAuthError::BadToken)
        };
    }
    if credentials.signed.signature.is_none() && credentials.signed.id.is_none() {
        return Err(HookAuthError::Missing);
    }
    standard_webhooks::verify(
        &tenant.webhook_secrets_at(now),
        credentials.signed,
        body,
        now,
    )?;
    Ok(())
}

/// Credentials no request holds. A hook for an unknown tenant is checked against them, so it
/// gets the answer a wrong credential gets, after about the same work.
pub static NOBODY: LazyLock<Tenant> = LazyLock::new(|| Tenant {
    id: String::new(),
    name: String::new(),
    created_at: DateTime::UNIX_EPOCH,
    ingest_token_digest: secrets::digest(&secrets::new_ingest_token()),
    retiring_ingest_tokens: Vec::new(),
    webhook_secrets: vec![Secret::new(secrets::new_webhook_secret())],
    retiring_webhook_secrets: Vec::new(),
    stripe_secrets: vec![Secret::new(secrets::new_webhook_secret())],
    outbound_secret: None,
});

/// Why a hook for an unknown tenant is refused: what the same credentials would get from a
/// tenant that does not hold them.
pub fn refuse_unknown(
    credentials: HookCredentials<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> HookAuthError {
    match verify_hook(&NOBODY, credentials, body, now) {
        Err(failure) => failure,
        Ok(()) => HookAuthError::BadToken,
    }
}

/// Tenants by id, cached with their secrets open (so a hook costs no read and no decryption).
/// A replaced credential's end is checked on every request against the clock, so the cache
/// never keeps it working past its overlap. Unknown ids are cached too (a flood of them costs no reads), in a
/// cache of their own so they never push out a real tenant; malformed ids are refused without a
/// read and never cached.
pub struct TenantCache {
    store: Arc<dyn ItemStore>,
    cipher: Arc<dyn Cipher>,
    known: TtlCache<Arc<Tenant>>,
    unknown: TtlCache<()>,
}

/// Bound on cached tenants, and on cached unknown ids.
const MAX_CACHED_TENANTS: usize = 10_000;

impl TenantCache {
    pub fn new(
        store: Arc<dyn ItemStore>,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
    ) -> Self {
        Self::with_capacity(store, cipher, clock, ttl, MAX_CACHED_TENANTS)
    }

    fn with_capacity(
        store: Arc<dyn ItemStore>,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
        capacity: usize,
    ) -> Self {
        Self {
            store,
            cipher,
            known: TtlCache::new(clock.clone(), ttl, capacity),
            unknown: TtlCache::new(clock, ttl, capacity),
        }
    }

    /// The tenant, or None when there is no such tenant.
    pub async fn get(&self, tenant_id: &str) -> Result<Option<Arc<Tenant>>> {
        if super::validate_tenant_id(tenant_id).is_err() {
            return Ok(None);
        }
        if let Some(hit) = self.known.get(tenant_id) {
            return Ok(Some(hit));
        }
        if self.unknown.get(tenant_id).is_some() {
            return Ok(None);
        }
        match tenants::load(self.store.as_ref(), self.cipher.as_ref(), tenant_id).await? {
            Some((tenant, _)) => {
                let tenant = Arc::new(tenant);
                self.known.put(tenant_id, tenant.clone());
                Ok(Some(tenant))
            }
            None => {
                self.unknown.put(tenant_id, ());
                Ok(None)
            }
        }
    }

    /// Forgets a tenant so the next request reads it again (after its credentials change).
    pub fn invalidate(&self, tenant_id: &str) {
        self.known.invalidate(tenant_id);
        self.unknown.invalidate(tenant_id);
    }
}

/// Maps a failed hook authentication to the error the caller sees.
pub fn unauthenticated(err: &HookAuthError) -> Error {
    Error::Unauthenticated(err.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::ManualClock;
    use crate::ports::{
        DeleteCondition, Item, Key, Page, PutCondition, Query, RequestCounts, StoreError, WriteOp,
    };

    /// A store that holds no tenant and counts its reads.
    #[derive(Default)]
    struct EmptyStore {
        reads: AtomicU64,
    }

    #[async_trait]
    impl ItemStore for EmptyStore {
        async fn put(&self, _: Item, _: PutCondition) -> std::result::Result<u64, StoreError> {
            Err(StoreError::Invalid("read-only".into()))
        }
        async fn get(&self, _: &Key) -> std::result::Result<Option<Item>, StoreError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
        async fn query(&self, _: Query) -> std::result::Result<Page, StoreError> {
            Err(StoreError::Invalid("read-only".into()))
        }
        async fn delete(&self, _: &Key, _: DeleteCondition) -> std::result::Result<(), StoreError> {
            Err(StoreError::Invalid("read-only".into()))
        }
        async fn add(
            &self,
            _: &Key,
            _: &BTreeMap<String, i64>,
        ) -> std::result::Result<BTreeMap<String, i64>, StoreError> {
            Err(StoreError::Invalid("read-only".into()))
        }
        async fn transact(&self, _: Vec<WriteOp>) -> std::result::Result<(), StoreError> {
            Err(StoreError::Invalid("read-only".into()))
        }
        async fn ping(&self) -> std::result::Result<(), StoreError> {
            Ok(())
        }
        fn request_counts(&self) -> RequestCounts {
            RequestCounts {
                reads: self.reads.load(Ordering::Relaxed),
                ..RequestCounts::default()
            }
        }
        fn backend_name(&self) -> &'static str {
            "empty"
        }
    }

    #[tokio::test]
    async fn malformed_ids_are_neither_read_nor_cached_and_unknown_ones_are_read_once() {
        // GIVEN a cache of two over a store without tenants
        let store = Arc::new(EmptyStore::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let cipher = Arc::new(crate::ports::cipher::tests::KeyCipher::random());
        let cache = TenantCache::with_capacity(
            store.clone(),
            cipher,
            clock,
            std::time::Duration::from_secs(30),
            2,
        );
        // WHEN a thousand malformed ids arrive
        for i in 0..1_000 {
            assert!(cache.get(&format!("tnt_bad{i}")).await.unwrap().is_none());
        }
        // THEN none was read or cached
        assert_eq!(store.reads.load(Ordering::Relaxed), 0);
        assert_eq!((cache.known.len(), cache.unknown.len()), (0, 0));
        // AND a well-formed unknown id is read once, then answered from the cache
        let unknown = crate::ids::new_id("tnt");
        for _ in 0..3 {
            assert!(cache.get(&unknown).await.unwrap().is_none());
        }
        assert_eq!(store.reads.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_unknown_tenant_is_refused_like_a_wrong_credential() {
        let now = Utc::now();
        let body = b"{}";
        let ts = now.timestamp().to_string();
        let bearer = HookCredentials {
            bearer: Some("vgl_it_wrong"),
            signed: SignedHeaders {
                id: None,
                timestamp: None,
                signature: None,
            },
        };
        let signed = HookCredentials {
            bearer: None,
            signed: SignedHeaders {
                id: Some("msg_1"),
                timestamp: Some(&ts),
                signature: Some("v1,bm90IGl0"),
            },
        };
        let stale = HookCredentials {
            bearer: None,
            signed: SignedHeaders {
                timestamp: Some("1"),
                ..signed.signed
            },
        };
        let tenant = Tenant {
            id: crate::ids::new_id("tnt"),
            ingest_token_digest: secrets::digest(&secrets::new_ingest_token()),
            webhook_secrets: vec![Secret::new(secrets::new_webhook_secret())],
            ..NOBODY.clone()
        };
        for credentials in [bearer, signed, stale] {
            assert_eq!(
                refuse_unknown(credentials, body, now),
                verify_hook(&tenant, credentials, body, now).unwrap_err()
            );
        }
    }
}
