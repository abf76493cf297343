//! Notifications: what Vigil tells people. Each is written once per `(tenant, dedupe_key)` to the
//! outbox and delivered to every channel its route names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// The kinds of notification Vigil emits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum NotificationType {
    #[serde(rename = "anomaly.opened")]
    AnomalyOpened,
    #[serde(rename = "anomaly.resolved")]
    AnomalyResolved,
    #[serde(rename = "threshold.exceeded")]
    ThresholdExceeded,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "delivery.dead_lettered")]
    DeliveryDeadLettered,
    #[serde(rename = "summary.ready")]
    SummaryReady,
    #[serde(rename = "test.alert")]
    TestAlert,
    #[serde(rename = "scan.completed")]
    ScanCompleted,
    /// Sent by a workflow step, or about a workflow run (an approval timed out, a loop).
    #[serde(rename = "workflow.notification")]
    WorkflowNotification,
}

impl NotificationType {
    pub const ALL: [NotificationType; 9] = [
        NotificationType::AnomalyOpened,
        NotificationType::AnomalyResolved,
        NotificationType::ThresholdExceeded,
        NotificationType::ApprovalRequested,
        NotificationType::DeliveryDeadLettered,
        NotificationType::SummaryReady,
        NotificationType::TestAlert,
        NotificationType::ScanCompleted,
        NotificationType::WorkflowNotification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::AnomalyOpened => "anomaly.opened",
            NotificationType::AnomalyResolved => "anomaly.resolved",
            NotificationType::ThresholdExceeded => "threshold.exceeded",
            NotificationType::ApprovalRequested => "approval.requested",
            NotificationType::DeliveryDeadLettered => "delivery.dead_lettered",
            NotificationType::SummaryReady => "summary.ready",
            NotificationType::TestAlert => "test.alert",
            NotificationType::ScanCompleted => "scan.completed",
            NotificationType::WorkflowNotification => "workflow.notification",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// What an emitter hands to the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// What the notification is about, e.g. `anomaly:anm_01…`; the inbox links to it.
    #[serde(default)]
    pub link_ref: Option<String>,
    /// A second emit with the same key returns the first notification and sends nothing.
    pub dedupe_key: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Where a notification stands over all its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Some channel has not been delivered yet and may still be.
    Pending,
    /// Every channel was delivered.
    Sent,
    /// No channel is pending and at least one was dead-lettered.
    Failed,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
        }
    }
}

/// A notification as stored (already redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    pub tenant_id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    pub link_ref: Option<String>,
    pub dedupe_key: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub status: NotificationStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
