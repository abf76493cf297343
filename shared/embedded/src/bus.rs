//! `EventBus` on SQLite: the deployment's one bus rule, done locally. Events of the types its
//! [`BusRoutes`] name go to the workflow queue in their EventBridge envelope, as the AWS rule and
//! SQS target deliver them; others are accepted and go nowhere, as on EventBridge.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use vigil_core::ports::bus::{EVENT_SOURCE, validate_publish};
use vigil_core::ports::{
    BusEnvelope, BusError, BusEvent, BusRoutes, EventBus, RequestCounter, RequestCounts,
};

use crate::db::Database;
use crate::queue::insert_message;

/// Region written into local envelopes (AWS writes the deployment's region).
const LOCAL_REGION: &str = "local";

/// The event bus of the embedded backend.
pub struct SqliteBus {
    db: Arc<Database>,
    target: String,
    routes: BusRoutes,
    notify: Arc<Notify>,
    counter: RequestCounter,
}

impl SqliteBus {
    /// The queue routed events land in.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    pub(crate) fn new(
        db: Arc<Database>,
        target: String,
        routes: BusRoutes,
        notify: Arc<Notify>,
    ) -> Self {
        Self {
            db,
            target,
            routes,
            notify,
            counter: RequestCounter::default(),
        }
    }

    /// Checks a publish as EventBridge would, and returns the envelopes the bus rule routes to
    /// the workflow queue.
    pub(crate) fn routed_envelopes(&self, events: Vec<BusEvent>) -> Result<Vec<String>, BusError> {
        validate_publish(&events)?;
        events
            .into_iter()
            .filter(|event| self.routes.reaches_workflow_queue(&event.detail_type))
            .map(envelope)
            .collect()
    }
}

/// The envelope EventBridge would deliver for `event` (one `validate_publish` accepted), as JSON.
fn envelope(event: BusEvent) -> Result<String, BusError> {
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
    serde_json::to_string(&envelope).map_err(|e| BusError::Rejected {
        failed: 1,
        reason: e.to_string(),
    })
}

#[async_trait]
impl EventBus for SqliteBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        let bodies = self.routed_envelopes(events.to_vec())?;
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

    use crate::{EmbeddedBackend, test_routes};

    use super::*;

    #[tokio::test]
    async fn published_events_reach_the_workflow_queue_as_envelopes() {
        // GIVEN a backend
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
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
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
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
