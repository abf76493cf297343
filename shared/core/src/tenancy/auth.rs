//! Authentication of inbound hooks. The ingest path must not read the store per event, so a
//! tenant's credentials are cached for a short time (`VIGIL_CREDENTIALS_CACHE_SECONDS`);
//! API keys, by contrast, are checked on every request so revocation takes effect at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::secrets;
use super::tenants::Tenant;
use crate::cache::TtlCache;
use crate::ports::ItemStore;
use crate::signature::{self, SignedHeaders};
use crate::{Clock, Error, Result, keys};

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
    BadSignature(#[from] signature::SignatureError),
}

impl HookAuthError {
    /// Short reason stored with the integrity record.
    pub fn reason(&self) -> &'static str {
        match self {
            HookAuthError::Missing => "missing_credentials",
            HookAuthError::BadToken => "bad_token",
            HookAuthError::BadSignature(signature::SignatureError::StaleTimestamp) => {
                "stale_timestamp"
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
        return if secrets::matches_digest(token, &tenant.ingest_token_digest) {
            Ok(())
        } else {
            Err(HookAuthError::BadToken)
        };
    }
    if credentials.signed.signature.is_none() && credentials.signed.id.is_none() {
        return Err(HookAuthError::Missing);
    }
    signature::verify(&tenant.webhook_secrets, credentials.signed, body, now)?;
    Ok(())
}

/// Tenants by id, cached (unknown ids too, so a flood of bad ids costs no reads).
pub struct TenantCache {
    store: Arc<dyn ItemStore>,
    cache: TtlCache<Option<Arc<Tenant>>>,
}

/// Bound on cached tenants.
const MAX_CACHED_TENANTS: usize = 10_000;

impl TenantCache {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, ttl: std::time::Duration) -> Self {
        Self {
            store,
            cache: TtlCache::new(clock, ttl, MAX_CACHED_TENANTS),
        }
    }

    /// The tenant, or None when there is no such tenant.
    pub async fn get(&self, tenant_id: &str) -> Result<Option<Arc<Tenant>>> {
        if let Some(hit) = self.cache.get(tenant_id) {
            return Ok(hit);
        }
        let tenant = if super::validate_tenant_id(tenant_id).is_ok() {
            match self.store.get(&keys::tenant(tenant_id)).await? {
                Some(item) => Some(Arc::new(item.parse::<Tenant>()?)),
                None => None,
            }
        } else {
            None
        };
        self.cache.put(tenant_id, tenant.clone());
        Ok(tenant)
    }

    /// Forgets a tenant so the next request reads it again (after its credentials change).
    pub fn invalidate(&self, tenant_id: &str) {
        self.cache.invalidate(tenant_id);
    }
}

/// Maps a failed hook authentication to the error the caller sees.
pub fn unauthenticated(err: &HookAuthError) -> Error {
    Error::Unauthenticated(err.to_string())
}
