//! Delivery records: one per (notification, channel), the single source of truth for whether
//! that channel got it. A channel marked `sent` is never sent again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::channels::ChannelKind;
use super::retry::SendOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
}

/// What kind of target a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Slack,
    Webhook,
    Email,
    Inbox,
}

impl From<ChannelKind> for TargetKind {
    fn from(kind: ChannelKind) -> Self {
        match kind {
            ChannelKind::Slack => TargetKind::Slack,
            ChannelKind::Webhook => TargetKind::Webhook,
            ChannelKind::Email => TargetKind::Email,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    pub channel: String,
    pub kind: TargetKind,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending records that failed at least once).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// HTTP status of the last answer, when there was one.
    pub last_status: Option<u16>,
    pub sent_at: Option<DateTime<Utc>>,
    /// A dispatcher is sending until then; others leave the record alone.
    pub in_flight_until: Option<DateTime<Utc>>,
    /// The process instance that claimed it: once that instance is known to be gone, the claim
    /// no longer holds.
    #[serde(default)]
    pub claimed_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// What to do with a record found when a message is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sent or dead-lettered: nothing more, ever (until a manual retry).
    Done,
    /// Another dispatcher holds it right now.
    InFlight,
    /// A retry is scheduled for later.
    WaitUntil(DateTime<Utc>),
    /// Send now.
    Send,
}

impl DeliveryRecord {
    pub fn new(channel: &str, kind: TargetKind, now: DateTime<Utc>) -> Self {
        DeliveryRecord {
            channel: channel.to_owned(),
            kind,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            last_status: None,
            sent_at: None,
            in_flight_until: None,
            claimed_by: None,
            updated_at: now,
        }
    }

    pub fn next(&self, now: DateTime<Utc>) -> Next {
        match self.status {
            DeliveryStatus::Sent | DeliveryStatus::Failed => Next::Done,
            DeliveryStatus::Pending => {
                if self.in_flight_until.is_some_and(|until| until > now) {
                    Next::InFlight
                } else {
                    match self.next_attempt_at {
                        Some(due) if due > now => Next::WaitUntil(due),
                        _ => Next::Send,
                    }
                }
            }
        }
    }

    /// The record claimed by the process instance `by` until `until`.
    pub fn claimed(&self, now: DateTime<Utc>, until: DateTime<Utc>, by: &str) -> Self {
        DeliveryRecord {
            in_flight_until: Some(until),
            claimed_by: Some(by.to_owned()),
            updated_at: now,
            ..self.clone()
        }
    }

    /// The record after one attempt ended with `outcome`. `retry_wait` is the wait before the
    /// next attempt (already jittered, Retry-After applied); `exhausted` says this attempt was
    /// the last one allowed.
    pub fn after_attempt(
        &self,
        outcome: &SendOutcome,
        retry_wait: std::time::Duration,
        exhausted: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = DeliveryRecord {
            attempts: self.attempts.saturating_add(1),
            in_flight_until: None,
            claimed_by: None,
            updated_at: now,
            ..self.clone()
        };
        match outcome {
            SendOutcome::Delivered { status } => {
                next.status = DeliveryStatus::Sent;
                next.sent_at = Some(now);
                next.next_attempt_at = None;
                next.last_status = *status;
            }
            SendOutcome::Retry { error, .. } if !exhausted => {
                next.last_error = Some(error.clone());
                let wait = chrono::Duration::from_std(retry_wait)
                    .unwrap_or_else(|_| chrono::Duration::hours(12));
                next.next_attempt_at = Some(now + wait);
            }
            SendOutcome::Retry { error, .. } | SendOutcome::Permanent { error } => {
                next.status = DeliveryStatus::Failed;
                next.last_error = Some(error.clone());
                next.next_attempt_at = None;
            }
        }
        next
    }

    /// A dead-lettered record given a fresh budget by a manual retry.
    pub fn retried(&self, now: DateTime<Utc>) -> Option<Self> {
        (self.status == DeliveryStatus::Failed).then(|| DeliveryRecord {
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: None,
            in_flight_until: None,
            claimed_by: None,
            updated_at: now,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_record_walks_from_pending_to_sent_or_failed() {
        let now = Utc::now();
        let fresh = DeliveryRecord::new("default", TargetKind::Webhook, now);
        assert_eq!(fresh.next(now), Next::Send);

        let claimed = fresh.claimed(now, now + chrono::Duration::seconds(60), "ins_a");
        assert_eq!(claimed.next(now), Next::InFlight);
        assert_eq!(claimed.claimed_by.as_deref(), Some("ins_a"));

        let retry = SendOutcome::Retry {
            error: "HTTP 503".into(),
            after: None,
        };
        let waiting = claimed.after_attempt(&retry, Duration::from_secs(10), false, now);
        assert_eq!(waiting.status, DeliveryStatus::Pending);
        assert_eq!((waiting.attempts, waiting.claimed_by.as_ref()), (1, None));
        assert_eq!(
            waiting.next(now),
            Next::WaitUntil(now + chrono::Duration::seconds(10))
        );
        assert_eq!(
            waiting.next(now + chrono::Duration::seconds(10)),
            Next::Send
        );

        let sent = waiting.after_attempt(
            &SendOutcome::Delivered { status: Some(200) },
            Duration::ZERO,
            false,
            now,
        );
        assert_eq!(
            (sent.status, sent.attempts, sent.next(now)),
            (DeliveryStatus::Sent, 2, Next::Done)
        );
        assert!(sent.retried(now).is_none(), "only failed records retry");

        let dead = waiting.after_attempt(&retry, Duration::from_secs(10), true, now);
        assert_eq!(dead.status, DeliveryStatus::Failed);
        assert_eq!(dead.last_error.as_deref(), Some("HTTP 503"));
        let again = dead.retried(now).unwrap();
        assert_eq!((again.status, again.attempts), (DeliveryStatus::Pending, 0));
    }
}
