//! Inbound hooks: authenticate, take a token of the tenant's rate, validate, store once, publish.
//! Each accepted event costs one conditional write (the event record is its own idempotency
//! record) and one bus publish, made together by the [`Announcer`] (one transaction on the
//! embedded store); the rate costs one more write per reservation of up to
//! [`crate::rate::MAX_RESERVATION`] requests, and nothing for a request refused past it.

pub mod automation_runs;
pub mod domain_event;
pub mod integrity;
pub mod stripe;
pub mod urls;

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::Duration;
use serde::{Deserialize, Serialize};

pub use domain_event::{DomainEvent, StoredDomainEvent};

use crate::ports::{
    AnnounceError, Announcement, Announcer, BusEvent, EventBus, Index, Item, ItemStore, Ports,
    PutCondition, Query, StoreError,
};
use crate::rate::{self, Admission, Rate, SharedBucket};
use crate::tenancy::auth::{self, HookCredentials, TenantCache};
use crate::{Clock, Error, Result, table_keys};

/// The answer to an accepted hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub id: String,
    /// True when an event with this id was already stored; nothing new was written.
    pub duplicate: bool,
}

/// Settings of the ingest path.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// How long raw events are kept.
    pub retention: Duration,
    /// Hook requests each tenant may make (all hook routes together).
    pub rate: Rate,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            retention: Duration::days(30),
            rate: Rate::per_second(
                NonZeroU32::new(50_000).expect("50000 is not zero"),
                NonZeroU32::new(100_000).expect("100000 is not zero"),
            ),
        }
    }
}

pub struct IngestService {
    store: Arc<dyn ItemStore>,
    bus: Arc<dyn EventBus>,
    announcer: Arc<dyn Announcer>,
    clock: Arc<dyn Clock>,
    tenants: TenantCache,
    /// Each tenant's hook requests, shared by every instance.
    rate: SharedBucket,
    settings: IngestSettings,
}

impl IngestService {
    pub fn new(
        ports: &Ports,
        clock: Arc<dyn Clock>,
        credentials_ttl: std::time::Duration,
        settings: IngestSettings,
    ) -> Self {
        let store = ports.store.clone();
        let tenants = TenantCache::new(
            store.clone(),
            ports.cipher.clone(),
            clock.clone(),
            credentials_ttl,
        );
        Self {
            rate: SharedBucket::new(store.clone(), settings.rate, table_keys::ingest_rate),
            store,
            bus: ports.bus.clone(),
            announcer: ports.announcer.clone(),
            clock,
            tenants,
            settings,
        }
    }

    /// Accepts one domain event posted to `/hooks/{tenant}/events`.
    pub async fn accept_domain_event(
        &self,
        tenant_id: &str,
        credentials: HookCredentials<'_>,
        body: &[u8],
        source_ip: Option<&str>,
    ) -> Result<IngestOutcome> {
        let now = self.clock.now();
        self.authenticate(tenant_id, credentials, body, source_ip, "events", now)
            .await?;
        let event = DomainEvent::parse(body)?;
        let stored = StoredDomainEvent {
            event,
            received_at: now,
        };
        let item = stored.to_item(tenant_id, now + self.settings.retention)?;
        let announced = match self
            .announcer
            .put_and_announce(
                item,
                PutCondition::Absent,
                Announcement::Bus(vec![stored.bus_event(tenant_id)]),
            )
            .await
        {
            Ok(announced) => announced,
            Err(StoreError::AlreadyExists) => {
                return Ok(IngestOutcome {
                    id: stored.event.id,
                    duplicate: true,
                });
            }
            Err(other) => return Err(other.into()),
        };
        if let Err(bus_error) = announced.announcement {
            let bus_event = stored.bus_event(tenant_id);
            self.park(tenant_id, &stored.event.id, &bus_event, &bus_error)
                .await?;
        }
        Ok(IngestOutcome {
            id: stored.event.id,
            duplicate: false,
        })
    }

