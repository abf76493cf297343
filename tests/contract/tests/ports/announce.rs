//! `Announcer`: a record is written and announced together; a refused put announces nothing.

use std::time::{Duration, Instant};

use serde_json::json;
use vigil_contract::Backend;
use vigil_core::ports::{
    Announcement, BusEnvelope, BusEvent, Item, Key, PutCondition, Queue, QueueRole, StoreError,
};

vigil_contract::contract!(
    a_written_record_is_published_to_the_bus,
    a_refused_put_publishes_nothing,
    a_written_record_is_queued_with_its_delay,
    a_refused_announcement_leaves_the_put_standing,
);

/// The delay of the queued announcement, honoured to within `SLACK` (moto keeps whole seconds
/// in places).
const DELAY: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_millis(500);

fn record(sort: &str) -> Item {
    Item::new(Key::new("T#a#EVT", sort), r#"{"n":1}"#)
}

fn event(n: i64) -> BusEvent {
    BusEvent {
        detail_type: "client.activity".into(),
        detail: json!({"n": n}),
        time: chrono::DateTime::from_timestamp(1_795_000_000 + n, 0).unwrap(),
    }
}

/// How long to wait for what must arrive (at once when the port works: this only bounds a
/// failure).
const PATIENCE: Duration = Duration::from_secs(30);

/// Bodies on `queue`, waiting up to `patience` for `expected` of them.
async fn drain(queue: &dyn Queue, expected: usize, patience: Duration) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + patience;
    while bodies.len() < expected && Instant::now() < deadline {
        for message in queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
        {
            bodies.push(message.body);
            queue.delete(&message.receipt).await.unwrap();
        }
    }
    bodies
}

async fn a_written_record_is_published_to_the_bus(b: &Backend) {
    // GIVEN a new record and its event
    // WHEN it is put and announced
    let announced = b
        .ports
        .announcer
        .put_and_announce(
            record("1"),
            PutCondition::Absent,
            Announcement::Bus(vec![event(1)]),
        )
        .await
        .unwrap();

    // THEN the record is stored and the event reaches the workflow queue
    assert_eq!(announced.version, 1);
    assert!(announced.announcement.is_ok());
    assert!(
        b.ports
            .store
            .get(&Key::new("T#a#EVT", "1"))
            .await
            .unwrap()
            .is_some()
    );
    let bodies = drain(b.ports.workflow_queue.as_ref(), 1, PATIENCE).await;
    assert_eq!(bodies.len(), 1);
    let envelope: BusEnvelope = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(envelope.detail, json!({"n": 1}));
}

async fn a_refused_put_publishes_nothing(b: &Backend) {
    // GIVEN a record that already exists, announced once
    let announcer = &b.ports.announcer;
    announcer
        .put_and_announce(
            record("1"),
            PutCondition::Absent,
            Announcement::Bus(vec![event(1)]),
        )
        .await
        .unwrap();
    assert_eq!(
        drain(b.ports.workflow_queue.as_ref(), 1, PATIENCE)
            .await
            .len(),
        1
    );
    let before = b.ports.request_counts();

    // WHEN it is put again on the condition that it is absent
    let again = announcer
        .put_and_announce(
            record("1"),
            PutCondition::Absent,
            Announcement::Bus(vec![event(2)]),
        )
        .await;

    // THEN the typed refusal comes back, one write was tried and nothing was published
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    let spent = b.ports.request_counts().since(&before);
    assert_eq!((spent.writes, spent.publishes, spent.reads), (1, 0, 0));

    // AND nothing reaches the workflow queue: a record announced after it arrives alone
    announcer
        .put_and_announce(
            record("2"),
            PutCondition::Absent,
            Announcement::Bus(vec![event(3)]),
        )
        .await
        .unwrap();
    let bodies = drain(b.ports.workflow_queue.as_ref(), 1, PATIENCE).await;
    let details: Vec<serde_json::Value> = bodies
        .iter()
        .map(|body| serde_json::from_str::<BusEnvelope>(body).unwrap().detail)
        .collect();
    assert_eq!(details, [json!({"n": 3})]);
    assert_eq!(b.ports.workflow_queue.depth().await.unwrap(), 0);
}

async fn a_written_record_is_queued_with_its_delay(b: &Backend) {
    // GIVEN a record and an outbox message delayed by two seconds
    let before = b.ports.request_counts();

    // WHEN it is put and announced
    let announcing = Instant::now();
    let announced = b
        .ports
        .announcer
        .put_and_announce(
            record("n1"),
            PutCondition::Absent,
            Announcement::Queue {
                role: QueueRole::Outbox,
                body: "notify n1".into(),
                delay: DELAY,
            },
        )
        .await
        .unwrap();

    // THEN it costs one write and one send
    assert!(announced.announcement.is_ok());
    let spent = b.ports.request_counts().since(&before);
    assert_eq!((spent.writes, spent.queue_sends), (1, 1));

    // AND the message is invisible at first (when the delay cannot have ended yet), then
    // arrives on the outbox only, not before its delay
    let early = b
        .ports
        .outbox
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let looked = announcing.elapsed();
    if looked < DELAY - SLACK {
        assert!(early.is_empty(), "{looked:?} after announcing: {early:?}");
    }
    let mut bodies: Vec<String> = Vec::new();
    for message in early {
        b.ports.outbox.delete(&message.receipt).await.unwrap();
        bodies.push(message.body);
    }
    if bodies.is_empty() {
        bodies = drain(b.ports.outbox.as_ref(), 1, PATIENCE).await;
    }
    assert_eq!(bodies, vec!["notify n1".to_owned()]);
    assert!(
        announcing.elapsed() >= DELAY - SLACK,
        "{:?}",
        announcing.elapsed()
    );
    assert_eq!(b.ports.workflow_queue.depth().await.unwrap(), 0);
}

async fn a_refused_announcement_leaves_the_put_standing(b: &Backend) {
    // GIVEN an announcement no queue accepts (a delay beyond the 15-minute limit)
    // WHEN a record is put with it
    let announced = b
        .ports
        .announcer
        .put_and_announce(
            record("late"),
            PutCondition::Absent,
            Announcement::Queue {
                role: QueueRole::Workflows,
                body: "x".into(),
                delay: Duration::from_secs(16 * 60),
            },
        )
        .await
        .unwrap();

    // THEN the record is written and the failure is reported for the caller to park
    assert!(announced.announcement.is_err());
    assert!(
        b.ports
            .store
            .get(&Key::new("T#a#EVT", "late"))
            .await
            .unwrap()
            .is_some()
    );
}
