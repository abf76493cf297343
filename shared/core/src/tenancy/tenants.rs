//! Tenants: created with their first admin key, an ingest token and a webhook signing secret.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Actor};
use super::keys::ApiKey;
use super::{Role, secrets};
use crate::ports::{Cursor, Index, Item, ItemStore, PutCondition, Query, WriteOp};
use crate::{Clock, Error, Result, ids, keys};

/// A tenant as stored. Signing secrets are kept (they are needed to verify); the ingest token
/// only as a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub ingest_token_digest: String,
    /// Standard Webhooks secrets accepted on inbound hooks, newest first.
    pub webhook_secrets: Vec<String>,
    /// Stripe endpoint secrets (`whsec_…`), newest first.
    #[serde(default)]
    pub stripe_secrets: Vec<String>,
    /// Signs what Vigil sends out for the tenant (workflow `http_request`), never the inbound
    /// secrets: a receiver cannot replay a signed request into the tenant's own hooks. Tenants
    /// created before it existed get one on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_secret: Option<String>,
}

/// What a tenant looks like to API clients: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub stripe_configured: bool,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        TenantView {
            id: t.id.clone(),
            name: t.name.clone(),
            created_at: t.created_at,
            stripe_configured: !t.stripe_secrets.is_empty(),
        }
    }
}

/// The credentials of a new tenant, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedTenant {
    pub tenant_id: String,
    pub name: String,
    pub api_key: String,
    pub ingest_token: String,
    pub webhook_secret: String,
    /// Verifies the requests workflows send (`webhook-signature`, Standard Webhooks).
    pub outbound_secret: String,
}

pub const MAX_TENANT_NAME: usize = 100;

fn validate_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TENANT_NAME
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "invalid_name",
            format!("tenant name must be 1–{MAX_TENANT_NAME} printable characters"),
        ));
    }
    Ok(name)
}

fn validate_stripe_secret(secret: &str) -> Result<()> {
    let printable = !secret.contains(|c: char| c.is_whitespace() || c.is_control());
    if secret.starts_with("whsec_") && secret.chars().count() > 10 && printable {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_stripe_secret",
            "a Stripe endpoint secret starts with whsec_",
        ))
    }
}

pub struct TenantService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl TenantService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates a tenant, its first admin key and its ingest credentials, all or nothing.
    pub async fn create(
        &self,
        name: &str,
        stripe_secret: Option<&str>,
        actor: &Actor,
    ) -> Result<CreatedTenant> {
        let name = validate_name(name)?;
        if let Some(secret) = stripe_secret {
            validate_stripe_secret(secret)?;
        }
        let now = self.clock.now();
        let tenant_id = ids::new_id("tnt");
        let api_key = secrets::new_api_key();
        let ingest_token = secrets::new_ingest_token();
        let webhook_secret = secrets::new_webhook_secret();
        let outbound_secret = secrets::new_webhook_secret();
        let tenant = Tenant {
            id: tenant_id.clone(),
            name: name.to_string(),
            created_at: now,
            ingest_token_digest: secrets::digest(&ingest_token),
            webhook_secrets: vec![webhook_secret.clone()],
            stripe_secrets: stripe_secret
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            outbound_secret: Some(outbound_secret.clone()),
        };
        let key = ApiKey::new(&tenant_id, Role::Admin, &api_key, actor.clone(), now);
        let mut ops = vec![WriteOp::Put {
            item: tenant_item(&tenant)?,
            condition: PutCondition::Absent,
        }];
        ops.extend(key.writes()?);
        ops.push(audit::record(
            &tenant_id,
            actor,
            "tenant.create",
            &tenant_id,
            now,
        ));
        self.store.transact(ops).await?;
        Ok(CreatedTenant {
            tenant_id,
            name: name.to_string(),
            api_key,
            ingest_token,
            webhook_secret,
            outbound_secret,
        })
    }

    /// The secret outbound requests are signed with; one is generated and kept (a conditional
    /// write, so two first uses agree on one) for a tenant that has none yet.
    pub async fn outbound_secret(&self, tenant_id: &str) -> Result<String> {
        for _ in 0..3 {
            let (mut tenant, version) = self.read(tenant_id).await?;
            if let Some(secret) = tenant.outbound_secret {
                return Ok(secret);
            }
            let secret = secrets::new_webhook_secret();
            tenant.outbound_secret = Some(secret.clone());
            match self
                .store
                .put(tenant_item(&tenant)?, PutCondition::VersionEquals(version))
                .await
            {
                Ok(_) => return Ok(secret),
                // Changed meanwhile (perhaps another first use): read it again.
                Err(
                    crate::ports::StoreError::VersionConflict
                    | crate::ports::StoreError::AlreadyExists,
                ) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Conflict(
            "the tenant kept changing; try again".into(),
        ))
    }

    /// Replaces the tenant's Stripe endpoint secrets (1–2: two while rotating), audited.
    pub async fn set_stripe_secrets(
        &self,
        tenant_id: &str,
        secrets: Vec<String>,
        actor: &Actor,
    ) -> Result<TenantView> {
        if secrets.is_empty() || secrets.len() > 2 {
            return Err(Error::invalid(
                "invalid_stripe_secret",
                "give one endpoint secret, or two while rotating",
            ));
        }
        for secret in &secrets {
            validate_stripe_secret(secret)?;
        }
        let (mut tenant, version) = self.read(tenant_id).await?;
        tenant.stripe_secrets = secrets;
        let now = self.clock.now();
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: tenant_item(&tenant)?,
                    condition: PutCondition::VersionEquals(version),
                },
                audit::record(tenant_id, actor, "source.stripe.update", "stripe", now),
            ])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::TransactionCancelled { .. } => {
                    Error::Conflict("the tenant changed meanwhile; try again".into())
                }
                other => other.into(),
            })?;
        Ok(TenantView::from(&tenant))
    }

    pub async fn get(&self, tenant_id: &str) -> Result<Tenant> {
        Ok(self.read(tenant_id).await?.0)
    }

    /// The tenant with the version its next write must find.
    async fn read(&self, tenant_id: &str) -> Result<(Tenant, u64)> {
        super::validate_tenant_id(tenant_id)?;
        let item = self
            .store
            .get(&keys::tenant(tenant_id))
            .await?
            .ok_or_else(|| Error::NotFound("tenant".into()))?;
        Ok((item.parse()?, item.version))
    }

    /// Every tenant id, for scheduled flows that visit each tenant.
    pub async fn all_ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let (tenants, next) = self.list(200, cursor).await?;
            ids.extend(tenants.into_iter().map(|t| t.id));
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }

    pub async fn list(
        &self,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Tenant>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Gsi1, keys::TENANT_LIST_PARTITION)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let tenants = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tenants, page.next_cursor))
    }
}

/// The stored item of a tenant, listed by its id.
fn tenant_item(tenant: &Tenant) -> Result<Item> {
    Ok(Item::new(keys::tenant(&tenant.id), to_json(tenant)?)
        .with_gsi1(keys::tenant_list(&tenant.id)))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}
