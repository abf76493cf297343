//! Clients: the subjects workflows act on. Created and changed through the API, and kept current
//! by the domain events apps post (`client.stage_changed` sets the stage, `client.kpi_updated` a
//! metric; `client.activity`, `message.received` and `ticket.created` the last activity). The
//! workflow consumer applies each event once it comes off the bus.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ingest::DomainEvent;
use crate::json::to_json;
use crate::ports::{Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError};
use crate::{Clock, Error, Result, table_keys};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Client {
    /// The id the tenant's own systems use (`subject.client_id` in events).
    pub id: String,
    pub name: Option<String>,
    pub stage: Option<String>,
    pub health_score: Option<f64>,
    pub assignee: Option<String>,
    pub mrr: Option<f64>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the client was deleted; the record stays so runs about it end as `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// `POST`: a new client, under the tenant's own id for it.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// 1–200 characters without `#` or control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub health_score: Option<f64>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub mrr: Option<f64>,
    #[serde(default)]
    pub metrics: Option<BTreeMap<String, f64>>,
}

impl From<NewClient> for ClientFields {
    fn from(new: NewClient) -> Self {
        ClientFields {
            id: Some(new.id),
            name: new.name,
            stage: new.stage,
            health_score: new.health_score,
            assignee: new.assignee,
            mrr: new.mrr,
            metrics: new.metrics,
        }
    }
}

/// The fields a person may set (`PATCH` sets what it names; an `id` other than the client's
/// own is 422).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<String, f64>>,
}

/// What an event did to its client, for triggers (`stage_changed` needs the stage before).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientChange {
    pub before: Option<Client>,
    pub after: Client,
}

/// What an event would do to its client, read but not yet written (see [`ClientService::preview`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingChange {
    pub change: ClientChange,
    condition: PutCondition,
}

/// The event types clients follow, and so the only domain events workflows act on.
pub const FOLLOWED_EVENT_TYPES: [&str; 6] = [
    "client.stage_changed",
    "client.kpi_updated",
    "client.activity",
    "message.received",
    "ticket.created",
    "client.deleted",
];

