//! API keys: created, listed and revoked per tenant; authenticated by digest with one read.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Actor};
use super::{Principal, Role, secrets};
use crate::json::to_json;
use crate::ports::{
    Cursor, DeleteCondition, Index, Item, ItemStore, PutCondition, Query, SortKey, WriteOp,
};
use crate::secret::Secret;
use crate::{Clock, Error, Result, ids, table_keys};

/// An API key's record (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub tenant_id: String,
    pub role: Role,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    #[serde(skip)]
    #[schema(ignore)]
    pub digest: String,
}

/// What the digest lookup item holds: enough to authorise without a second read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyLookup {
    tenant_id: String,
    key_id: String,
    role: Role,
}

/// Stored form of the record (keeps the digest, which the API view skips).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    id: String,
    tenant_id: String,
    role: Role,
    prefix: String,
    created_at: DateTime<Utc>,
    created_by: Actor,
    digest: String,
}

impl From<StoredKey> for ApiKey {
    fn from(k: StoredKey) -> Self {
        ApiKey {
            id: k.id,
            tenant_id: k.tenant_id,
            role: k.role,
            prefix: k.prefix,
            created_at: k.created_at,
            created_by: k.created_by,
            digest: k.digest,
        }
    }
}

impl ApiKey {
    pub fn new(
        tenant_id: &str,
        role: Role,
        secret: &str,
        created_by: Actor,
        now: DateTime<Utc>,
    ) -> Self {
        ApiKey {
            id: ids::new_id("key"),
            tenant_id: tenant_id.to_string(),
            role,
            prefix: secrets::display_prefix(secret),
            created_at: now,
            created_by,
            digest: secrets::digest(secret),
        }
    }

    /// The two writes that create this key: its record and its digest lookup.
    pub(crate) fn writes(&self) -> Result<Vec<WriteOp>> {
        let stored = StoredKey {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            role: self.role,
            prefix: self.prefix.clone(),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            digest: self.digest.clone(),
        };
        let lookup = KeyLookup {
            tenant_id: self.tenant_id.clone(),
            key_id: self.id.clone(),
            role: self.role,
        };
        Ok(vec![
            WriteOp::Put {
                item: Item::new(
                    table_keys::api_key(&self.tenant_id, &self.id),
                    to_json(&stored)?,
                ),
                condition: PutCondition::Absent,
            },
            WriteOp::Put {
                item: Item::new(
                    table_keys::api_key_by_digest(&self.digest),
                    to_json(&lookup)?,
                ),
                condition: PutCondition::Absent,
            },
        ])
    }
}

/// A key just created: its record and the secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub role: Role,
    #[schema(value_type = String)]
    pub api_key: Secret,
}

pub struct KeyService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl KeyService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Who holds `token`, with one read. Revoked or unknown keys are rejected.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        if !token.starts_with(secrets::API_KEY_PREFIX) || token.len() > 200 {
            return Err(Error::Unauthenticated("API key is not valid".into()));
        }
        let item = self
            .store
            .get(&table_keys::api_key_by_digest(&secrets::digest(token)))
            .await?
            .ok_or_else(|| Error::Unauthenticated("API key is not valid".into()))?;
        let lookup: KeyLookup = item.parse()?;
        Ok(Principal {
            tenant_id: lookup.tenant_id,
            key_id: lookup.key_id,
            role: lookup.role,
        })
    }

    /// Creates a key for an existing tenant.
    pub async fn create(&self, tenant_id: &str, role: Role, actor: &Actor) -> Result<CreatedKey> {
        let now = self.clock.now();
        let secret = secrets::new_api_key();
        let key = ApiKey::new(tenant_id, role, &secret, actor.clone(), now);
        if self
            .store
            .get(&table_keys::tenant(tenant_id))
            .await?
            .is_none()
        {
            return Err(Error::NotFound("tenant".into()));
        }
        let mut ops = key.writes()?;
        ops.push(audit::record(tenant_id, actor, "key.create", &key.id, now));
        self.store.transact(ops).await?;
        Ok(CreatedKey {
            id: key.id,
            role,
            api_key: Secret::new(secret),
        })
    }

    pub async fn list(
        &self,
        tenant_id: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<ApiKey>, Option<Cursor>)> {
        let query = Query::partition(Index::Primary, table_keys::tenant(tenant_id).pk)
            .sort(SortKey::BeginsWith(table_keys::api_key_prefix().into()))
            .limit(limit)
            .after(cursor);
        let page = self.store.query(query).await?;
        let keys = page
            .items
            .iter()
            .map(|item| item.parse::<StoredKey>().map(ApiKey::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((keys, page.next_cursor))
    }

    /// Revokes a key at once: its lookup goes, so the next request with it fails.
    pub async fn revoke(&self, tenant_id: &str, key_id: &str, actor: &Actor) -> Result<()> {
        if !ids::looks_like("key", key_id) {
            return Err(Error::NotFound("key".into()));
        }
        let record_key = table_keys::api_key(tenant_id, key_id);
        let item = self
            .store
            .get(&record_key)
            .await?
            .ok_or_else(|| Error::NotFound("key".into()))?;
        let stored: StoredKey = item.parse()?;
        let ops = vec![
            WriteOp::Delete {
                key: record_key,
                condition: DeleteCondition::VersionEquals(item.version),
            },
            WriteOp::Delete {
                key: table_keys::api_key_by_digest(&stored.digest),
                condition: DeleteCondition::None,
            },
            audit::record(tenant_id, actor, "key.revoke", key_id, self.clock.now()),
        ];
        self.store.transact(ops).await.map_err(|e| match e {
            crate::ports::StoreError::TransactionCancelled { .. } => Error::NotFound("key".into()),
            other => other.into(),
        })
    }
}
