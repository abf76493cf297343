//! Tenants: created with their first admin key, an ingest token and a webhook signing secret.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Actor};
use super::keys::ApiKey;
use super::{Role, secrets};
use crate::json::to_json;
use crate::ports::CipherError;
use crate::ports::{Cipher, Cursor, Index, Item, ItemStore, PutCondition, Query, WriteOp};
use crate::secret::{Convert, Opening, Sealing, Secret, StoredSecret, map_all};
use crate::{Clock, Error, Result, ids, table_keys};

/// A credential replaced by a rotation: still accepted until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retiring<T> {
    pub value: T,
    pub until: DateTime<Utc>,
}

/// A tenant with its credentials: `Tenant` (secrets open, in memory) or `Tenant<StoredSecret>`
/// (as stored, secrets sealed). Signing secrets are kept (they are needed to verify); the
/// ingest token only as a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Tenant<S = Secret> {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub ingest_token_digest: String,
    /// Digests of ingest tokens replaced by a rotation, each accepted until its time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring_ingest_tokens: Vec<Retiring<String>>,
    /// Standard Webhooks secrets accepted on inbound hooks, newest first.
    pub webhook_secrets: Vec<S>,
    /// Webhook secrets replaced by a rotation, each accepted until its time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring_webhook_secrets: Vec<Retiring<S>>,
    /// Stripe endpoint secrets (`whsec_…`), newest first.
    #[serde(default)]
    pub stripe_secrets: Vec<S>,
    /// Signs what Vigil sends out for the tenant (workflow `http_request`), never the inbound
    /// secrets: a receiver cannot replay a signed request into the tenant's own hooks. Tenants
    /// created before it existed get one on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_secret: Option<S>,
}

impl<S: Send + 'static> Tenant<S> {
    /// The same tenant with each secret converted by `f` (sealed or opened).
    pub async fn try_map<T>(self, f: &dyn Convert<S, T>) -> Result<Tenant<T>, CipherError> {
        let mut retiring_webhook_secrets = Vec::with_capacity(self.retiring_webhook_secrets.len());
        for retiring in self.retiring_webhook_secrets {
            retiring_webhook_secrets.push(Retiring {
                value: f.convert(retiring.value).await?,
                until: retiring.until,
            });
        }
        Ok(Tenant {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
            ingest_token_digest: self.ingest_token_digest,
            retiring_ingest_tokens: self.retiring_ingest_tokens,
            webhook_secrets: map_all(self.webhook_secrets, f).await?,
            retiring_webhook_secrets,
            stripe_secrets: map_all(self.stripe_secrets, f).await?,
            outbound_secret: match self.outbound_secret {
                Some(secret) => Some(f.convert(secret).await?),
                None => None,
            },
        })
    }
}

impl Tenant {
    /// Whether `token` is the ingest token, or one a rotation replaced less than its overlap ago.
    pub fn accepts_ingest_token(&self, token: &str, now: DateTime<Utc>) -> bool {
        secrets::matches_digest(token, &self.ingest_token_digest)
            || self
                .retiring_ingest_tokens
                .iter()
                .any(|old| old.until > now && secrets::matches_digest(token, &old.value))
    }

    /// The webhook secrets a signature may be made with at `now`: the current ones and those a
    /// rotation replaced less than its overlap ago.
    pub fn webhook_secrets_at(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        self.webhook_secrets
            .iter()
            .chain(
                self.retiring_webhook_secrets
                    .iter()
                    .filter(|old| old.until > now)
                    .map(|old| &old.value),
            )
            .collect()
    }
}

/// What a tenant looks like to API clients: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub stripe_configured: bool,
}

impl<S> From<&Tenant<S>> for TenantView {
    fn from(t: &Tenant<S>) -> Self {
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
    pub api_key: Secret,
    pub ingest_token: Secret,
    pub webhook_secret: Secret,
    /// Verifies the requests workflows send (`webhook-signature`, Standard Webhooks).
    pub outbound_secret: Secret,
}

/// A credential a rotation can replace.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// The `Authorization: Bearer` token of `/hooks/{tenant}/…`.
    IngestToken,
    /// The Standard Webhooks secret inbound hooks are signed with.
    WebhookSecret,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::IngestToken => "ingest_token",
            Credential::WebhookSecret => "webhook_secret",
        }
    }
}

impl std::str::FromStr for Credential {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "ingest_token" => Ok(Credential::IngestToken),
            "webhook_secret" => Ok(Credential::WebhookSecret),
            other => Err(Error::invalid(
                "invalid_rotation",
                format!("a credential is ingest_token or webhook_secret, not {other:?}"),
            )),
        }
    }
}