/// Applies a known event type to a client; false (nothing changed) for other types or events
/// missing what their type needs.
pub fn apply_event(client: &mut Client, event: &DomainEvent) -> bool {
    if !FOLLOWED_EVENT_TYPES.contains(&event.event_type.as_str()) {
        return false;
    }
    let text = |key: &str| {
        event
            .data
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match event.event_type.as_str() {
        "client.stage_changed" => match text("to") {
            Some(to) => client.stage = Some(to),
            None => return false,
        },
        "client.kpi_updated" => {
            let metric = text("metric");
            let value = event.data.get("value").and_then(Value::as_f64);
            let (Some(metric), Some(value)) = (metric, value) else {
                return false;
            };
            match metric.as_str() {
                "health_score" => client.health_score = Some(value),
                "mrr" => client.mrr = Some(value),
                _ => {}
            }
            client.metrics.insert(metric, value);
        }
        "client.activity" | "message.received" | "ticket.created" => {}
        "client.deleted" => {
            client.deleted_at = Some(event.occurred_at);
            return true;
        }
        _ => return false,
    }
    // Activity is the latest event seen, whatever order events arrive in.
    if client
        .last_activity_at
        .is_none_or(|t| t < event.occurred_at)
    {
        client.last_activity_at = Some(event.occurred_at);
    }
    if let Some(name) = event.subject.get("client_name").and_then(Value::as_str) {
        client.name = Some(name.to_owned());
    }
    true
}

/// The client an event is about, when it names a valid one.
fn event_client(event: &DomainEvent) -> Option<&str> {
    event
        .subject
        .get("client_id")
        .and_then(Value::as_str)
        .filter(|id| valid_client_id(id))
}

fn valid_client_id(id: &str) -> bool {
    crate::automation_runs::input::valid_id(id)
}

fn check_fields(fields: &ClientFields) -> Result<()> {
    let finite = |name: &str, v: Option<f64>| match v {
        Some(x) if !x.is_finite() => Err(Error::invalid(
            "invalid_field",
            format!("{name} must be a number"),
        )),
        _ => Ok(()),
    };
    finite("health_score", fields.health_score)?;
    finite("mrr", fields.mrr)?;
    Ok(())
}

pub struct ClientService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

/// Attempts at an optimistic update before giving up on a busy client.
const UPDATE_ATTEMPTS: usize = 5;

impl ClientService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    async fn read(&self, tenant: &str, id: &str) -> Result<Option<(Client, u64)>> {
        if !valid_client_id(id) {
            return Ok(None);
        }
        Ok(
            match self.store.get(&table_keys::client(tenant, id)).await? {
                Some(item) => Some((item.parse()?, item.version)),
                None => None,
            },
        )
    }

    /// A client that exists (not deleted).
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Client> {
        self.find(tenant, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .ok_or_else(|| Error::NotFound("client".into()))
    }

    /// A client as stored, deleted ones included.
    pub async fn find(&self, tenant: &str, id: &str) -> Result<Option<Client>> {
        Ok(self.read(tenant, id).await?.map(|(c, _)| c))
    }

    /// Marks a client deleted; runs about it end as `skipped`.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<Client> {
        let now = self.clock.now();
        self.change(tenant, id, false, |client| {
            if client.deleted_at.is_some() {
                return false;
            }
            client.deleted_at = Some(now);
            true
        })
        .await?
        .map(|c| c.after)
        .ok_or_else(|| Error::NotFound("client".into()))
    }

    pub async fn list(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Client>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::client(tenant, "").pk)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let clients = page
            .items
            .iter()
            .map(Item::parse::<Client>)
            .filter(|c| c.as_ref().map_or(true, |c| c.deleted_at.is_none()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((clients, page.next_cursor))
    }

    /// Every client of the tenant (for the tick's state triggers).
    pub async fn all(&self, tenant: &str) -> Result<Vec<Client>> {
        crate::ports::store::all_pages(|limit, cursor| self.list(tenant, limit, cursor)).await
    }

    pub async fn create(&self, tenant: &str, fields: ClientFields) -> Result<Client> {
        check_fields(&fields)?;
        let Some(id) = fields.id.clone().filter(|id| valid_client_id(id)) else {
            return Err(Error::invalid(
                "invalid_field",
                "id is required: 1–200 characters without '#'",
            ));
        };
        let now = self.clock.now();
        let mut client = blank(&id, now);
        patch(&mut client, fields);
        match self
            .store
            .put(
                Item::new(table_keys::client(tenant, &id), to_json(&client)?),
                PutCondition::Absent,
            )
            .await
        {
            Ok(_) => Ok(client),
            Err(StoreError::AlreadyExists) => Err(Error::Conflict(format!("client {id} exists"))),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn update(&self, tenant: &str, id: &str, fields: ClientFields) -> Result<Client> {
        check_fields(&fields)?;
        if fields.id.as_deref().is_some_and(|new| new != id) {
            return Err(Error::unprocessable("invalid_field", "id cannot change"));
        }
        self.change(tenant, id, false, |client| {
            if client.deleted_at.is_some() {
                return false;
            }
            patch(client, fields.clone());
            true
        })
        .await?
        .map(|c| c.after)
        .ok_or_else(|| Error::NotFound("client".into()))
    }

    /// Applies a domain event to its client (created on first sight); None when the event is
    /// of no known type or names no client.
    pub async fn apply(&self, tenant: &str, event: &DomainEvent) -> Result<Option<ClientChange>> {
        let Some(id) = event_client(event) else {
            return Ok(None);
        };
        self.change(tenant, id, true, |client| apply_event(client, event))
            .await
    }

    /// What applying `event` would do, without writing it: workflows start from the change
    /// before it is stored, so a redelivered event still sees the client as it was before.
    pub async fn preview(
        &self,
        tenant: &str,
        event: &DomainEvent,
    ) -> Result<Option<PendingChange>> {
        let Some(id) = event_client(event) else {
            return Ok(None);
        };
        let now = self.clock.now();
        // Events of types clients do not follow cost no read.
        if !apply_event(&mut blank(id, now), event) {
            return Ok(None);
        }
        let (before, condition) = match self.read(tenant, id).await? {
            Some((client, version)) => (Some(client), PutCondition::VersionEquals(version)),
            None => (None, PutCondition::Absent),
        };
        let mut after = before.clone().unwrap_or_else(|| blank(id, now));
        if !apply_event(&mut after, event) {
            return Ok(None);
        }
        after.updated_at = now;
        Ok(Some(PendingChange {
            change: ClientChange { before, after },
            condition,
        }))
    }

    /// Writes a previewed change; applies the event afresh when the client changed meanwhile.
    pub async fn commit(
        &self,
        tenant: &str,
        event: &DomainEvent,
        pending: PendingChange,
    ) -> Result<()> {
        let after = &pending.change.after;
        let item = Item::new(table_keys::client(tenant, &after.id), to_json(after)?);
        match self.store.put(item, pending.condition).await {
            Ok(_) => Ok(()),
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => {
                self.apply(tenant, event).await.map(drop)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Reads, changes and writes a client with an optimistic check, trying again when another
    /// writer got there first.
    async fn change(
        &self,
        tenant: &str,
        id: &str,
        create: bool,
        mut edit: impl FnMut(&mut Client) -> bool,
    ) -> Result<Option<ClientChange>> {
        for _ in 0..UPDATE_ATTEMPTS {
            let now = self.clock.now();
            let (before, condition) = match self.read(tenant, id).await? {
                Some((client, version)) => (Some(client), PutCondition::VersionEquals(version)),
                None if create => (None, PutCondition::Absent),
                None => return Ok(None),
            };
            let mut after = before.clone().unwrap_or_else(|| blank(id, now));
            if !edit(&mut after) {
                return Ok(None);
            }
            after.updated_at = now;
            let item = Item::new(table_keys::client(tenant, id), to_json(&after)?);
            match self.store.put(item, condition).await {
                Ok(_) => return Ok(Some(ClientChange { before, after })),
                Err(StoreError::AlreadyExists | StoreError::VersionConflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Conflict(format!(
            "client {id} is changing too fast; try again"
        )))
    }
}

fn blank(id: &str, now: DateTime<Utc>) -> Client {
    Client {
        id: id.to_owned(),
        name: None,
        stage: None,
        health_score: None,
        assignee: None,
        mrr: None,
        metrics: BTreeMap::new(),
        last_activity_at: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

fn patch(client: &mut Client, fields: ClientFields) {
    if let Some(v) = fields.name {
        client.name = Some(v);
    }
    if let Some(v) = fields.stage {
        client.stage = Some(v);
    }
    if let Some(v) = fields.health_score {
        client.health_score = Some(v);
        client.metrics.insert("health_score".into(), v);
    }
    if let Some(v) = fields.assignee {
        client.assignee = Some(v);
    }
    if let Some(v) = fields.mrr {
        client.mrr = Some(v);
    }
    if let Some(metrics) = fields.metrics {
        client.metrics.extend(metrics);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, data: Value, at: &str) -> DomainEvent {
        serde_json::from_value(json!({"id": "e", "type": kind, "occurred_at": at,
                                      "subject": {"client_id": "c_42"}, "data": data}))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn known_events_change_the_client_and_others_do_not() {
        let now = Utc::now();
        let mut client = blank("c_42", now);
        assert!(apply_event(
            &mut client,
            &event(
                "client.stage_changed",
                json!({"from": "active", "to": "at_risk"}),
                "2026-05-01T10:00:00Z"
            )
        ));
        assert!(apply_event(
            &mut client,
            &event(
                "client.kpi_updated",
                json!({"metric": "health_score", "value": 41}),
                "2026-05-01T09:00:00Z"
            )
        ));
        assert!(apply_event(
            &mut client,
            &event(
                "client.kpi_updated",
                json!({"metric": "nps", "value": 7}),
                "2026-05-01T08:00:00Z"
            )
        ));
        assert!(!apply_event(
            &mut client,
            &event("invoice.sent", json!({}), "2026-05-02T08:00:00Z")
        ));
        assert!(!apply_event(
            &mut client,
            &event(
                "client.kpi_updated",
                json!({"metric": "nps"}),
                "2026-05-02T08:00:00Z"
            )
        ));
        assert_eq!(client.stage.as_deref(), Some("at_risk"));
        assert_eq!(client.health_score, Some(41.0));
        assert_eq!(client.metrics.get("nps"), Some(&7.0));
        // The latest event's time, though events arrived out of order.
        assert_eq!(
            client.last_activity_at.map(|t| t.to_rfc3339()),
            Some("2026-05-01T10:00:00+00:00".into())
        );
    }
}
