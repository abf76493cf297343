//! `EventBus`: published events of the types workflows act on reach the workflow queue in their
//! EventBridge envelope; others go nowhere.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use vigil_contract::Backend;
use vigil_core::ports::bus::{EVENT_SOURCE, MAX_PUBLISH_BATCH};
use vigil_core::ports::{BusEnvelope, BusError, BusEvent, RequestCounts};

vigil_contract::contract!(
    published_events_reach_the_workflow_queue_in_their_envelope,
    events_no_workflow_acts_on_are_not_queued,
    a_full_batch_is_one_publish_and_every_event_arrives,
    more_than_ten_events_are_refused,
    a_publish_with_a_malformed_event_delivers_nothing,
);

/// EventBridge keeps whole seconds.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000 + seconds, 0).unwrap()
}

fn event(detail_type: &str, n: i64) -> BusEvent {
    BusEvent {
        detail_type: detail_type.into(),
        detail: json!({"tenant_id": "tnt_1", "n": n, "nested": {"list": [1, "two", null]}}),
        time: at(n),
    }
}

/// Every envelope on the workflow queue, waiting up to 30 s for `expected` of them (they come at
/// once when the bus works: the wait only bounds a failure).
async fn delivered(b: &Backend, expected: usize) -> Vec<BusEnvelope> {
    let queue = &b.ports.workflow_queue;
    let mut envelopes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while envelopes.len() < expected && Instant::now() < deadline {
        for message in queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
        {
            let envelope: BusEnvelope = serde_json::from_str(&message.body)
                .unwrap_or_else(|e| panic!("not an envelope ({e}): {}", message.body));
            envelopes.push(envelope);
            queue.delete(&message.receipt).await.unwrap();
        }
    }
    envelopes.sort_by_key(|e| e.detail["n"].as_i64());
    envelopes
}

async fn published_events_reach_the_workflow_queue_in_their_envelope(b: &Backend) {
    // GIVEN two domain events
    let events = [event("client.stage_changed", 1), event("anomaly.opened", 2)];

    // WHEN they are published
    b.ports.bus.publish(&events).await.unwrap();

    // THEN the workflow queue receives each in its EventBridge envelope
    let envelopes = delivered(b, 2).await;
    assert_eq!(envelopes.len(), 2, "{envelopes:?}");
    for (envelope, event) in envelopes.iter().zip(&events) {
        assert_eq!(envelope.source, EVENT_SOURCE);
        assert_eq!(envelope.detail_type, event.detail_type);
        assert_eq!(envelope.detail, event.detail);
        assert_eq!(envelope.time, event.time);
        assert!(!envelope.id.is_empty());
    }
    assert_ne!(envelopes[0].id, envelopes[1].id);

    // AND the outbox receives nothing
    assert_eq!(b.ports.outbox.depth().await.unwrap(), 0);
}

async fn events_no_workflow_acts_on_are_not_queued(b: &Backend) {
    // GIVEN an event of a type no workflow starts from, and one of a type they do
    let ignored = event("payment.failed", 1);
    let followed = event("client.activity", 2);

    // WHEN the first is published, then the second
    b.ports.bus.publish(&[ignored]).await.unwrap();
    b.ports
        .bus
        .publish(std::slice::from_ref(&followed))
        .await
        .unwrap();

    // THEN the second reaches the workflow queue, and once it has, so would have the first,
    // published before it through the same bus: nothing else is there
    let envelopes = delivered(b, 1).await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    assert_eq!(envelopes[0].detail_type, followed.detail_type);
    assert_eq!(b.ports.workflow_queue.depth().await.unwrap(), 0);
}

async fn a_full_batch_is_one_publish_and_every_event_arrives(b: &Backend) {
    // GIVEN ten events, the most one publish carries
    let events: Vec<BusEvent> = (0..MAX_PUBLISH_BATCH as i64)
        .map(|n| event("client.kpi_updated", n))
        .collect();

    // WHEN they are published
    let before = b.ports.request_counts();
    b.ports.bus.publish(&events).await.unwrap();

    // THEN that is one publish request, and all ten arrive
    let publishes = RequestCounts {
        publishes: 1,
        ..RequestCounts::default()
    };
    assert_eq!(b.ports.request_counts().since(&before), publishes);
    let envelopes = delivered(b, events.len()).await;
    let ns: Vec<i64> = envelopes
        .iter()
        .filter_map(|e| e.detail["n"].as_i64())
        .collect();
    assert_eq!(ns, (0..MAX_PUBLISH_BATCH as i64).collect::<Vec<_>>());
}

async fn more_than_ten_events_are_refused(b: &Backend) {
    // GIVEN eleven events
    let events: Vec<BusEvent> = (0..11).map(|n| event("client.activity", n)).collect();

    // WHEN they are published in one call
    let result = b.ports.bus.publish(&events).await;

    // THEN the call is refused
    assert_eq!(result, Err(BusError::BatchTooLarge(11)));

    // AND nothing of it is delivered: an event published after it arrives alone
    let marker = event("client.activity", 100);
    b.ports
        .bus
        .publish(std::slice::from_ref(&marker))
        .await
        .unwrap();
    let envelopes = delivered(b, 1).await;
    let ns: Vec<Option<i64>> = envelopes.iter().map(|e| e.detail["n"].as_i64()).collect();
    assert_eq!(ns, [Some(100)]);
    assert_eq!(b.ports.workflow_queue.depth().await.unwrap(), 0);
}

async fn a_publish_with_a_malformed_event_delivers_nothing(b: &Backend) {
    // GIVEN a good event and one whose detail is not a JSON object
    let good = event("client.activity", 1);
    let malformed = BusEvent {
        detail: json!([1, 2]),
        ..event("client.activity", 2)
    };

    // WHEN they are published together
    let result = b.ports.bus.publish(&[good, malformed]).await;

    // THEN the whole publish is refused, naming the one that failed
    assert!(
        matches!(&result, Err(BusError::Rejected { failed: 1, reason }) if reason.contains("not a JSON object")),
        "{result:?}"
    );

    // AND nothing of it is delivered: an event published after it arrives alone
    b.ports
        .bus
        .publish(&[event("client.activity", 100)])
        .await
        .unwrap();
    let envelopes = delivered(b, 1).await;
    let ns: Vec<Option<i64>> = envelopes.iter().map(|e| e.detail["n"].as_i64()).collect();
    assert_eq!(ns, [Some(100)]);
}
