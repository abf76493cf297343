//! The dispatcher: handles one outbox message — sends the notification to every channel its
//! route names that has not had it yet, records each attempt, schedules retries with queue
//! delays and dead-letters a channel after its last attempt.
//!
//! Exactly once per channel: a channel is sent to only by the dispatcher that claimed its
//! delivery record (a conditional write), and never again once the record says `sent`. Two
//! dispatchers handling the same message race for the claim; the loser leaves that channel.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::channels::{Channel, ChannelService, Destination, INBOX};
use super::inbox;
use super::notification::{NewNotification, Notification, NotificationStatus, NotificationType};
use super::outbox::{DeliveryState, OutboxMessage, OutboxService, StoredNotification};
use super::record::{DeliveryRecord, DeliveryStatus, Next, TargetKind};
use super::retry::{RetryPolicy, SendOutcome, classify_email, classify_http, next_wait};
use super::routing::{self, RoutingService};
use super::{email, slack, webhook};
use crate::ports::queue::MAX_DELAY;
use crate::ports::{HttpPost, Item, ItemStore, Notifiers, PutCondition, StoreError, WriteOp};
use crate::tenancy::tenants::to_json;
use crate::{Clock, Error, Result, keys};

/// How long a claim keeps other dispatchers off a record: longer than the sends it covers.
const CLAIM: chrono::Duration = chrono::Duration::minutes(2);

/// Settings of delivery, from configuration.
#[derive(Debug, Clone, Default)]
pub struct DeliverySettings {
    pub retry: RetryPolicy,
    /// Failure drill: every send fails (`VIGIL_DISPATCH_FORCE_FAIL=1`).
    pub force_fail: bool,
    /// Base URL people open Vigil at; links in messages are built on it when set.
    pub public_url: Option<String>,
}

/// What one handled message did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: Vec<String>,
    pub retrying: Vec<String>,
    pub dead_lettered: Vec<String>,
    /// Channels another dispatcher was sending to, or already done.
    pub skipped: Vec<String>,
}

pub struct Dispatcher {
    store: Arc<dyn ItemStore>,
    outbox: Arc<OutboxService>,
    channels: Arc<ChannelService>,
    routing: Arc<RoutingService>,
    notifiers: Notifiers,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
}

