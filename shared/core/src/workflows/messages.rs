//! What the workflow queue carries: domain events and Vigil's own events off the bus (in their
//! EventBridge envelope), and the executor's own "go on with this run" messages (delays that
//! ended, approvals granted, retries).

use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

pub use crate::anomaly::opened::{ANOMALY_OPENED, OpenedAnomaly};
pub use crate::cause::Cause;
use crate::ingest::DomainEvent;
use crate::ports::BusEvent;
use crate::workflows::clients::FOLLOWED_EVENT_TYPES;

/// The `detail-type`s the bus routes to the workflow queue: the events clients follow and
/// anomalies opened. No workflow starts from any other event, so others are not queued.
pub fn routed_detail_types() -> impl Iterator<Item = &'static str> {
    FOLLOWED_EVENT_TYPES
        .into_iter()
        .chain(std::iter::once(ANOMALY_OPENED))
}

/// A domain event as published on the bus: by ingest, or by a workflow step (`caused_by`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub tenant_id: String,
    pub event: DomainEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Cause>,
}

/// The executor's own message: go on with a run from where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunMessage {
    Advance { tenant_id: String, run_id: String },
}

/// One message of the workflow queue, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Event(PublishedEvent),
    Anomaly(OpenedAnomaly),
    Run(RunMessage),
    /// An event on the bus workflows do not act on.
    Other {
        detail_type: String,
    },
}

/// The parts of a workflow-queue message that tell what it is; the detail is read once that is
/// known, in one pass (the queue carries one message per ingested event).
#[derive(Deserialize)]
struct Envelope<'a> {
    /// Only the executor's own messages have it.
    #[serde(default, borrow)]
    kind: Option<&'a RawValue>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
}

/// A bus event's detail that may or may not be a published domain event.
#[derive(Deserialize)]
struct MaybePublished {
    tenant_id: Option<String>,
    event: Option<DomainEvent>,
    #[serde(default)]
    caused_by: Option<Cause>,
}

/// Reads a workflow-queue message; the error says why it can never be handled.
pub fn read(body: &str) -> Result<Incoming, String> {
    let envelope: Envelope =
        serde_json::from_str(body).map_err(|e| format!("not an event envelope: {e}"))?;
    if envelope.kind.is_some() {
        return serde_json::from_str(body)
            .map(Incoming::Run)
            .map_err(|e| format!("not a run message: {e}"));
    }
    let (Some(detail_type), Some(detail)) = (envelope.detail_type, envelope.detail) else {
        return Err("not an event envelope: no detail-type or detail".into());
    };
    if detail_type == ANOMALY_OPENED {
        return serde_json::from_str(detail.get())
            .map(Incoming::Anomaly)
            .map_err(|e| format!("not an opened anomaly: {e}"));
    }
    let maybe: MaybePublished = serde_json::from_str(detail.get())
        .map_err(|e| format!("not a published domain event: {e}"))?;
    match maybe {
        MaybePublished { event: None, .. } => Ok(Incoming::Other { detail_type }),
        MaybePublished {
            tenant_id: Some(tenant_id),
            event: Some(event),
            caused_by,
        } => Ok(Incoming::Event(PublishedEvent {
            tenant_id,
            event,
            caused_by,
        })),
        MaybePublished {
            tenant_id: None, ..
        } => Err("not a published domain event: missing field `tenant_id`".into()),
    }
}

/// The bus event of a workflow step's effect on a client.
pub fn effect(tenant: &str, event: DomainEvent, cause: Cause) -> BusEvent {
    let time = event.occurred_at;
    let detail_type = event.event_type.clone();
    let published = PublishedEvent {
        tenant_id: tenant.to_owned(),
        event,
        caused_by: Some(cause),
    };
    BusEvent {
        detail_type,
        detail: serde_json::to_value(&published).unwrap_or_else(|_| json!({})),
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_message_is_told_apart() {
        let advance = serde_json::to_string(&RunMessage::Advance {
            tenant_id: "t".into(),
            run_id: "wfr_1".into(),
        })
        .unwrap_or_default();
        assert!(matches!(read(&advance), Ok(Incoming::Run(_))));
        let envelope = |detail_type: &str, detail: serde_json::Value| {
            json!({"version": "0", "id": "x", "detail-type": detail_type, "source": "vigil",
                   "time": "2026-05-01T10:00:00Z", "detail": detail})
            .to_string()
        };
        let event = envelope(
            "client.activity",
            json!({"tenant_id": "t", "event": {"id": "e1", "type": "client.activity",
                   "occurred_at": "2026-05-01T10:00:00Z", "subject": {"client_id": "c"}, "data": {}}}),
        );
        assert!(matches!(read(&event), Ok(Incoming::Event(_))));
        let anomaly = envelope(
            ANOMALY_OPENED,
            json!({"tenant_id": "t", "anomaly_id": "anm_1", "rule": "payment_failures",
                   "severity": "SEV1", "title": "x", "subject": "account",
                   "detected_at": "2026-05-01T10:00:00Z"}),
        );
        assert!(matches!(read(&anomaly), Ok(Incoming::Anomaly(_))));
        assert!(matches!(
            read(&envelope("summary.ready", json!({"tenant_id": "t"}))),
            Ok(Incoming::Other { .. })
        ));
        assert!(read("not json").is_err());
    }
}
