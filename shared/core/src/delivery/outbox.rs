//! The outbox: notifications written once per `(tenant, dedupe_key)` and queued for the
//! dispatcher in the same step. Emitting never fails the emitter because a queue is down: the
//! record stays `pending` and the sweeper queues it again.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::notification::{NewNotification, Notification, NotificationStatus, NotificationType};
use super::record::DeliveryRecord;
use super::redaction::{RedactionError, RedactionRules, Redactor};
use crate::json::to_json;
use crate::ports::{
    Announcement, Announcer, Cursor, Index, Item, ItemStore, PutCondition, Query, Queue, QueueRole,
    SortKey, StoreError, WriteOp,
};
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

const MAX_TITLE: usize = 200;
const MAX_SUMMARY: usize = 4000;
const MAX_DEDUPE_KEY: usize = 256;
const MAX_LINK_REF: usize = 256;
const MAX_PAYLOAD_BYTES: usize = 32 * 1024;
/// Pending notifications the sweeper looks at per tenant and run.
const SWEEP_PAGE: u32 = 200;

/// What the outbox queue carries: which notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub tenant_id: String,
    pub notification_id: String,
}

/// A notification as stored, with what the dispatcher and the sweeper keep on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredNotification {
    #[serde(flatten)]
    pub notification: Notification,
    /// When a dispatcher first handled it (none: never reached the dispatcher yet).
    pub handled_at: Option<DateTime<Utc>>,
    /// When the next dispatch is expected (pending notifications only).
    pub due_at: Option<DateTime<Utc>>,
}

impl StoredNotification {
    pub fn to_item(&self) -> Result<Item> {
        let n = &self.notification;
        let sort = format!(
            "{}#{}",
            n.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            n.id
        );
        Ok(Item::new(
            table_keys::notification(&n.tenant_id, &n.id),
            to_json(self)?,
        )
        .with_gsi1(table_keys::notification_list(&n.tenant_id, &sort))
        .with_gsi2(table_keys::notification_status_list(
            &n.tenant_id,
            n.status.as_str(),
            &sort,
        )))
    }
}

/// A notification and its delivery records, read with one query.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    pub notification: StoredNotification,
    pub version: u64,
    /// By channel name, with each record's version.
    pub records: BTreeMap<String, (DeliveryRecord, u64)>,
}

/// `GET /api/v1/events/{id}`: the notification and its per-channel deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: Notification,
    pub deliveries: Vec<DeliveryRecord>,
}

/// Filters of `GET /api/v1/events`.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub status: Option<NotificationStatus>,
    pub kind: Option<NotificationType>,
}

/// The id of the notification a tenant's dedupe key names: the same key always gives the same
/// id, so the record is its own idempotency record.
pub fn notification_id(tenant: &str, dedupe_key: &str) -> String {
    crate::ids::stable_id("ntf", &[tenant, dedupe_key])
}

fn check(new: &NewNotification) -> Result<()> {
    let bad = |message: String| Err(Error::invalid("invalid_notification", message));
    if new.title.trim().is_empty() || new.title.chars().count() > MAX_TITLE {
        return bad(format!("title must be 1–{MAX_TITLE} characters"));
    }
    if new.summary.chars().count() > MAX_SUMMARY {
        return bad(format!("summary must be at most {MAX_SUMMARY} characters"));
    }
    if new.dedupe_key.is_empty() || new.dedupe_key.len() > MAX_DEDUPE_KEY {
        return bad(format!("dedupe_key must be 1–{MAX_DEDUPE_KEY} bytes"));
    }
    if new
        .link_ref
        .as_ref()
        .is_some_and(|l| l.len() > MAX_LINK_REF)
    {
        return bad(format!("link_ref must be at most {MAX_LINK_REF} bytes"));
    }
    if !new.payload.is_object() {
        return bad("payload must be a JSON object".into());
    }
    if new.payload.to_string().len() > MAX_PAYLOAD_BYTES {
        return bad(format!("payload must be at most {MAX_PAYLOAD_BYTES} bytes"));
    }
    Ok(())
}

pub struct OutboxService {
    store: Arc<dyn ItemStore>,
    announcer: Arc<dyn Announcer>,
    outbox: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
}

