//! Channels: where notifications go (a Slack incoming webhook, a signed webhook, email). Names
//! are unique per tenant, because routes refer to them; URLs and signing secrets are write-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::egress::EgressPolicy;
use crate::json::to_json;
use crate::ports::CipherError;
use crate::ports::{Cipher, Index, Item, ItemStore, PutCondition, Query, SortKey, WriteOp};
use crate::secret::{Convert, Opening, Sealing, Secret, StoredSecret, map_all, url_hint};
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, ids, table_keys};

mod validation;

pub use validation::EmailAddress;
use validation::{check_egress, check_name};

/// The name routes use for the admin inbox, which every tenant has without creating it.
pub const INBOX: &str = "inbox";

const MAX_NAME: usize = 64;
const MAX_URL: usize = 2048;
const MAX_RECIPIENTS: usize = 20;
/// A tenant's channels are read in one query by the dispatcher.
const MAX_CHANNELS: usize = 50;

/// Where a channel sends, with its secrets: open (`Destination`) or sealed as stored
/// (`Destination<StoredSecret>`). A Slack or webhook URL is a credential too (whoever has a
/// Slack incoming-webhook URL can post), so it is kept like the signing secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination<S = Secret> {
    Slack {
        url: S,
    },
    Webhook {
        url: S,
        /// Signing secrets, newest first; two while a rotation is under way.
        secrets: Vec<S>,
    },
    Email {
        to: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    Webhook,
    Email,
}

impl<S: Send + 'static> Destination<S> {
    /// The same destination with each secret converted by `f` (sealed or opened).
    pub async fn try_map<T>(self, f: &dyn Convert<S, T>) -> Result<Destination<T>, CipherError> {
        Ok(match self {
            Destination::Slack { url } => Destination::Slack {
                url: f.convert(url).await?,
            },
            Destination::Webhook { url, secrets } => Destination::Webhook {
                url: f.convert(url).await?,
                secrets: map_all(secrets, f).await?,
            },
            Destination::Email { to } => Destination::Email { to },
        })
    }

    pub fn kind(&self) -> ChannelKind {
        match self {
            Destination::Slack { .. } => ChannelKind::Slack,
            Destination::Webhook { .. } => ChannelKind::Webhook,
            Destination::Email { .. } => ChannelKind::Email,
        }
    }
}

/// A channel, its secrets open (`Channel`) or sealed as stored (`Channel<StoredSecret>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel<S = Secret> {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub destination: Destination<S>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<S: Send + 'static> Channel<S> {
    async fn try_map<T>(self, f: &dyn Convert<S, T>) -> Result<Channel<T>, CipherError> {
        Ok(Channel {
            id: self.id,
            name: self.name,
            enabled: self.enabled,
            destination: self.destination.try_map(f).await?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A channel as the API shows it: secrets never, URLs only as a hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    pub enabled: bool,
    /// Scheme and host of the URL, the rest masked (Slack and webhook channels).
    pub url_hint: Option<String>,
    /// Recipients (email channels).
    pub to: Option<Vec<String>>,
    /// Signing secrets in use (webhook channels): 2 while a rotation is under way.
    pub active_secrets: Option<usize>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> Self {
        let (url_hint, to, active_secrets) = match &c.destination {
            Destination::Slack { url } => (Some(url_hint(url)), None, None),
            Destination::Webhook { url, secrets } => {
                (Some(url_hint(url)), None, Some(secrets.len()))
            }
            Destination::Email { to } => (None, Some(to.clone()), None),
        };
        ChannelView {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.destination.kind(),
            enabled: c.enabled,
            url_hint,
            to,
            active_secrets,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `POST /api/v1/channels`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    pub kind: ChannelKind,
    /// Slack and webhook channels (any other kind: 422): an http(s) URL with a host (pattern:
    /// `TARGET_URL_PATTERN`).
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Webhook channels (any other kind: 422): the signing secret, `whsec_` and a base64 key
    /// of 24 to 64 bytes.
    #[schema(
        pattern = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/][AQgw]==)?)$"
    )]
    pub secret: Option<String>,
    /// Email channels (any other kind: 422): 1–20 addresses.
    #[schema(min_items = 1, max_items = 20, value_type = Option<Vec<EmailAddress>>)]
    pub to: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl NewChannel {
    /// A webhook channel signs every message: when no signing secret is given, one is made, and
    /// returned beside the channel to be shown once (the CLI prints it, the console's answer
    /// shows it).
    pub fn with_signing_secret(mut self) -> (Self, Option<String>) {
        let generated = (self.kind == ChannelKind::Webhook && self.secret.is_none())
            .then(crate::tenancy::secrets::new_webhook_secret);
        if generated.is_some() {
            self.secret.clone_from(&generated);
        }
        (self, generated)
    }
}

/// `PATCH /api/v1/channels/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub enabled: Option<bool>,
    /// Slack and webhook channels (any other kind: 422); pattern: `TARGET_URL_PATTERN`.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Webhook channels (any other kind: 422): a new signing secret. The previous one stays
    /// active beside it (both sign every message) until `retire_previous_secret` is sent.
    #[schema(
        pattern = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/][AQgw]==)?)$"
    )]
    pub secret: Option<String>,
    /// Webhook channels: stop signing with every secret but the newest.
    #[serde(default)]
    pub retire_previous_secret: bool,
    /// Email channels (any other kind: 422): 1–20 addresses.
    #[schema(min_items = 1, max_items = 20, value_type = Option<Vec<EmailAddress>>)]
    pub to: Option<Vec<String>>,
}

