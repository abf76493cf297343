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

mod channel_test;
mod notices;
mod sending;
mod status;

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use super::channels::{ChannelService, INBOX};
use super::outbox::{OutboxMessage, OutboxService};
use super::record::{DeliveryRecord, DeliveryStatus, Next};
use super::retry::{RetryPolicy, SendOutcome, next_wait};
use super::routing::{self, RoutingService};
use crate::ports::{ItemStore, Liveness, Notifiers};
use crate::{Clock, Error, Result};
pub use channel_test::ChannelTestResult;

/// The dispatcher function's timeout, in seconds (template.yaml `DispatcherFunction.Timeout`).
/// Delivery's other bounds derive from it, so they cannot drift apart.
pub const DISPATCHER_TIMEOUT_SECONDS: u64 = 30;

/// How long the channels of one notification may take, together: the function still has a
/// third of its time left to record the outcomes and queue the retries.
pub const DELIVERY_DEADLINE: std::time::Duration =
    std::time::Duration::from_secs(DISPATCHER_TIMEOUT_SECONDS * 2 / 3);

/// How long a claim on a delivery record keeps other dispatchers off it: several function
/// timeouts, so a claim never ends while its sends can still be running.
pub const DELIVERY_CLAIM: std::time::Duration =
    std::time::Duration::from_secs(DISPATCHER_TIMEOUT_SECONDS * 4);

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
    parts: DispatcherParts,
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
        Self { parts }
    }

    pub fn settings(&self) -> &DeliverySettings {
        &self.parts.settings
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
        let Some(state) = self
            .parts
            .outbox
            .state(tenant, &message.notification_id)
            .await?
        else {
            tracing::warn!(tenant, notification_id = %message.notification_id, "outbox message for an unknown notification; dropped");
            return Ok(DispatchReport::default());
        };
        let channels = self.parts.channels.by_name(tenant).await?;
        let routing = self.parts.routing.get(tenant).await?;
        let n = &state.notification.notification;
        let targets = routing::targets(routing.as_ref(), &channels, n.kind, n.severity);

        let now = self.parts.clock.now();
        let deadline = tokio::time::Instant::now() + self.parts.settings.deadline;
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
                Some(holder) => self.parts.liveness.is_gone(holder).await,
                None => false,
            },
            Next::Done | Next::WaitUntil(_) => false,
        }
    }

    fn conclude(&self, channel: &str, record: &DeliveryRecord, outcome: &SendOutcome) -> Attempt {
        let policy = &self.parts.settings.retry;
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
        let next = record.after_attempt(outcome, wait, exhausted, self.parts.clock.now());
        log_attempt(channel, &next, outcome, attempt_number);
        Attempt {
            channel: channel.to_owned(),
            dead_lettered: next.status == DeliveryStatus::Failed,
            record: next,
            over_quota: None,
        }
    }
}

/// One log line per delivery attempt: `info` when delivered, `warn` otherwise. Never the target's
/// URL or the payload; the error text is the one the delivery record keeps (URLs stripped).
fn log_attempt(channel: &str, next: &DeliveryRecord, outcome: &SendOutcome, attempt: u32) {
    match outcome {
        SendOutcome::Delivered { status } => tracing::info!(
            target: "vigil::delivery", channel, kind = ?next.kind, attempt, outcome = "delivered",
            http_status = *status, "delivery attempt"
        ),
        SendOutcome::Retry { error, .. } | SendOutcome::Permanent { error } => {
            let outcome = match next.status {
                DeliveryStatus::Failed => "dead_lettered",
                _ => "will_retry",
            };
            let next_attempt_at = next.next_attempt_at.map(|at| at.to_rfc3339());
            tracing::warn!(
                target: "vigil::delivery", channel, kind = ?next.kind, attempt, outcome,
                next_attempt_at, error, "delivery attempt failed"
            );
        }
    }
}