impl OutboxService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        announcer: Arc<dyn Announcer>,
        outbox: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            announcer,
            outbox,
            clock,
        }
    }

    /// Writes `new` (redacted) once and queues it. A second emit with the same dedupe key
    /// returns the first notification and sends nothing; `created` tells which happened.
    pub async fn emit(&self, tenant: &str, new: NewNotification) -> Result<(Notification, bool)> {
        check(&new)?;
        let redactor = Redactor::new(&self.redaction(tenant).await?)
            .map_err(|e| Error::Internal(format!("stored redaction rules: {e}")))?;
        let now = self.clock.now();
        let mut payload = new.payload;
        redactor.redact_json(&mut payload);
        let notification = Notification {
            id: notification_id(tenant, &new.dedupe_key),
            tenant_id: tenant.to_owned(),
            kind: new.kind,
            severity: new.severity,
            title: redactor.redact_text(&new.title),
            summary: redactor.redact_text(&new.summary),
            link_ref: new.link_ref,
            dedupe_key: new.dedupe_key,
            payload,
            status: NotificationStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        let stored = StoredNotification {
            notification,
            handled_at: None,
            due_at: Some(now),
        };
        let message = to_json(&OutboxMessage {
            tenant_id: tenant.to_owned(),
            notification_id: stored.notification.id.clone(),
        })?;
        let announced = self
            .announcer
            .put_and_announce(
                stored.to_item()?,
                PutCondition::Absent,
                Announcement::Queue {
                    role: QueueRole::Outbox,
                    body: message,
                    delay: std::time::Duration::ZERO,
                },
            )
            .await;
        match announced {
            Ok(announced) => {
                if let Err(error) = announced.announcement {
                    tracing::warn!(tenant, notification_id = %stored.notification.id, %error,
                        "queueing failed; the sweeper will queue the notification");
                }
                Ok((stored.notification, true))
            }
            Err(StoreError::AlreadyExists) => {
                let existing = self.get(tenant, &stored.notification.id).await?;
                Ok((existing.notification, false))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// A `test.alert` through normal routing, retries and dead-lettering; never deduplicated.
    pub async fn emit_test_alert(
        &self,
        tenant: &str,
        severity: crate::severity::Severity,
        title: String,
        summary: String,
        requested_by: &str,
    ) -> Result<Notification> {
        let new = NewNotification {
            kind: NotificationType::TestAlert,
            severity,
            title,
            summary,
            link_ref: None,
            dedupe_key: crate::ids::new_id("test"),
            payload: serde_json::json!({"requested_by": requested_by}),
        };
        Ok(self.emit(tenant, new).await?.0)
    }

    /// The test of the run alerts: a SEV3 `test.alert` to every channel routed for it, as a
    /// failure alert would go (`POST /alert-settings/test` and the console's button).
    pub async fn emit_run_alert_test(
        &self,
        tenant: &str,
        requested_by: &str,
    ) -> Result<Notification> {
        self.emit_test_alert(
            tenant,
            crate::severity::Severity::Sev3,
            "Test failure alert".into(),
            "Vigil's run alerts reach this channel.".into(),
            requested_by,
        )
        .await
    }

    /// The notification and its delivery records, with one query.
    pub async fn state(&self, tenant: &str, id: &str) -> Result<Option<DeliveryState>> {
        if !crate::ids::looks_like("ntf", id) {
            return Ok(None);
        }
        let page = self
            .store
            .query(
                Query::partition(
                    Index::Primary,
                    table_keys::notification_partition(tenant, id),
                )
                .limit(100),
            )
            .await?;
        let mut notification = None;
        let mut records = BTreeMap::new();
        for item in &page.items {
            if item.key.sk == "NTF" {
                notification = Some((item.parse::<StoredNotification>()?, item.version));
            } else if let Some(channel) = item.key.sk.strip_prefix(table_keys::DELIVERY_PREFIX) {
                records.insert(
                    channel.to_owned(),
                    (item.parse::<DeliveryRecord>()?, item.version),
                );
            }
        }
        Ok(notification.map(|(notification, version)| DeliveryState {
            notification,
            version,
            records,
        }))
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<NotificationDetail> {
        let state = self
            .state(tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound("event".into()))?;
        Ok(NotificationDetail {
            notification: state.notification.notification,
            deliveries: state.records.into_values().map(|(r, _)| r).collect(),
        })
    }

    /// Newest first; status uses its index, type filters the pages read.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &NotificationFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Notification>, Option<Cursor>)> {
        let (index, partition) = match filter.status {
            Some(status) => (
                Index::Gsi2,
                table_keys::notification_status_list(tenant, status.as_str(), "").pk,
            ),
            None => (Index::Gsi1, table_keys::notification_list(tenant, "").pk),
        };
        let mut found = Vec::new();
        let mut cursor = cursor;
        // A type filter may drop whole pages; a call reads at most ten.
        for _ in 0..10 {
            let page = self
                .store
                .query(
                    Query::partition(index, partition.clone())
                        .descending()
                        .limit(limit - found.len() as u32)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let stored: StoredNotification = item.parse()?;
                if filter.kind.is_none_or(|k| stored.notification.kind == k) {
                    found.push(stored.notification);
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() || found.len() as u32 >= limit {
                break;
            }
        }
        Ok((found, cursor))
    }

    /// Gives every dead-lettered delivery of a notification a fresh budget and queues it again.
    /// Returns the channels re-queued; 409 when none had failed.
    pub async fn retry(&self, tenant: &str, id: &str, actor: &Actor) -> Result<Vec<String>> {
        let state = self
            .state(tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound("event".into()))?;
        let now = self.clock.now();
        let mut ops = Vec::new();
        let mut channels = Vec::new();
        for (channel, (record, version)) in &state.records {
            if let Some(retried) = record.retried(now) {
                ops.push(WriteOp::Put {
                    item: Item::new(
                        table_keys::delivery(tenant, id, channel),
                        to_json(&retried)?,
                    ),
                    condition: PutCondition::VersionEquals(*version),
                });
                channels.push(channel.clone());
            }
        }
        if channels.is_empty() {
            return Err(Error::Conflict(
                "no delivery of this event has failed; nothing to retry".into(),
            ));
        }
        let mut stored = state.notification;
        stored.notification.status = NotificationStatus::Pending;
        stored.notification.updated_at = now;
        stored.due_at = Some(now);
        ops.push(WriteOp::Put {
            item: stored.to_item()?,
            condition: PutCondition::VersionEquals(state.version),
        });
        ops.push(audit::record(tenant, actor, "event.retry", id, now));
        self.store.transact(ops).await.map_err(|e| match e {
            StoreError::TransactionCancelled { .. } => {
                Error::Conflict("the event changed meanwhile; try again".into())
            }
            other => other.into(),
        })?;
        self.queue(tenant, id, std::time::Duration::ZERO).await?;
        Ok(channels)
    }

    /// Queues a notification for the dispatcher.
    pub async fn queue(&self, tenant: &str, id: &str, delay: std::time::Duration) -> Result<()> {
        let message = to_json(&OutboxMessage {
            tenant_id: tenant.to_owned(),
            notification_id: id.to_owned(),
        })?;
        self.outbox.send(&message, delay).await?;
        Ok(())
    }

    /// Queues again the tenant's pending notifications that should have been dispatched more
    /// than a minute ago (queueing failed at emit, or a retry message was lost). Queueing one
    /// twice is harmless: delivery records make every channel's send happen once.
    pub async fn sweep(&self, tenant: &str) -> Result<usize> {
        let now = self.clock.now();
        let overdue_before = now - Duration::minutes(1);
        let cutoff = format!(
            "{}#~",
            overdue_before.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let page = self
            .store
            .query(
                Query::partition(
                    Index::Gsi2,
                    table_keys::notification_status_list(
                        tenant,
                        NotificationStatus::Pending.as_str(),
                        "",
                    )
                    .pk,
                )
                .sort(SortKey::LessOrEqual(cutoff))
                .limit(SWEEP_PAGE),
            )
            .await?;
        let mut queued = 0;
        for item in &page.items {
            let stored: StoredNotification = item.parse()?;
            if stored.due_at.is_some_and(|due| due <= overdue_before) {
                self.queue(tenant, &stored.notification.id, std::time::Duration::ZERO)
                    .await?;
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// The tenant's redaction rules (the defaults until it sets its own).
    pub async fn redaction(&self, tenant: &str) -> Result<RedactionRules> {
        match self.store.get(&table_keys::redaction(tenant)).await? {
            Some(item) => Ok(item.parse()?),
            None => Ok(RedactionRules::default()),
        }
    }

    pub async fn set_redaction(
        &self,
        tenant: &str,
        rules: RedactionRules,
        actor: &Actor,
    ) -> Result<RedactionRules> {
        rules.validate().map_err(|e| match e {
            // The schema states counts and lengths; whether a text is a regular expression
            // (of a bounded compiled size) only compiling it tells.
            RedactionError::BadPattern { .. } => {
                Error::unprocessable("invalid_redaction", e.to_string())
            }
            _ => Error::invalid("invalid_redaction", e.to_string()),
        })?;
        let now = self.clock.now();
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(table_keys::redaction(tenant), to_json(&rules)?),
                    condition: PutCondition::None,
                },
                audit::record(tenant, actor, "redaction.update", "redaction", now),
            ])
            .await?;
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dedupe_key_names_one_notification_per_tenant() {
        let a = notification_id("tnt_a", "anomaly:1");
        assert_eq!(a, notification_id("tnt_a", "anomaly:1"));
        assert_ne!(a, notification_id("tnt_b", "anomaly:1"));
        assert_ne!(a, notification_id("tnt_a", "anomaly:2"));
        assert!(crate::ids::looks_like("ntf", &a), "{a}");
    }
}
