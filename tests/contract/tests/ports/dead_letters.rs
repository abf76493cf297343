//! Dead letters on the queue port: outbox messages the queue gave up on are listed per tenant,
//! requeued to the outbox queue by id or all, and another tenant's are out of reach — the same
//! on SQLite and on SQS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_contract::{Backend, MAX_RECEIVES};
use vigil_core::delivery::dead_letters::{DeadLetterKind, DeadLetterService, Selection};
use vigil_core::delivery::outbox::{OutboxMessage, OutboxService};
use vigil_core::ports::queue::MAX_RECEIVE_BATCH;
use vigil_core::ports::{Queue, QueueRole};
use vigil_core::tenancy::audit::Actor;
use vigil_core::{Clock, Error, SystemClock};

vigil_contract::contract!(dead_letters_are_listed_and_requeued_per_tenant);

/// How long to keep reading until the queue has moved what it gave up on.
const DEADLINE: Duration = Duration::from_secs(30);

fn message(tenant: &str, notification: &str) -> String {
    serde_json::to_string(&OutboxMessage {
        tenant_id: tenant.to_owned(),
        notification_id: notification.to_owned(),
    })
    .unwrap()
}

/// Sends `bodies` to `queue` and receives them until the queue dead-letters every one.
async fn dead_letter(queue: &Arc<dyn Queue>, dlq: &Arc<dyn Queue>, bodies: &[String]) {
    for body in bodies {
        queue.send(body, Duration::ZERO).await.unwrap();
    }
    let deadline = Instant::now() + DEADLINE;
    while dlq.depth().await.unwrap() < bodies.len() as u64 {
        assert!(Instant::now() < deadline, "the queue never dead-lettered");
        queue
            .receive(MAX_RECEIVE_BATCH, Duration::ZERO, Duration::from_secs(1))
            .await
            .unwrap();
    }
}

/// The dead-letter service over the backend's outbox and its dead-letter queue.
fn dead_letter_service(b: &Backend) -> DeadLetterService {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ports = &b.ports;
    let outbox = Arc::new(OutboxService::new(
        ports.store.clone(),
        ports.announcer.clone(),
        ports.outbox.clone(),
        clock.clone(),
    ));
    DeadLetterService::new(
        outbox,
        ports.outbox.clone(),
        ports.outbox_dead_letters.clone(),
        ports.store.clone(),
        clock,
        ports.cipher.clone(),
    )
}

/// The bodies of up to `expected` messages of `queue`, waiting at most [`DEADLINE`] for them.
async fn receive_bodies(queue: &Arc<dyn Queue>, expected: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while bodies.len() < expected && Instant::now() < deadline {
        let batch = queue
            .receive(
                MAX_RECEIVE_BATCH,
                Duration::from_secs(30),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        bodies.extend(batch.into_iter().map(|received| received.body));
    }
    bodies
}

async fn dead_letters_are_listed_and_requeued_per_tenant(b: &Backend) {
    // GIVEN outbox messages of two tenants that the outbox queue gave up on
    let service = dead_letter_service(b);
    let dlq = b.dead_letter_queue(QueueRole::Outbox);
    let bodies = [
        message("tnt_a", "ntf_a1"),
        message("tnt_a", "ntf_a2"),
        message("tnt_b", "ntf_b1"),
    ];
    dead_letter(&b.ports.outbox, dlq, &bodies).await;

    // WHEN tenant a lists its dead letters
    let mut listed = service.list(Some("tnt_a")).await.unwrap();
    listed.sort_by(|x, y| x.notification_id.cmp(&y.notification_id));

    // THEN it sees its two messages, with how often they were received, and not b's
    let notifications: Vec<&str> = listed.iter().map(|l| l.notification_id.as_str()).collect();
    assert_eq!(notifications, ["ntf_a1", "ntf_a2"]);
    for letter in &listed {
        assert_eq!(letter.kind, DeadLetterKind::Message);
        assert_eq!(letter.tenant_id, "tnt_a");
        assert!(letter.receive_count.unwrap() >= MAX_RECEIVES, "{letter:?}");
    }
    // AND a listing hides nothing: the queue still holds all three, visible
    assert_eq!(service.list(None).await.unwrap().len(), 3);

    // WHEN tenant a asks for b's dead letter
    let b_letter = service.list(Some("tnt_b")).await.unwrap().remove(0);
    let refused = service
        .requeue(
            Some("tnt_a"),
            &Selection::Ids(vec![b_letter.id.clone()]),
            &Actor::Cli,
        )
        .await;

    // THEN it is not found, and nothing moved
    assert!(matches!(refused, Err(Error::NotFound(_))), "{refused:?}");
    assert_eq!(dlq.depth().await.unwrap(), 3);

    // WHEN tenant a requeues one by id, then all of its others
    let first = listed[0].id.clone();
    let requeued = service
        .requeue(
            Some("tnt_a"),
            &Selection::Ids(vec![first.clone()]),
            &Actor::Cli,
        )
        .await
        .unwrap();
    assert_eq!(requeued, vec![first]);
    let requeued = service
        .requeue(Some("tnt_a"), &Selection::All, &Actor::Cli)
        .await
        .unwrap();
    assert_eq!(requeued, vec![listed[1].id.clone()]);

    // THEN both of a's messages are back on the outbox queue, and only b's is left dead
    let mut back = receive_bodies(&b.ports.outbox, 2).await;
    back.sort();
    assert_eq!(back, [bodies[0].clone(), bodies[1].clone()]);
    let left = service.list(None).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, b_letter.id);
}