/// Result of sending to one target.
struct Attempt {
    channel: String,
    record: DeliveryRecord,
    claimed_version: Option<u64>,
    dead_lettered: bool,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn ItemStore>,
        outbox: Arc<OutboxService>,
        channels: Arc<ChannelService>,
        routing: Arc<RoutingService>,
        notifiers: Notifiers,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            store,
            outbox,
            channels,
            routing,
            notifiers,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Handles one outbox message body. An `Err` means "try this message again later" (the
    /// store or the queue is down); everything about the channels themselves is recorded.
    pub async fn handle(&self, body: &str) -> Result<DispatchReport> {
        let message: OutboxMessage = serde_json::from_str(body)
            .map_err(|e| Error::invalid("invalid_message", format!("outbox message: {e}")))?;
        let tenant = &message.tenant_id;
        let Some(state) = self.outbox.state(tenant, &message.notification_id).await? else {
            tracing::warn!(tenant, notification_id = %message.notification_id, "outbox message for an unknown notification; dropped");
            return Ok(DispatchReport::default());
        };
        let channels = self.channels.by_name(tenant).await?;
        let routing = self.routing.get(tenant).await?;
        let n = &state.notification.notification;
        let targets = routing::targets(routing.as_ref(), &channels, n.kind, n.severity);

        let now = self.clock.now();
        let mut report = DispatchReport::default();
        let mut attempts = Vec::new();
        for name in &targets {
            let existing = state.records.get(name);
            let next = existing.map_or(Next::Send, |(record, _)| record.next(now));
            if next != Next::Send {
                report.skipped.push(name.clone());
                continue;
            }
            let attempt = if name == INBOX {
                self.deliver_to_inbox(n, existing, now).await?
            } else {
                match channels.get(name) {
                    Some(channel) => self.deliver_to_channel(n, channel, existing, now).await?,
                    None => None,
                }
            };
            match attempt {
                Some(attempt) => attempts.push(attempt),
                None => report.skipped.push(name.clone()),
            }
        }
        for attempt in &attempts {
            match attempt.record.status {
                DeliveryStatus::Sent => report.sent.push(attempt.channel.clone()),
                DeliveryStatus::Pending => report.retrying.push(attempt.channel.clone()),
                DeliveryStatus::Failed => report.dead_lettered.push(attempt.channel.clone()),
            }
        }
        self.record(tenant, &state, &targets, &attempts).await?;
        for attempt in attempts.iter().filter(|a| a.dead_lettered) {
            self.emit_dead_letter_notice(n, &attempt.record).await;
        }
        self.schedule_next(tenant, &state, &attempts, now).await?;
        tracing::info!(tenant, notification_id = %n.id, ?report, "notification dispatched");
        Ok(report)
    }

    /// Sends `n` to `channel` right away, outside the outbox (`POST /channels/{id}/test`).
    pub async fn send_now(&self, n: &Notification, channel: &Channel) -> SendOutcome {
        self.send(n, channel).await
    }

    async fn deliver_to_channel(
        &self,
        n: &Notification,
        channel: &Channel,
        existing: Option<&(DeliveryRecord, u64)>,
        now: DateTime<Utc>,
    ) -> Result<Option<Attempt>> {
        let record = existing.map_or_else(
            || DeliveryRecord::new(&channel.name, channel.destination.kind().into(), now),
            |(record, _)| record.clone(),
        );
        let claim = record.claimed(now, now + CLAIM);
        let condition = match existing {
            Some((_, version)) => PutCondition::VersionEquals(*version),
            None => PutCondition::Absent,
        };
        let key = keys::delivery(&n.tenant_id, &n.id, &channel.name);
        let claimed_version = match self
            .store
            .put(Item::new(key, to_json(&claim)?), condition)
            .await
        {
            Ok(version) => version,
            // Another dispatcher claimed it first: it is theirs to send.
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let outcome = if self.settings.force_fail {
            forced_failure()
        } else {
            self.send(n, channel).await
        };
        Ok(Some(self.conclude(
            &channel.name,
            &claim,
            &outcome,
            Some(claimed_version),
        )))
    }

    /// The inbox needs no claim: its item is written once, conditionally, in one transaction
    /// with its badge count (and, in [`Self::record`], its delivery record).
    async fn deliver_to_inbox(
        &self,
        n: &Notification,
        existing: Option<&(DeliveryRecord, u64)>,
        now: DateTime<Utc>,
    ) -> Result<Option<Attempt>> {
        let record = existing.map_or_else(
            || DeliveryRecord::new(INBOX, TargetKind::Inbox, now),
            |(record, _)| record.clone(),
        );
        let outcome = if self.settings.force_fail {
            forced_failure()
        } else {
            match self.store.transact(inbox::delivery_writes(n)?).await {
                Ok(()) => SendOutcome::Delivered { status: None },
                // Already in the inbox (an earlier attempt whose record was not written).
                Err(StoreError::TransactionCancelled { index: 0, .. }) => {
                    SendOutcome::Delivered { status: None }
                }
                Err(other) => return Err(other.into()),
            }
        };
        let mut attempt = self.conclude(INBOX, &record, &outcome, None);
        attempt.claimed_version = existing.map(|(_, version)| *version);
        Ok(Some(attempt))
    }

    fn conclude(
        &self,
        channel: &str,
        record: &DeliveryRecord,
        outcome: &SendOutcome,
        claimed_version: Option<u64>,
    ) -> Attempt {
        let policy = &self.settings.retry;
        let attempt_number = record.attempts.saturating_add(1);
        let exhausted = policy.is_exhausted(attempt_number);
        let retry_after = match outcome {
            SendOutcome::Retry { after, .. } => *after,
            _ => None,
        };
        let wait = next_wait(
            retry_after,
            policy.delay_before_attempt(attempt_number, rand::random::<f64>()),
        );
        let next = record.after_attempt(outcome, wait, exhausted, self.clock.now());
        if let SendOutcome::Retry { error, .. } | SendOutcome::Permanent { error } = outcome {
            tracing::warn!(
                channel,
                attempt = attempt_number,
                error,
                "delivery attempt failed"
            );
        }
        Attempt {
            channel: channel.to_owned(),
            dead_lettered: next.status == DeliveryStatus::Failed,
            record: next,
            claimed_version,
        }
    }

    async fn send(&self, n: &Notification, channel: &Channel) -> SendOutcome {
        let link = self.link_url(n);
        match &channel.destination {
            Destination::Slack { url } => {
                let body = slack::slack_message(n, link.as_deref()).to_string();
                let post = HttpPost {
                    url: url.expose().to_owned(),
                    headers: Vec::new(),
                    body: body.into_bytes(),
                };
                classify_http(&self.notifiers.http.post(post).await)
            }
            Destination::Webhook { url, secrets } => {
                let body = webhook::webhook_body(n).to_string().into_bytes();
                let timestamp = self.clock.now().timestamp();
                // The webhook id is the notification's, the same on every retry, so the
                // receiver can drop repeats.
                let headers = match webhook::signed_headers(secrets, &n.id, timestamp, &body) {
                    Ok(headers) => headers,
                    Err(e) => {
                        return SendOutcome::Permanent {
                            error: format!("signing failed: {e}"),
                        };
                    }
                };
                let post = HttpPost {
                    url: url.expose().to_owned(),
                    headers,
                    body,
                };
                classify_http(&self.notifiers.http.post(post).await)
            }
            Destination::Email { to } => {
                let message = email::email_message(n, to, link.as_deref());
                classify_email(&self.notifiers.email.send(&message).await)
            }
        }
    }

    fn link_url(&self, n: &Notification) -> Option<String> {
        let base = self.settings.public_url.as_deref()?;
        Some(format!(
            "{}/api/v1/inbox/{}",
            base.trim_end_matches('/'),
            inbox::item_id(&n.id)
        ))
    }

    /// Writes every attempt's record and the notification's new status in one transaction.
    async fn record(
        &self,
        tenant: &str,
        state: &DeliveryState,
        targets: &[String],
        attempts: &[Attempt],
    ) -> Result<()> {
        let n = &state.notification.notification;
        let mut ops = Vec::with_capacity(attempts.len() + 1);
        for attempt in attempts {
            let condition = match attempt.claimed_version {
                Some(version) => PutCondition::VersionEquals(version),
                None => PutCondition::Absent,
            };
            ops.push(WriteOp::Put {
                item: Item::new(
                    keys::delivery(tenant, &n.id, &attempt.channel),
                    to_json(&attempt.record)?,
                ),
                condition,
            });
        }
        let updated = self.updated_notification(state, targets, attempts);
        if let Some(updated) = &updated {
            ops.push(WriteOp::Put {
                item: updated.to_item()?,
                condition: PutCondition::VersionEquals(state.version),
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        match self.store.transact(ops.clone()).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { index, .. }) => {
                // Someone else wrote meanwhile: keep each write that still holds, then let the
                // notification's status follow the records as they now are.
                for (i, op) in ops.into_iter().enumerate() {
                    if i == index || updated.is_some() && i == attempts.len() {
                        continue;
                    }
                    if let WriteOp::Put { item, condition } = op {
                        match self.store.put(item, condition).await {
                            Ok(_)
                            | Err(StoreError::VersionConflict | StoreError::AlreadyExists) => {}
                            Err(other) => return Err(other.into()),
                        }
                    }
                }
                self.refresh_status(tenant, &n.id, targets).await
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Re-reads a notification and writes its status if its records say otherwise.
    async fn refresh_status(&self, tenant: &str, id: &str, targets: &[String]) -> Result<()> {
        for _ in 0..3 {
            let Some(state) = self.outbox.state(tenant, id).await? else {
                return Ok(());
            };
            let Some(updated) = self.updated_notification(&state, targets, &[]) else {
                return Ok(());
            };
            match self
                .store
                .put(
                    updated.to_item()?,
                    PutCondition::VersionEquals(state.version),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::VersionConflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }

    /// The notification with the status its deliveries add up to, if that differs from what
    /// is stored (or it was never handled).
    fn updated_notification(
        &self,
        state: &DeliveryState,
        targets: &[String],
        attempts: &[Attempt],
    ) -> Option<StoredNotification> {
        let latest = |name: &String| -> Option<&DeliveryRecord> {
            attempts
                .iter()
                .find(|a| &a.channel == name)
                .map(|a| &a.record)
                .or_else(|| state.records.get(name).map(|(r, _)| r))
        };
        let records: Vec<Option<&DeliveryRecord>> = targets.iter().map(latest).collect();
        let status = if records
            .iter()
            .all(|r| r.is_some_and(|r| r.status == DeliveryStatus::Sent))
        {
            NotificationStatus::Sent
        } else if records
            .iter()
            .any(|r| r.is_none_or(|r| r.status == DeliveryStatus::Pending))
        {
            NotificationStatus::Pending
        } else {
            NotificationStatus::Failed
        };
        let due_at = if status == NotificationStatus::Pending {
            records
                .iter()
                .flatten()
                .filter(|r| r.status == DeliveryStatus::Pending)
                .filter_map(|r| r.next_attempt_at.or(r.in_flight_until))
                .min()
                .or(state.notification.due_at)
        } else {
            None
        };
        let stored = &state.notification;
        let now = self.clock.now();
        if stored.notification.status == status
            && stored.handled_at.is_some()
            && stored.due_at == due_at
        {
            return None;
        }
        let mut updated = stored.clone();
        updated.notification.status = status;
        updated.notification.updated_at = now;
        updated.handled_at = stored.handled_at.or(Some(now));
        updated.due_at = due_at;
        Some(updated)
    }

    /// Queues the notification again for its earliest pending retry (in steps of at most the
    /// queue's longest delay).
    async fn schedule_next(
        &self,
        tenant: &str,
        state: &DeliveryState,
        attempts: &[Attempt],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut due: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for (name, (record, _)) in &state.records {
            if let Next::WaitUntil(at) = record.next(now) {
                due.insert(name, at);
            }
        }
        for attempt in attempts {
            due.remove(attempt.channel.as_str());
            if let Some(at) = attempt.record.next_attempt_at
                && attempt.record.status == DeliveryStatus::Pending
            {
                due.insert(&attempt.channel, at);
            }
        }
        let Some(earliest) = due.values().min() else {
            return Ok(());
        };
        let wait = (*earliest - now)
            .to_std()
            .unwrap_or_default()
            .min(MAX_DELAY);
        self.outbox
            .queue(tenant, &state.notification.notification.id, wait)
            .await
    }

    /// Tells the inbox a channel gave up. Never for a notice about a notice.
    async fn emit_dead_letter_notice(&self, n: &Notification, record: &DeliveryRecord) {
        if n.kind == NotificationType::DeliveryDeadLettered {
            return;
        }
        let notice = NewNotification {
            kind: NotificationType::DeliveryDeadLettered,
            severity: n.severity,
            title: format!("Delivery to {} failed: {}", record.channel, n.title),
            summary: format!(
                "Gave up after {} attempt(s). Last error: {}",
                record.attempts,
                record.last_error.as_deref().unwrap_or("unknown")
            ),
            link_ref: Some(format!("event:{}", n.id)),
            dedupe_key: format!(
                "dead-letter:{}:{}:{}",
                n.id,
                record.channel,
                record.updated_at.timestamp_millis()
            ),
            payload: serde_json::json!({
                "event_id": n.id,
                "channel": record.channel,
                "attempts": record.attempts,
                "last_error": record.last_error,
            }),
        };
        if let Err(error) = self.outbox.emit(&n.tenant_id, notice).await {
            tracing::error!(notification_id = %n.id, %error, "could not emit the dead-letter notice");
        }
    }
}

fn forced_failure() -> SendOutcome {
    SendOutcome::Retry {
        error: "forced failure (VIGIL_DISPATCH_FORCE_FAIL is set)".into(),
        after: None,
    }
}