/// How long a replaced credential keeps working unless the request says otherwise.
pub const DEFAULT_OVERLAP_MINUTES: u32 = 60;
/// The longest overlap: a week.
pub const MAX_OVERLAP_MINUTES: u32 = 7 * 24 * 60;
/// Replaced credentials of one kind still within their overlap, at most (each webhook secret
/// costs a MAC per signed hook).
const MAX_RETIRING: usize = 3;

/// `POST /api/v1/tenant/credentials/rotate`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// Which credentials to replace (one named twice is rotated once).
    #[schema(min_items = 1, max_items = 2)]
    pub credentials: Vec<Credential>,
    /// How long the replaced credentials keep working (0: they stop at once).
    #[serde(default = "default_overlap")]
    #[schema(minimum = 0, maximum = 10080, default = 60)]
    pub overlap_minutes: u32,
}

fn default_overlap() -> u32 {
    DEFAULT_OVERLAP_MINUTES
}

impl RotationRequest {
    /// The credentials named, each once (naming one twice rotates it once).
    fn validate(&self) -> Result<Vec<Credential>> {
        if self.credentials.is_empty() || self.credentials.len() > 2 {
            return Err(Error::invalid(
                "invalid_rotation",
                "credentials must name ingest_token and/or webhook_secret",
            ));
        }
        if self.overlap_minutes > MAX_OVERLAP_MINUTES {
            return Err(Error::invalid(
                "invalid_rotation",
                format!("overlap_minutes must be 0–{MAX_OVERLAP_MINUTES}"),
            ));
        }
        let mut unique = self.credentials.clone();
        unique.sort();
        unique.dedup();
        Ok(unique)
    }
}

/// The new credentials, shown once, and until when the replaced ones still work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotatedCredentials {
    /// The new ingest token (when rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ingest_token: Option<Secret>,
    /// The new webhook signing secret (when rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Secret>,
    pub overlap_minutes: u32,
    /// The replaced credentials are refused from this instant on.
    pub previous_valid_until: DateTime<Utc>,
}

/// Keeps `replaced` working until `until` beside the still-running older ones; expired ones go,
/// and only the newest few stay.
fn retire<T>(
    retiring: &mut Vec<Retiring<T>>,
    replaced: Vec<T>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    retiring.retain(|old| old.until > now);
    if until > now {
        for value in replaced.into_iter().rev() {
            retiring.insert(0, Retiring { value, until });
        }
    }
    retiring.truncate(MAX_RETIRING);
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
    cipher: Arc<dyn Cipher>,
}

