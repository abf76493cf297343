//! The dispatcher: handles one outbox message — sends the notification to every channel its
//! route names that has not had it yet, records each attempt, schedules retries with queue
//! delays and dead-letters a channel after its last attempt.
//!
//! Exactly once per channel: a channel is sent to only by the dispatcher that claimed its
//! delivery record (a conditional write), and never again once the record says `sent`. Two
//! dispatchers handling the same message race for the claim; the loser leaves that channel. A
//! claim names the process that holds it; when that process is known to be gone (it crashed
//! mid-send), the claim no longer holds and the channel is sent to again, with the same
//! webhook id.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use super::channels::{Channel, ChannelService, Destination, INBOX};
use super::inbox;
use super::notification::{NewNotification, Notification, NotificationStatus, NotificationType};
use super::outbox::{DeliveryState, OutboxMessage, OutboxService, StoredNotification};
use super::record::{DeliveryRecord, DeliveryStatus, Next, TargetKind};
use super::retry::{RetryPolicy, SendOutcome, classify_email, classify_http, next_wait};
use super::routing::{self, RoutingService};
use super::{email, slack, webhook};
use crate::deployment::{DELIVERY_CLAIM, DELIVERY_DEADLINE};
use crate::json::to_json;
use crate::ports::queue::MAX_DELAY;
use crate::ports::{HttpPost, Item, ItemStore, Liveness, Notifiers, PutCondition, StoreError};
use crate::{Clock, Error, Result, keys};

/// How long a claim keeps other dispatchers off a record.
fn claim_length() -> chrono::Duration {
    chrono::Duration::from_std(DELIVERY_CLAIM).unwrap_or_else(|_| chrono::Duration::minutes(2))
}

/// Settings of delivery, from configuration.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub retry: RetryPolicy,
    /// How long the channels of one notification may take together (at most
    /// [`DELIVERY_DEADLINE`]); a channel without an answer by then is retried.
    pub deadline: std::time::Duration,
    /// Failure drill: every send fails (`VIGIL_DISPATCH_FORCE_FAIL=1`).
    pub force_fail: bool,
    /// Base URL people open Vigil at; links in messages are built on it when set.
    pub public_url: Option<String>,
    /// Emails each email channel may send per UTC day; past it, a delivery fails for good.
    pub email_daily_quota: NonZeroU32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            deadline: DELIVERY_DEADLINE,
            force_fail: false,
            public_url: None,
            email_daily_quota: DEFAULT_EMAIL_DAILY_QUOTA,
        }
    }
}

/// Emails an email channel may send per UTC day unless configured otherwise.
pub const DEFAULT_EMAIL_DAILY_QUOTA: NonZeroU32 = NonZeroU32::new(1_000).expect("not zero");

/// The code a delivery refused by the email quota is recorded with (its `last_error` starts so).
pub const EMAIL_QUOTA_EXCEEDED: &str = "email_quota_exceeded";

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
    liveness: Arc<dyn Liveness>,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
}

/// What a dispatcher is made of.
pub struct DispatcherParts {
    pub store: Arc<dyn ItemStore>,
    pub outbox: Arc<OutboxService>,
    pub channels: Arc<ChannelService>,
    pub routing: Arc<RoutingService>,
    pub notifiers: Notifiers,
    pub liveness: Arc<dyn Liveness>,
    pub clock: Arc<dyn Clock>,
    pub settings: DeliverySettings,
}

/// Result of sending to one target, recorded.
struct Attempt {
    channel: String,
    record: DeliveryRecord,
    dead_lettered: bool,
    /// Refused unsent: the channel's email quota for the day was used up.
    over_quota: Option<QuotaSpent>,
}

/// An email channel's quota, used up on `day` (UTC).
#[derive(Debug, Clone)]
struct QuotaSpent {
    quota: NonZeroU32,
    day: chrono::NaiveDate,
}

