//! A channel's test: one `test.alert` sent to it right away, outside the outbox, and what the
//! channel answered — the same for the API (`POST /channels/{id}/test`) and the console.

use serde::Serialize;

use super::Dispatcher;
use crate::Result;
use crate::delivery::notification::{Notification, NotificationStatus, NotificationType};
use crate::delivery::retry::SendOutcome;
use crate::severity::Severity;

/// What a test send got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelTestResult {
    pub delivered: bool,
    /// HTTP status the channel answered with (Slack and webhook channels).
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl ChannelTestResult {
    fn of(outcome: SendOutcome) -> Self {
        match outcome {
            SendOutcome::Delivered { status } => Self {
                delivered: true,
                status,
                error: None,
            },
            SendOutcome::Retry { error, .. } | SendOutcome::Permanent { error } => Self {
                delivered: false,
                status: status_in(&error),
                error: Some(error),
            },
        }
    }
}

/// The status of an `HTTP 503: …` error, if it names one.
fn status_in(error: &str) -> Option<u16> {
    error
        .strip_prefix("HTTP ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

impl Dispatcher {
    /// Sends a `test.alert` to the tenant's channel `id` now and reports its answer. Nothing is
    /// recorded: the test is not a notification of the tenant.
    pub async fn test_channel(&self, tenant: &str, id: &str) -> Result<ChannelTestResult> {
        let (channel, _) = self.parts.channels.get(tenant, id).await?;
        let now = self.parts.clock.now();
        let notification = Notification {
            id: crate::ids::new_id("ntf"),
            tenant_id: tenant.to_owned(),
            kind: NotificationType::TestAlert,
            severity: Severity::Sev4,
            title: format!("Test alert for channel {}", channel.name),
            summary: "Vigil can reach this channel.".into(),
            link_ref: None,
            dedupe_key: String::new(),
            payload: serde_json::json!({}),
            status: NotificationStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        Ok(ChannelTestResult::of(
            self.send(&notification, &channel).await,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_send_names_the_status_its_error_carries() {
        // GIVEN a receiver's 503, a network error, and a delivery
        let answered = SendOutcome::Retry {
            error: "HTTP 503: busy".into(),
            after: None,
        };
        let unreachable = SendOutcome::Permanent {
            error: "connection refused".into(),
        };
        // WHEN each is reported THEN only the answered one has a status
        assert_eq!(ChannelTestResult::of(answered).status, Some(503));
        let refused = ChannelTestResult::of(unreachable);
        assert_eq!((refused.delivered, refused.status), (false, None));
        let delivered = ChannelTestResult::of(SendOutcome::Delivered { status: Some(204) });
        assert!(delivered.delivered && delivered.error.is_none());
    }
}
