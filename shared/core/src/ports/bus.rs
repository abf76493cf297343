//! The event bus port: publish domain events. In AWS, EventBridge rules route them to queues;
//! the embedded bus routes them the same way, and both deliver the EventBridge envelope.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RequestCounts;
use super::queue::MAX_MESSAGE_BYTES;

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

/// Where the deployment's bus rule sends events: the `detail-type`s delivered to the workflow
/// queue (others are accepted and go nowhere, as on EventBridge). Data, handed to the bus
/// adapters by whoever builds the backend: the domain decides the list, adapters only route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BusRoutes {
    workflow_queue: Vec<String>,
}

impl BusRoutes {
    /// Routes the events of `detail_types` to the workflow queue.
    pub fn to_workflow_queue<I, S>(detail_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            workflow_queue: detail_types.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether events of `detail_type` reach the workflow queue.
    pub fn reaches_workflow_queue(&self, detail_type: &str) -> bool {
        self.workflow_queue
            .iter()
            .any(|routed| routed == detail_type)
    }

    /// The EventBridge event pattern of the rule: Vigil's events of the routed types.
    pub fn event_pattern(&self) -> serde_json::Value {
        serde_json::json!({
            "source": [EVENT_SOURCE],
            "detail-type": self.workflow_queue,
        })
    }
}

/// Why EventBridge would refuse `event`, or its envelope would not fit in one queue message.
pub fn validate_event(event: &BusEvent) -> Result<(), String> {
    if event.detail_type.is_empty() {
        return Err("an event has an empty detail-type".into());
    }
    if !event.detail.is_object() {
        return Err(format!(
            "the detail of {} is not a JSON object",
            event.detail_type
        ));
    }
    // Measured with the longest id, account and region an envelope carries.
    let envelope = BusEnvelope {
        version: "0".into(),
        id: "00000000-0000-0000-0000-000000000000".into(),
        detail_type: event.detail_type.clone(),
        source: EVENT_SOURCE.into(),
        account: Some("000000000000".into()),
        time: event.time,
        region: "us-east-1".into(),
        resources: Vec::new(),
        detail: event.detail.clone(),
    };
    let envelope_bytes = serde_json::to_string(&envelope)
        .map_err(|e| e.to_string())?
        .len();
    if envelope_bytes > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the event {} is larger than 256 KiB",
            event.detail_type
        ));
    }
    Ok(())
}

/// A publish is all or nothing: at most [`MAX_PUBLISH_BATCH`] events, and one malformed event
/// refuses the whole publish (instead of being the one EventBridge drops).
pub fn validate_publish(events: &[BusEvent]) -> Result<(), BusError> {
    if events.len() > MAX_PUBLISH_BATCH {
        return Err(BusError::BatchTooLarge(events.len()));
    }
    let rejected: Vec<String> = events
        .iter()
        .filter_map(|event| validate_event(event).err())
        .collect();
    match rejected.first() {
        Some(reason) => Err(BusError::Rejected {
            failed: rejected.len(),
            reason: reason.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn event(detail_type: &str, detail: serde_json::Value) -> BusEvent {
        BusEvent {
            detail_type: detail_type.into(),
            detail,
            time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn routes_are_the_listed_types_and_the_rule_pattern_names_them() {
        let routes = BusRoutes::to_workflow_queue(["client.stage_changed", "anomaly.opened"]);
        assert!(routes.reaches_workflow_queue("anomaly.opened"));
        assert!(!routes.reaches_workflow_queue("summary.ready"));
        assert_eq!(
            routes.event_pattern(),
            serde_json::json!({
                "source": ["vigil"],
                "detail-type": ["client.stage_changed", "anomaly.opened"],
            })
        );
    }

    #[test]
    fn a_publish_with_one_malformed_event_is_refused_whole() {
        let good = event("client.activity", serde_json::json!({}));
        let not_an_object = event("client.activity", serde_json::json!([1]));
        let untyped = event("", serde_json::json!({}));
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        let too_big = event("client.activity", serde_json::json!({ "big": big }));
        assert_eq!(validate_publish(std::slice::from_ref(&good)), Ok(()));
        assert!(matches!(
            validate_publish(&[good.clone(), not_an_object, untyped, too_big]),
            Err(BusError::Rejected { failed: 3, .. })
        ));
        let eleven = vec![good; MAX_PUBLISH_BATCH + 1];
        assert_eq!(validate_publish(&eleven), Err(BusError::BatchTooLarge(11)));
    }
}