/// The name claim stored beside each channel.
#[derive(Debug, Serialize, Deserialize)]
struct NameClaim {
    channel_id: String,
}

pub struct ChannelService {
    store: Arc<dyn ItemStore>,
    cipher: Arc<dyn Cipher>,
    clock: Arc<dyn Clock>,
    egress: Arc<EgressPolicy>,
}

impl ChannelService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        cipher: Arc<dyn Cipher>,
        clock: Arc<dyn Clock>,
        egress: Arc<EgressPolicy>,
    ) -> Self {
        Self {
            store,
            cipher,
            clock,
            egress,
        }
    }

    /// The channel as stored: its URL and signing secrets sealed.
    async fn sealed(&self, channel: &Channel) -> Result<String> {
        let sealed = channel
            .clone()
            .try_map(&Sealing(self.cipher.as_ref()))
            .await?;
        to_json(&sealed)
    }

    /// A stored channel with its secrets opened.
    async fn open(&self, item: &Item) -> Result<Channel> {
        let stored: Channel<StoredSecret> = item.parse()?;
        Ok(stored.try_map(&Opening(self.cipher.as_ref())).await?)
    }

    pub async fn create(&self, tenant: &str, new: NewChannel, actor: &Actor) -> Result<Channel> {
        check_name(&new.name)?;
        let now = self.clock.now();
        let name = new.name.clone();
        let enabled = new.enabled;
        let destination = new.destination()?;
        check_egress(&destination, &self.egress)?;
        if self.list(tenant).await?.len() >= MAX_CHANNELS {
            return Err(Error::invalid(
                "too_many_channels",
                format!("a tenant has at most {MAX_CHANNELS} channels"),
            ));
        }
        let channel = Channel {
            id: ids::new_id("chn"),
            name,
            enabled,
            destination,
            created_at: now,
            updated_at: now,
        };
        let claim = NameClaim {
            channel_id: channel.id.clone(),
        };
        let result = self
            .store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(
                        table_keys::channel_name(tenant, &channel.name),
                        to_json(&claim)?,
                    ),
                    condition: PutCondition::Absent,
                },
                WriteOp::Put {
                    item: Item::new(
                        table_keys::channel(tenant, &channel.id),
                        self.sealed(&channel).await?,
                    ),
                    condition: PutCondition::Absent,
                },
                audit::record(tenant, actor, "channel.create", &channel.id, now),
            ])
            .await;
        match result {
            Ok(()) => Ok(channel),
            Err(crate::ports::StoreError::TransactionCancelled { index: 0, .. }) => Err(
                Error::Conflict(format!("a channel named {:?} already exists", channel.name)),
            ),
            Err(other) => Err(other.into()),
        }
    }

    /// Every channel of the tenant, by name.
    pub async fn list(&self, tenant: &str) -> Result<Vec<Channel>> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::channels_partition(tenant))
                    .sort(SortKey::BeginsWith(table_keys::CHANNEL_PREFIX.into()))
                    .limit(MAX_CHANNELS as u32 + 1),
            )
            .await?;
        let mut channels = Vec::with_capacity(page.items.len());
        for item in &page.items {
            channels.push(self.open(item).await?);
        }
        channels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(channels)
    }

    /// The tenant's channels keyed by name.
    pub async fn by_name(&self, tenant: &str) -> Result<BTreeMap<String, Channel>> {
        Ok(self
            .list(tenant)
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect())
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<(Channel, u64)> {
        if !ids::looks_like("chn", id) {
            return Err(Error::NotFound("channel".into()));
        }
        let item = self
            .store
            .get(&table_keys::channel(tenant, id))
            .await?
            .ok_or_else(|| Error::NotFound("channel".into()))?;
        Ok((self.open(&item).await?, item.version))
    }

    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        patch: ChannelPatch,
        actor: &Actor,
    ) -> Result<Channel> {
        let (mut channel, version) = self.get(tenant, id).await?;
        let now = self.clock.now();
        if let Some(enabled) = patch.enabled {
            channel.enabled = enabled;
        }
        // Only a new URL is checked: a channel the allow list no longer covers can still be
        // disabled or deleted (its sends are refused meanwhile).
        let new_url = patch.url.is_some();
        patch.apply(&mut channel.destination)?;
        if new_url {
            check_egress(&channel.destination, &self.egress)?;
        }
        channel.updated_at = now;
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(
                        table_keys::channel(tenant, id),
                        self.sealed(&channel).await?,
                    ),
                    condition: PutCondition::VersionEquals(version),
                },
                audit::record(tenant, actor, "channel.update", id, now),
            ])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::TransactionCancelled { .. } => {
                    Error::Conflict("the channel changed meanwhile; try again".into())
                }
                other => other.into(),
            })?;
        Ok(channel)
    }

    pub async fn delete(&self, tenant: &str, id: &str, actor: &Actor) -> Result<()> {
        let (channel, version) = self.get(tenant, id).await?;
        let now = self.clock.now();
        self.store
            .transact(vec![
                WriteOp::Delete {
                    key: table_keys::channel(tenant, id),
                    condition: crate::ports::DeleteCondition::VersionEquals(version),
                },
                WriteOp::Delete {
                    key: table_keys::channel_name(tenant, &channel.name),
                    condition: crate::ports::DeleteCondition::None,
                },
                audit::record(tenant, actor, "channel.delete", id, now),
            ])
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::TransactionCancelled { .. } => {
                    Error::Conflict("the channel changed meanwhile; try again".into())
                }
                other => other.into(),
            })
    }
}

#[cfg(test)]
mod tests;
