//! `EventBus` on SQLite: the deployment's one bus rule, done locally. Events of the types the
//! rule routes ([`bus_rule_pattern`](vigil_core::ports::resources::bus_rule_pattern)) go to the
//! workflow queue in their EventBridge envelope, as the AWS rule and SQS target deliver them;
//! others are accepted and go nowhere, as on EventBridge.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use vigil_core::ports::bus::{EVENT_SOURCE, MAX_PUBLISH_BATCH};
use vigil_core::ports::queue::MAX_MESSAGE_BYTES;
use vigil_core::ports::{BusEnvelope, BusError, BusEvent, EventBus, RequestCounter, RequestCounts};
use vigil_core::workflows::messages::is_routed;

use crate::db::Database;
use crate::queue::insert_message;

/// Region written into local envelopes (AWS writes the deployment's region).
const LOCAL_REGION: &str = "local";

/// The event bus of the embedded backend.
pub struct SqliteBus {
    db: Arc<Database>,
    target: String,
    notify: Arc<Notify>,
    counter: RequestCounter,
}

impl SqliteBus {
    /// The queue every published event lands in.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    pub(crate) fn new(db: Arc<Database>, target: String, notify: Arc<Notify>) -> Self {
        Self {
            db,
            target,
            notify,
            counter: RequestCounter::default(),
        }
    }
}

/// The envelope EventBridge would deliver for `event`, as JSON.
pub(crate) fn envelope(event: BusEvent) -> Result<String, String> {
    if event.detail_type.is_empty() {
        return Err("an event has an empty detail-type".into());
    }
    if !event.detail.is_object() {
        return Err(format!(
            "the detail of {} is not a JSON object",
            event.detail_type
        ));
    }
    let envelope = BusEnvelope {
        version: "0".into(),
        id: ulid::Ulid::new().to_string(),
        detail_type: event.detail_type,
        source: EVENT_SOURCE.into(),
        account: None,
        time: event.time,
        region: LOCAL_REGION.into(),
        resources: Vec::new(),
        detail: event.detail,
    };
    let json = serde_json::to_string(&envelope).map_err(|e| e.to_string())?;
    if json.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the event {} is larger than 256 KiB",
            envelope.detail_type
        ));
    }
    Ok(json)
}

/// Checks a publish as EventBridge would, and returns the envelopes the bus rule routes to the
/// workflow queue.
pub(crate) fn routed_envelopes(events: Vec<BusEvent>) -> Result<Vec<String>, BusError> {
    if events.len() > MAX_PUBLISH_BATCH {
        return Err(BusError::BatchTooLarge(events.len()));
    }
    let mut bodies = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for event in events {
        let routed = is_routed(&event.detail_type);
        match envelope(event) {
            Ok(body) if routed => bodies.push(body),
            Ok(_) => {}
            Err(reason) => rejected.push(reason),
        }
    }
    match rejected.first() {
        Some(reason) => Err(BusError::Rejected {
            failed: rejected.len(),
            reason: reason.clone(),
        }),
        None => Ok(bodies),
    }
}

#[async_trait]
impl EventBus for SqliteBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        let bodies = routed_envelopes(events.to_vec())?;
        self.counter.publish();
        if bodies.is_empty() {
            return Ok(());
        }
        let target = self.target.clone();
        self.db
            .write_fails_clean(move |conn| {
                for body in &bodies {
                    insert_message(conn, &target, body, Duration::ZERO)
                        .map_err(|e| BusError::Unavailable(e.to_string()))?;
                }
                Ok(())
            })
            .await?;
        self.notify.notify_one();
        Ok(())
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use vigil_core::ports::ResourceNames;

    use crate::EmbeddedBackend;

    use super::*;

    #[tokio::test]
    async fn published_events_reach_the_workflow_queue_as_envelopes() {
        // GIVEN a backend
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default()).unwrap();
        let ports = backend.ports();
        let time = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let event = BusEvent {
            detail_type: "client.stage_changed".into(),
            detail: serde_json::json!({"client": "c1"}),
            time,
        };

        // WHEN an event is published
        ports.bus.publish(&[event]).await.unwrap();

        // THEN the workflow queue holds its EventBridge envelope, and the outbox nothing
        let got = ports
            .workflow_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        let envelope: BusEnvelope = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(envelope.detail_type, "client.stage_changed");
        assert_eq!(envelope.source, "vigil");
        assert_eq!(envelope.time, time);
        assert_eq!(envelope.detail, serde_json::json!({"client": "c1"}));
        assert_eq!(ports.outbox.depth().await.unwrap(), 0);
        assert_eq!(ports.bus.request_counts().publishes, 1);
    }

    #[tokio::test]
    async fn a_batch_with_a_malformed_event_publishes_nothing() {
        // GIVEN one good event and one whose detail is not an object
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default()).unwrap();
        let ports = backend.ports();
        let good = BusEvent {
            detail_type: "client.activity".into(),
            detail: serde_json::json!({}),
            time: Utc::now(),
        };
        let bad = BusEvent {
            detail_type: "client.activity".into(),
            detail: serde_json::json!(3),
            time: Utc::now(),
        };

        // WHEN they are published together
        let result = ports.bus.publish(&[good, bad]).await;

        // THEN the publish is rejected and no message was queued
        assert!(matches!(result, Err(BusError::Rejected { failed: 1, .. })));
        assert_eq!(ports.workflow_queue.depth().await.unwrap(), 0);
    }
}