impl Dispatcher {
    pub fn new(parts: DispatcherParts) -> Self {
        let DispatcherParts {
            store,
            outbox,
            channels,
            routing,
            notifiers,
            liveness,
            clock,
            settings,
        } = parts;
        Self {
            store,
            outbox,
            channels,
            routing,
            notifiers,
            liveness,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Handles one outbox message body. An `Err` means "try this message again later" (the
    /// store or the queue is down); everything about the channels themselves is recorded.
    ///
    /// The channels are sent to concurrently, under one deadline; each channel's outcome is
    /// recorded as soon as its own send ends, so a slow channel never holds back the record of
    /// one that already has the notification.
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
        let deadline = tokio::time::Instant::now() + self.settings.deadline;
        let channels = &channels;
        let outcomes = join_all(targets.iter().map(|name| {
            let existing = state.records.get(name);
            async move {
                if !self.is_due(existing, now).await {
                    return Ok(None);
                }
                if name == INBOX {
                    return self.deliver_to_inbox(n, existing, now).await.map(Some);
                }
                match channels.get(name) {
                    Some(channel) => {
                        self.deliver_to_channel(n, channel, existing, now, deadline)
                            .await
                    }
                    None => Ok(None),
                }
            }
        }))
        .await;

        let mut report = DispatchReport::default();
        let mut attempts = Vec::new();
        let mut failure = None;
        for (name, outcome) in targets.iter().zip(outcomes) {
            match outcome {
                Ok(Some(attempt)) => attempts.push(attempt),
                Ok(None) => report.skipped.push(name.clone()),
                // The other channels' outcomes are recorded; this one is tried again with the
                // message.
                Err(error) => failure = Some(error),
            }
        }
        for attempt in &attempts {
            match attempt.record.status {
                DeliveryStatus::Sent => report.sent.push(attempt.channel.clone()),
                DeliveryStatus::Pending => report.retrying.push(attempt.channel.clone()),
                DeliveryStatus::Failed => report.dead_lettered.push(attempt.channel.clone()),
            }
        }
        self.update_status(tenant, &state, &targets, &attempts)
            .await?;
        for attempt in attempts.iter().filter(|a| a.dead_lettered) {
            match &attempt.over_quota {
                Some(spent) => self.emit_quota_notice(n, &attempt.channel, spent).await,
                None => self.emit_dead_letter_notice(n, &attempt.record).await,
            }
        }
        self.schedule_next(tenant, &state, &attempts, now).await?;
        if let Some(error) = failure {
            return Err(error);
        }
        tracing::info!(tenant, notification_id = %n.id, ?report, "notification dispatched");
        Ok(report)
    }

    /// Whether a target should be sent to now: never handled, or its retry is due, or the
    /// process that claimed it is gone (it stopped mid-send, so whether the channel got the
    /// notification is unknown, and at least once means sending again).
    async fn is_due(&self, existing: Option<&(DeliveryRecord, u64)>, now: DateTime<Utc>) -> bool {
        let Some((record, _)) = existing else {
            return true;
        };
        match record.next(now) {
            Next::Send => true,
            Next::InFlight => match &record.claimed_by {
                Some(holder) => self.liveness.is_gone(holder).await,
                None => false,
            },
            Next::Done | Next::WaitUntil(_) => false,
        }
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
        deadline: tokio::time::Instant,
    ) -> Result<Option<Attempt>> {
        let record = existing.map_or_else(
            || DeliveryRecord::new(&channel.name, channel.destination.kind().into(), now),
            |(record, _)| record.clone(),
        );
        let claim = record.claimed(now, now + claim_length(), self.liveness.instance_id());
        let condition = match existing {
            Some((_, version)) => PutCondition::VersionEquals(*version),
            None => PutCondition::Absent,
        };
        let key = keys::delivery(&n.tenant_id, &n.id, &channel.name);
        let claimed_version = match self
            .store
            .put(Item::new(key.clone(), to_json(&claim)?), condition)
            .await
        {
            Ok(version) => version,
            // Another dispatcher claimed it first: it is theirs to send.
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let over_quota = self.spend_email_quota(n, channel, now).await?;
        let outcome = if self.settings.force_fail {
            forced_failure()
        } else if let Some(spent) = &over_quota {
            SendOutcome::Permanent {
                error: format!(
                    "{EMAIL_QUOTA_EXCEEDED}: the channel sent its {} emails of {} (UTC); nothing more is sent to it that day",
                    spent.quota, spent.day
                ),
            }
        } else {
            match tokio::time::timeout_at(deadline, self.send(n, channel)).await {
                Ok(outcome) => outcome,
                Err(_) => SendOutcome::Retry {
                    error: format!(
                        "no answer within the delivery deadline ({} s)",
                        self.settings.deadline.as_secs_f64()
                    ),
                    after: None,
                },
            }
        };
        let mut attempt = self.conclude(&channel.name, &claim, &outcome);
        attempt.over_quota = over_quota;
        match self
            .store
            .put(
                Item::new(key, to_json(&attempt.record)?),
                PutCondition::VersionEquals(claimed_version),
            )
            .await
        {
            Ok(_) => Ok(Some(attempt)),
            // The claim was taken over meanwhile: the record is the new holder's now.
            Err(StoreError::VersionConflict) => {
                tracing::warn!(channel = %channel.name, notification_id = %n.id,
                    "the delivery record changed while sending; its outcome is not recorded");
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Counts one email of `channel` against its quota for the UTC day (one atomic add on a
    /// counter every instance shares); `Some` when this one is past it. Other kinds of channel
    /// have no quota.
    async fn spend_email_quota(
        &self,
        n: &Notification,
        channel: &Channel,
        now: DateTime<Utc>,
    ) -> Result<Option<QuotaSpent>> {
        if !matches!(channel.destination, Destination::Email { .. }) {
            return Ok(None);
        }
        let day = now.date_naive();
        let counters = self
            .store
            .add(
                &keys::email_quota(&n.tenant_id, &channel.name, &day.to_string()),
                &BTreeMap::from([("sends".to_owned(), 1)]),
            )
            .await?;
        let quota = self.settings.email_daily_quota;
        let sends = counters.get("sends").copied().unwrap_or(0);
        Ok((sends > i64::from(quota.get())).then_some(QuotaSpent { quota, day }))
    }

    /// The inbox needs no claim: its item is written once, conditionally, in one transaction
    /// with its badge count; its delivery record follows.
    async fn deliver_to_inbox(
        &self,
        n: &Notification,
        existing: Option<&(DeliveryRecord, u64)>,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
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
        let attempt = self.conclude(INBOX, &record, &outcome);
        let condition = match existing {
            Some((_, version)) => PutCondition::VersionEquals(*version),
            None => PutCondition::Absent,
        };
        let key = keys::delivery(&n.tenant_id, &n.id, INBOX);
        match self
            .store
            .put(Item::new(key, to_json(&attempt.record)?), condition)
            .await
        {
            // Written meanwhile by another dispatcher handling the same message: the item is in
            // the inbox once either way.
            Ok(_) | Err(StoreError::VersionConflict | StoreError::AlreadyExists) => Ok(attempt),
            Err(other) => Err(other.into()),
        }
    }

    fn conclude(&self, channel: &str, record: &DeliveryRecord, outcome: &SendOutcome) -> Attempt {
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
            over_quota: None,
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

    /// Writes the notification's status as its deliveries now add up (each attempt's record is
    /// written already); re-reads them when someone else wrote meanwhile.
    async fn update_status(
        &self,
        tenant: &str,
        state: &DeliveryState,
        targets: &[String],
        attempts: &[Attempt],
    ) -> Result<()> {
        let Some(updated) = self.updated_notification(state, targets, attempts) else {
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
            Ok(_) => Ok(()),
            Err(StoreError::VersionConflict) => {
                self.refresh_status(tenant, &state.notification.notification.id, targets)
                    .await
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

    /// Tells the inbox an email channel used up its quota: once per channel and UTC day (the
    /// dedupe key), however many deliveries it refuses.
    async fn emit_quota_notice(&self, n: &Notification, channel: &str, spent: &QuotaSpent) {
        let notice = NewNotification {
            kind: NotificationType::DeliveryDeadLettered,
            severity: n.severity,
            title: format!(
                "Email channel {channel} reached its daily quota of {}",
                spent.quota
            ),
            summary: format!(
                "Emails to {channel} are not sent until the end of {} (UTC); each refused delivery \
                 is recorded as failed with {EMAIL_QUOTA_EXCEEDED}. The first refused: {}",
                spent.day, n.title
            ),
            link_ref: Some(format!("event:{}", n.id)),
            dedupe_key: format!("email-quota:{channel}:{}", spent.day),
            payload: serde_json::json!({
                "code": EMAIL_QUOTA_EXCEEDED,
                "channel": channel,
                "quota": spent.quota.get(),
                "day": spent.day,
                "event_id": n.id,
            }),
        };
        if let Err(error) = self.outbox.emit(&n.tenant_id, notice).await {
            tracing::error!(notification_id = %n.id, %error, "could not emit the email quota notice");
        }
    }
}

fn forced_failure() -> SendOutcome {
    SendOutcome::Retry {
        error: "forced failure (VIGIL_DISPATCH_FORCE_FAIL is set)".into(),
        after: None,
    }
}
