//! `EventBus` on EventBridge: PutEvents to the deployment's bus, whose rule (made from the
//! deployment's `BusRoutes` by `bootstrap`, or by template.yaml) routes events to the workflow
//! queue.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use vigil_core::ports::bus::{EVENT_SOURCE, validate_publish};
use vigil_core::ports::{BusError, BusEvent, EventBus, RequestCounter, RequestCounts};

use crate::error::describe;

/// Largest PutEvents request, counted as EventBridge counts entries.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The event bus of the AWS backend.
pub struct EventBridgeBus {
    client: Client,
    bus: String,
    counter: RequestCounter,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            counter: RequestCounter::default(),
        }
    }
}

/// An event ready to send, with its size as EventBridge counts it.
struct Prepared {
    entry: PutEventsRequestEntry,
    size: usize,
}

/// The entry of an event `validate_publish` accepted.
fn prepare(event: &BusEvent, bus: &str) -> Result<Prepared, BusError> {
    let detail = serde_json::to_string(&event.detail).map_err(|e| BusError::Rejected {
        failed: 1,
        reason: e.to_string(),
    })?;
    // EventBridge's entry size: 14 bytes for the time, plus source, detail-type and detail.
    let size = 14 + EVENT_SOURCE.len() + event.detail_type.len() + detail.len();
    let time =
        DateTime::from_secs_and_nanos(event.time.timestamp(), event.time.timestamp_subsec_nanos());
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(EVENT_SOURCE)
        .detail_type(&event.detail_type)
        .detail(detail)
        .time(time)
        .build();
    Ok(Prepared { entry, size })
}

/// Splits entries into requests EventBridge accepts, keeping their order.
fn requests(prepared: Vec<Prepared>) -> Vec<Vec<PutEventsRequestEntry>> {
    let mut requests: Vec<Vec<PutEventsRequestEntry>> = Vec::new();
    let mut size = 0;
    for p in prepared {
        match requests.last_mut() {
            Some(current) if size + p.size <= MAX_REQUEST_BYTES => {
                size += p.size;
                current.push(p.entry);
            }
            _ => {
                size = p.size;
                requests.push(vec![p.entry]);
            }
        }
    }
    requests
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), BusError> {
        // Checked here, as the embedded bus does, so a malformed event fails the whole publish
        // instead of being the one EventBridge drops.
        validate_publish(events)?;
        let prepared = events
            .iter()
            .map(|event| prepare(event, &self.bus))
            .collect::<Result<Vec<_>, _>>()?;
        for entries in requests(prepared) {
            self.counter.publish();
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| BusError::Unavailable(describe(&e)))?;
            if output.failed_entry_count > 0 {
                let reason = output
                    .entries()
                    .iter()
                    .find_map(|e| {
                        e.error_code().map(|code| {
                            format!("{code}: {}", e.error_message().unwrap_or_default())
                        })
                    })
                    .unwrap_or_else(|| "no reason given".into());
                return Err(BusError::Rejected {
                    failed: usize::try_from(output.failed_entry_count).unwrap_or(0),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn event(detail: serde_json::Value) -> BusEvent {
        BusEvent {
            detail_type: "client.stage_changed".into(),
            detail,
            time: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn an_event_becomes_an_entry_on_the_bus_with_source_vigil() {
        // GIVEN an event
        let prepared = prepare(&event(serde_json::json!({"client": "c1"})), "vigil-bus").unwrap();

        // THEN its entry names the bus, the source, the type, the JSON detail and the time
        let entry = prepared.entry;
        assert_eq!(entry.event_bus_name(), Some("vigil-bus"));
        assert_eq!(entry.source(), Some("vigil"));
        assert_eq!(entry.detail_type(), Some("client.stage_changed"));
        assert_eq!(entry.detail(), Some(r#"{"client":"c1"}"#));
        assert_eq!(entry.time().map(|t| t.secs()), Some(1_772_366_400));
    }

    #[test]
    fn large_batches_are_split_into_requests_that_fit() {
        // GIVEN three events of ~100 KiB each
        let big = "x".repeat(100 * 1024);
        let prepared: Vec<_> = (0..3)
            .map(|_| prepare(&event(serde_json::json!({ "big": big })), "b").unwrap())
            .collect();

        // WHEN they are grouped into requests
        let requests = requests(prepared);

        // THEN two fit in the first request and the third goes alone
        assert_eq!(requests.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }
}