impl TenantService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, cipher: Arc<dyn Cipher>) -> Self {
        Self {
            store,
            clock,
            cipher,
        }
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
        let webhook_secret = Secret::new(secrets::new_webhook_secret());
        let outbound_secret = Secret::new(secrets::new_webhook_secret());
        let tenant = Tenant {
            id: tenant_id.clone(),
            name: name.to_string(),
            created_at: now,
            ingest_token_digest: secrets::digest(&ingest_token),
            retiring_ingest_tokens: Vec::new(),
            webhook_secrets: vec![webhook_secret.clone()],
            retiring_webhook_secrets: Vec::new(),
            stripe_secrets: stripe_secret
                .map(|s| vec![Secret::from(s)])
                .unwrap_or_default(),
            outbound_secret: Some(outbound_secret.clone()),
        };
        let key = ApiKey::new(&tenant_id, Role::Admin, &api_key, actor.clone(), now);
        let mut ops = vec![WriteOp::Put {
            item: self.item(&tenant).await?,
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
            api_key: Secret::new(api_key),
            ingest_token: Secret::new(ingest_token),
            webhook_secret,
            outbound_secret,
        })
    }

    /// Replaces the credentials named, audited. The new values are in the answer only; the
    /// replaced ones keep working for `overlap_minutes`, then are refused.
    pub async fn rotate(
        &self,
        tenant_id: &str,
        request: &RotationRequest,
        actor: &Actor,
    ) -> Result<RotatedCredentials> {
        let credentials = request.validate()?;
        let (mut tenant, version) = self.read(tenant_id).await?;
        let now = self.clock.now();
        let until = now + chrono::Duration::minutes(i64::from(request.overlap_minutes));
        let mut rotated = RotatedCredentials {
            ingest_token: None,
            webhook_secret: None,
            overlap_minutes: request.overlap_minutes,
            previous_valid_until: until,
        };
        for credential in &credentials {
            match credential {
                Credential::IngestToken => {
                    let token = secrets::new_ingest_token();
                    let old =
                        std::mem::replace(&mut tenant.ingest_token_digest, secrets::digest(&token));
                    retire(&mut tenant.retiring_ingest_tokens, vec![old], until, now);
                    rotated.ingest_token = Some(Secret::new(token));
                }
                Credential::WebhookSecret => {
                    let secret = Secret::new(secrets::new_webhook_secret());
                    let old = std::mem::replace(&mut tenant.webhook_secrets, vec![secret.clone()]);
                    retire(&mut tenant.retiring_webhook_secrets, old, until, now);
                    rotated.webhook_secret = Some(secret);
                }
            }
        }
        let names: Vec<&str> = credentials.iter().map(|c| c.as_str()).collect();
        self.write(
            &tenant,
            version,
            audit::record(
                tenant_id,
                actor,
                "credentials.rotate",
                &names.join(","),
                now,
            ),
        )
        .await?;
        Ok(rotated)
    }

    /// The secret outbound requests are signed with; one is generated and kept (a conditional
    /// write, so two first uses agree on one) for a tenant that has none yet.
    pub async fn outbound_secret(&self, tenant_id: &str) -> Result<Secret> {
        for _ in 0..3 {
            let (mut tenant, version) = self.read(tenant_id).await?;
            if let Some(secret) = tenant.outbound_secret {
                return Ok(secret);
            }
            let secret = Secret::new(secrets::new_webhook_secret());
            tenant.outbound_secret = Some(secret.clone());
            match self
                .store
                .put(
                    self.item(&tenant).await?,
                    PutCondition::VersionEquals(version),
                )
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
        tenant.stripe_secrets = secrets.into_iter().map(Secret::from).collect();
        let now = self.clock.now();
        self.write(
            &tenant,
            version,
            audit::record(tenant_id, actor, "source.stripe.update", "stripe", now),
        )
        .await?;
        Ok(TenantView::from(&tenant))
    }

    pub async fn get(&self, tenant_id: &str) -> Result<Tenant> {
        Ok(self.read(tenant_id).await?.0)
    }

    /// The tenant with the version its next write must find.
    async fn read(&self, tenant_id: &str) -> Result<(Tenant, u64)> {
        super::validate_tenant_id(tenant_id)?;
        load(self.store.as_ref(), self.cipher.as_ref(), tenant_id)
            .await?
            .ok_or_else(|| Error::NotFound("tenant".into()))
    }

    /// Stores `tenant` if it is still at `version`, with its audit entry, in one transaction.
    async fn write(&self, tenant: &Tenant, version: u64, audit_entry: WriteOp) -> Result<()> {
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: self.item(tenant).await?,
                    condition: PutCondition::VersionEquals(version),
                },
                audit_entry,
            ])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::TransactionCancelled { .. } => {
                    Error::Conflict("the tenant changed meanwhile; try again".into())
                }
                other => other.into(),
            })
    }

    /// The stored item of a tenant, its secrets sealed, listed by its id.
    async fn item(&self, tenant: &Tenant) -> Result<Item> {
        let sealed = tenant
            .clone()
            .try_map(&Sealing(self.cipher.as_ref()))
            .await?;
        Ok(Item::new(table_keys::tenant(&tenant.id), to_json(&sealed)?)
            .with_gsi1(table_keys::tenant_list(&tenant.id)))
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

    /// One page of tenants as API clients see them; no secret is opened.
    pub async fn list(
        &self,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<TenantView>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Gsi1, table_keys::TENANT_LIST_PARTITION)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let tenants = page
            .items
            .iter()
            .map(|item| {
                item.parse::<Tenant<StoredSecret>>()
                    .map(|t| TenantView::from(&t))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tenants, page.next_cursor))
    }
}

/// A tenant read and its secrets opened, with its item version; None when there is none.
pub(crate) async fn load(
    store: &dyn ItemStore,
    cipher: &dyn Cipher,
    tenant_id: &str,
) -> Result<Option<(Tenant, u64)>> {
    let Some(item) = store.get(&table_keys::tenant(tenant_id)).await? else {
        return Ok(None);
    };
    let stored: Tenant<StoredSecret> = item.parse()?;
    let tenant = stored.try_map(&Opening(cipher)).await?;
    Ok(Some((tenant, item.version)))
}

#[cfg(test)]
mod tests;