    /// Checks a hook's bearer token or Standard Webhooks signature; a failure is recorded as an
    /// integrity failure of `source` and answered like an unknown tenant.
    async fn authenticate(
        &self,
        tenant_id: &str,
        credentials: HookCredentials<'_>,
        body: &[u8],
        source_ip: Option<&str>,
        source: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let Some(tenant) = self.tenants.get(tenant_id).await? else {
            // Unknown tenants get the answer bad credentials get: ids are not to be probed.
            let failure = auth::refuse_unknown(credentials, body, now);
            return Err(auth::unauthenticated(&failure));
        };
        if let Err(failure) = auth::verify_hook(&tenant, credentials, body, now) {
            integrity::record_failure(
                self.store.as_ref(),
                tenant_id,
                source,
                failure.reason(),
                source_ip,
                body.len(),
                now,
            )
            .await;
            return Err(auth::unauthenticated(&failure));
        }
        self.admit(tenant_id, now).await
    }

    /// Takes one token of the tenant's hook bucket; past it, [`Error::RateLimited`]. Checked
    /// after authentication, so only the tenant's own credentials can spend its budget.
    async fn admit(&self, tenant_id: &str, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        match self.rate.admit(tenant_id, now).await? {
            Admission::Granted => Ok(()),
            Admission::Refused { retry_after } => Err(Error::RateLimited {
                retry_after_seconds: rate::whole_seconds(retry_after),
            }),
        }
    }

    /// Keeps an event whose publish failed for the sweeper, so it is not lost.
    async fn park(
        &self,
        tenant_id: &str,
        event_id: &str,
        bus_event: &BusEvent,
        error: &AnnounceError,
    ) -> Result<()> {
        tracing::warn!(tenant_id, event_id, %error, "publish failed; parking the event for the sweeper");
        let parked = Item::new(
            crate::ports::Key::new(
                table_keys::unpublished_partition(tenant_id),
                event_id.to_owned(),
            ),
            serde_json::to_string(bus_event).map_err(|e| Error::Internal(e.to_string()))?,
        );
        self.store.put(parked, PutCondition::None).await?;
        Ok(())
    }

    /// Publishes events parked by failed publishes; returns how many went out.
    pub async fn republish_parked(&self, tenant_id: &str) -> Result<usize> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::unpublished_partition(tenant_id))
                    .limit(100),
            )
            .await?;
        let mut sent = 0;
        for item in page.items {
            let event: BusEvent = item.parse()?;
            self.bus.publish(std::slice::from_ref(&event)).await?;
            self.store
                .delete(&item.key, crate::ports::DeleteCondition::None)
                .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Forgets cached credentials of a tenant (after they change).
    pub fn forget_credentials(&self, tenant_id: &str) {
        self.tenants.invalidate(tenant_id);
    }
}

impl IngestService {
    /// One page of a tenant's ingested events, newest first.
    pub async fn list_events(
        &self,
        tenant_id: &str,
        limit: u32,
        cursor: Option<crate::ports::Cursor>,
    ) -> Result<(Vec<StoredDomainEvent>, Option<crate::ports::Cursor>)> {
        let query = Query::partition(
            Index::Gsi1,
            table_keys::domain_event_list_partition(tenant_id),
        )
        .descending()
        .limit(limit)
        .after(cursor);
        let page = self.store.query(query).await?;
        let events = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, page.next_cursor))
    }

    pub async fn get_event(&self, tenant_id: &str, event_id: &str) -> Result<StoredDomainEvent> {
        if event_id.is_empty()
            || event_id.len() > domain_event::MAX_ID_LEN
            || event_id.contains('#')
        {
            return Err(Error::NotFound("event".into()));
        }
        let item = self
            .store
            .get(&table_keys::domain_event(tenant_id, event_id))
            .await?
            .ok_or_else(|| Error::NotFound("event".into()))?;
        Ok(item.parse()?)
    }
}
