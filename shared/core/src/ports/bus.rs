//! The event bus port: publish domain events. In AWS, EventBridge rules route them to queues;
//! the embedded bus routes them the same way, and both deliver the EventBridge envelope.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RequestCounts;

/// `source` of every event Vigil publishes.
pub const EVENT_SOURCE: &str = "vigil";

/// A domain event on its way to the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    /// Event type, e.g. `client.stage_changed`; becomes EventBridge `detail-type`.
    pub detail_type: String,
    /// The event itself.
    pub detail: serde_json::Value,
    /// EventBridge keeps whole seconds: the envelope's `time` is this instant truncated to the
    /// second.
    pub time: DateTime<Utc>,
}

/// What a queue subscribed to the bus receives: the EventBridge envelope.
/// (`account` is optional: the local emulator leaves it out.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEnvelope {
    #[serde(default)]
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: serde_json::Value,
}

/// Most events one publish call carries (EventBridge: 10).
pub const MAX_PUBLISH_BATCH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("too many events in one publish ({0}, at most 10)")]
    BatchTooLarge(usize),
    #[error("{failed} of the events were not accepted: {reason}")]
    Rejected { failed: usize, reason: String },
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes up to [`MAX_PUBLISH_BATCH`] events; all or an error.
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError>;

    fn request_counts(&self) -> RequestCounts;
}
