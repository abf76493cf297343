//! `Queue`: send / receive / delete, delays, visibility, dead-lettering, limits, depth.
//! Delays and visibility timeouts are a second or two: moto applies them in real time. How soon
//! things happen is the benchmarks' business: a receive that expects a message waits up to
//! [`PATIENCE`] for it, and a check that something is still hidden counts only when it was made
//! before the hiding could have ended.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_contract::{Backend, MAX_RECEIVES};
use vigil_core::ports::queue::{MAX_DELAY, MAX_MESSAGE_BYTES, MAX_RECEIVE_BATCH};
use vigil_core::ports::{Queue, QueueError, QueueRole, ReceivedMessage, RequestCounts};

vigil_contract::contract!(
    a_sent_message_is_received_once_then_deleted,
    each_queue_and_dead_letter_queue_is_separate,
    a_receive_returns_at_most_ten_and_draining_yields_each_message_once,
    a_waiting_receive_returns_a_message_sent_meanwhile,
    a_delayed_message_is_hidden_until_its_delay_ends,
    an_expired_visibility_timeout_redelivers_the_message,
    changing_visibility_to_zero_makes_the_message_visible,
    a_message_received_too_often_moves_to_the_dead_letter_queue,
    invalid_receipts_are_refused,
    a_batch_delete_answers_each_receipt,
    delays_and_bodies_beyond_the_limits_are_refused,
    depth_counts_visible_and_in_flight_messages,
    request_counts_move_one_per_send_and_receive,
);

const SECOND: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(30);
/// The longest wait a receive may ask for (SQS's 20 s): it returns as soon as a message is
/// there. Shorter than [`LONG`], so a message hidden for `LONG` cannot arrive within it.
const PATIENCE: Duration = Duration::from_secs(20);
/// How long to keep trying for something that takes several receives.
const DEADLINE: Duration = Duration::from_secs(30);
/// A delay or visibility timeout is honoured to within this much (moto keeps whole seconds
/// in places).
const SLACK: Duration = Duration::from_millis(500);

/// One receive that must return exactly one message.
async fn receive_one(
    queue: &Arc<dyn Queue>,
    visibility: Duration,
    wait: Duration,
) -> ReceivedMessage {
    let mut got = queue.receive(1, visibility, wait).await.unwrap();
    assert_eq!(got.len(), 1, "expected one message, got {got:?}");
    got.remove(0)
}

async fn assert_empty(queue: &Arc<dyn Queue>, context: &str) {
    let got = queue
        .receive(MAX_RECEIVE_BATCH, LONG, Duration::ZERO)
        .await
        .unwrap();
    assert!(got.is_empty(), "{context}: {got:?}");
}

async fn a_sent_message_is_received_once_then_deleted(b: &Backend) {
    for role in QueueRole::ALL {
        // GIVEN a message on the queue
        let queue = b.ports.queue(role);
        let id = queue
            .send(r#"{"hello":"world"}"#, Duration::ZERO)
            .await
            .unwrap();

        // WHEN it is received
        let message = receive_one(queue, LONG, PATIENCE).await;

        // THEN it carries its id, body and first receive, and is hidden from other receivers
        assert_eq!(message.message_id, id, "{role:?}");
        assert_eq!(message.body, r#"{"hello":"world"}"#, "{role:?}");
        assert_eq!(message.receive_count, 1, "{role:?}");
        assert_empty(queue, "while in flight").await;

        // WHEN it is deleted
        queue.delete(&message.receipt).await.unwrap();

        // THEN it is gone for good
        assert_eq!(queue.depth().await.unwrap(), 0, "{role:?}");
        assert_empty(queue, "after delete").await;
    }
}

async fn each_queue_and_dead_letter_queue_is_separate(b: &Backend) {
    // GIVEN a message on the outbox
    b.ports
        .outbox
        .send("for the outbox", Duration::ZERO)
        .await
        .unwrap();

    // WHEN every other queue is read
    // THEN none of them has it
    assert_empty(&b.ports.workflow_queue, "workflow queue").await;
    for role in QueueRole::ALL {
        assert_empty(b.dead_letter_queue(role), "dead-letter queue").await;
        assert_eq!(b.dead_letter_queue(role).depth().await.unwrap(), 0);
    }
    assert_eq!(b.ports.workflow_queue.depth().await.unwrap(), 0);

    // AND the outbox has it
    let message = receive_one(&b.ports.outbox, LONG, PATIENCE).await;
    assert_eq!(message.body, "for the outbox");
}

async fn a_receive_returns_at_most_ten_and_draining_yields_each_message_once(b: &Backend) {
    // GIVEN twelve messages
    let queue = &b.ports.workflow_queue;
    let mut sent = BTreeSet::new();
    for n in 0..12 {
        let body = format!("message {n:02}");
        queue.send(&body, Duration::ZERO).await.unwrap();
        sent.insert(body);
    }

    // WHEN the queue is received from, asking for more than a receive may return
    let mut received = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while received.len() < sent.len() && Instant::now() < deadline {
        let batch = queue.receive(50, LONG, SECOND).await.unwrap();
        assert!(
            batch.len() <= MAX_RECEIVE_BATCH as usize,
            "{} in one receive",
            batch.len()
        );
        received.extend(batch);
    }

    // THEN every message arrives exactly once
    let bodies: Vec<String> = received.iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies.len(), sent.len(), "{bodies:?}");
    assert_eq!(bodies.into_iter().collect::<BTreeSet<_>>(), sent);
    let ids: BTreeSet<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), sent.len());
}

async fn a_waiting_receive_returns_a_message_sent_meanwhile(b: &Backend) {
    // GIVEN a receive waiting on an empty queue, as long as a receive may wait
    let queue = Arc::clone(&b.ports.outbox);
    let receives_before = queue.request_counts().queue_receives;
    let waiting = tokio::spawn({
        let queue = Arc::clone(&queue);
        async move { queue.receive(1, LONG, PATIENCE).await }
    });
    let deadline = Instant::now() + DEADLINE;
    while queue.request_counts().queue_receives == receives_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // (a moment for its request to reach the queue)
    tokio::time::sleep(Duration::from_millis(300)).await;

    // WHEN a message is sent while it waits
    assert!(!waiting.is_finished(), "the receive ended before the send");
    queue.send("late", Duration::ZERO).await.unwrap();

    // THEN the waiting receive returns it: its wait is not over, or it would return nothing
    let got = waiting.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "late");
}

async fn a_delayed_message_is_hidden_until_its_delay_ends(b: &Backend) {
    // GIVEN a message sent with a 2 s delay
    let queue = &b.ports.outbox;
    let delay = Duration::from_secs(2);
    let sent = Instant::now();
    queue.send("later", delay).await.unwrap();

    // WHEN the queue is read at once
    // THEN it counts in the depth, and is not there yet if the delay cannot have ended
    assert!(queue.depth().await.unwrap() >= 1);
    let early = queue
        .receive(MAX_RECEIVE_BATCH, LONG, Duration::ZERO)
        .await
        .unwrap();
    let looked = sent.elapsed();
    if looked < delay - SLACK {
        assert!(
            early.is_empty(),
            "during the delay, {looked:?} after the send: {early:?}"
        );
    }

    // WHEN the queue is read waiting past the delay
    let message = match early.into_iter().next() {
        Some(message) => message,
        None => receive_one(queue, LONG, PATIENCE).await,
    };

    // THEN it arrives, and not before its delay
    assert_eq!(message.body, "later");
    assert_eq!(message.receive_count, 1);
    assert!(sent.elapsed() >= delay - SLACK, "{:?}", sent.elapsed());
}

async fn an_expired_visibility_timeout_redelivers_the_message(b: &Backend) {
    // GIVEN a message received with a 1 s visibility timeout and not deleted
    let queue = &b.ports.workflow_queue;
    queue.send("retry me", Duration::ZERO).await.unwrap();
    let receiving = Instant::now();
    let first = receive_one(queue, SECOND, PATIENCE).await;

    // (hidden from another receiver, as long as the timeout cannot have run out)
    let meanwhile = queue
        .receive(MAX_RECEIVE_BATCH, LONG, Duration::ZERO)
        .await
        .unwrap();
    let looked = receiving.elapsed();
    if looked < SECOND - SLACK {
        assert!(
            meanwhile.is_empty(),
            "while hidden, {looked:?} after the receive: {meanwhile:?}"
        );
    }

    // WHEN the timeout runs out
    let second = match meanwhile.into_iter().next() {
        Some(message) => message,
        None => receive_one(queue, LONG, PATIENCE).await,
    };

    // THEN the same message comes again, not before the timeout ran out (it started no earlier
    // than the first receive was asked for), received twice, with a new receipt
    assert!(
        receiving.elapsed() >= SECOND - SLACK,
        "{:?}",
        receiving.elapsed()
    );
    assert_eq!(second.message_id, first.message_id);
    assert_eq!(second.body, "retry me");
    assert_eq!((first.receive_count, second.receive_count), (1, 2));
    assert_ne!(second.receipt, first.receipt);

    // AND the new receipt deletes it
    queue.delete(&second.receipt).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}

async fn changing_visibility_to_zero_makes_the_message_visible(b: &Backend) {
    // GIVEN a message hidden for 30 s
    let queue = &b.ports.outbox;
    queue.send("give back", Duration::ZERO).await.unwrap();
    let first = receive_one(queue, LONG, PATIENCE).await;

    // WHEN its visibility is changed to zero
    queue
        .change_visibility(&first.receipt, Duration::ZERO)
        .await
        .unwrap();

    // THEN it can be received again at once
    let again = receive_one(queue, LONG, PATIENCE).await;
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.receive_count, 2);

    // WHEN its visibility is extended instead
    queue.change_visibility(&again.receipt, LONG).await.unwrap();

    // THEN it stays hidden
    assert_empty(queue, "after extending").await;
}

async fn a_message_received_too_often_moves_to_the_dead_letter_queue(b: &Backend) {
    for role in QueueRole::ALL {
        // GIVEN a message received as often as the queue allows, never deleted
        let queue = b.ports.queue(role);
        let dlq = b.dead_letter_queue(role);
        queue
            .send(r#"{"poison":true}"#, Duration::ZERO)
            .await
            .unwrap();
        let mut last = None;
        for n in 1..=MAX_RECEIVES {
            let message = receive_one(queue, SECOND, PATIENCE).await;
            assert_eq!(message.receive_count, n, "{role:?}");
            last = Some(message);
        }

        // WHEN its visibility runs out and the queue is read again, until the message moved
        let deadline = Instant::now() + DEADLINE;
        loop {
            let after = queue
                .receive(MAX_RECEIVE_BATCH, LONG, SECOND)
                .await
                .unwrap();
            // THEN it is never returned again
            assert!(after.is_empty(), "{role:?}: {after:?}");
            if dlq.depth().await.unwrap() > 0 || Instant::now() >= deadline {
                break;
            }
        }

        // AND it moved to the dead-letter queue, where it can be read
        assert_eq!(queue.depth().await.unwrap(), 0, "{role:?}");
        assert_eq!(dlq.depth().await.unwrap(), 1, "{role:?}");
        let dead = receive_one(dlq, LONG, PATIENCE).await;
        assert_eq!(dead.body, r#"{"poison":true}"#, "{role:?}");
        assert_ne!(Some(dead.receipt.clone()), last.map(|m| m.receipt));
        dlq.delete(&dead.receipt).await.unwrap();
        assert_eq!(dlq.depth().await.unwrap(), 0, "{role:?}");
    }
}

async fn invalid_receipts_are_refused(b: &Backend) {
    // GIVEN a message in flight on the outbox
    let outbox = &b.ports.outbox;
    outbox.send("x", Duration::ZERO).await.unwrap();
    let message = receive_one(outbox, LONG, PATIENCE).await;

    // WHEN receipts that are garbage, or from another queue, are used
    let garbage_delete = outbox.delete("not-a-receipt").await;
    let garbage_change = outbox
        .change_visibility("not-a-receipt", Duration::ZERO)
        .await;
    let other_delete = b.ports.workflow_queue.delete(&message.receipt).await;
    let other_change = b
        .ports
        .workflow_queue
        .change_visibility(&message.receipt, SECOND)
        .await;

    // THEN each is refused as an invalid receipt, and the message is untouched
    assert_eq!(garbage_delete, Err(QueueError::InvalidReceipt));
    assert_eq!(garbage_change, Err(QueueError::InvalidReceipt));
    assert_eq!(other_delete, Err(QueueError::InvalidReceipt));
    assert_eq!(other_change, Err(QueueError::InvalidReceipt));
    assert_eq!(outbox.depth().await.unwrap(), 1);
    outbox.delete(&message.receipt).await.unwrap();
}

async fn a_batch_delete_answers_each_receipt(b: &Backend) {
    // GIVEN twelve messages in flight on the outbox (more than one SQS batch request)
    let outbox = &b.ports.outbox;
    for n in 0..12 {
        outbox.send(&format!("m{n}"), Duration::ZERO).await.unwrap();
    }
    let mut received = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while received.len() < 12 && Instant::now() < deadline {
        received.extend(outbox.receive(10, LONG, SECOND).await.unwrap());
    }
    assert_eq!(received.len(), 12);

    // WHEN they are deleted in one call, with an empty receipt among them
    let mut receipts: Vec<&str> = received.iter().map(|m| m.receipt.as_str()).collect();
    receipts.insert(5, "");
    let results = outbox.delete_batch(&receipts).await;

    // THEN each receipt has its answer in order, and the queue is empty
    assert_eq!(results.len(), 13);
    for (index, result) in results.iter().enumerate() {
        let expected = if index == 5 {
            Err(QueueError::InvalidReceipt)
        } else {
            Ok(())
        };
        assert_eq!(result, &expected, "receipt {index}");
    }
    assert_eq!(outbox.depth().await.unwrap(), 0);
}

async fn delays_and_bodies_beyond_the_limits_are_refused(b: &Backend) {
    let queue = &b.ports.outbox;

    // WHEN a message is delayed longer than 15 minutes, or is larger than 256 KiB
    let too_late = queue.send("x", MAX_DELAY + SECOND).await;
    let too_large = queue
        .send(&"x".repeat(MAX_MESSAGE_BYTES + 1), Duration::ZERO)
        .await;

    // THEN each is refused, and nothing is queued
    assert!(
        matches!(too_late, Err(QueueError::DelayTooLong(_))),
        "{too_late:?}"
    );
    assert!(
        matches!(too_large, Err(QueueError::MessageTooLarge(_))),
        "{too_large:?}"
    );
    assert_eq!(queue.depth().await.unwrap(), 0);

    // WHEN messages sit exactly at the limits
    queue
        .send(&"y".repeat(MAX_MESSAGE_BYTES), Duration::ZERO)
        .await
        .unwrap();
    queue.send("z", MAX_DELAY).await.unwrap();

    // THEN they are accepted, and the largest one arrives whole
    let message = receive_one(queue, LONG, PATIENCE).await;
    assert_eq!(message.body.len(), MAX_MESSAGE_BYTES);
    assert!(message.body.bytes().all(|c| c == b'y'));
}

async fn depth_counts_visible_and_in_flight_messages(b: &Backend) {
    // GIVEN three messages
    let queue = &b.ports.workflow_queue;
    for body in ["a", "b", "c"] {
        queue.send(body, Duration::ZERO).await.unwrap();
    }
    assert_eq!(queue.depth().await.unwrap(), 3);

    // WHEN one is in flight
    let message = receive_one(queue, LONG, PATIENCE).await;

    // THEN it still counts
    assert_eq!(queue.depth().await.unwrap(), 3);

    // WHEN it is deleted
    queue.delete(&message.receipt).await.unwrap();

    // THEN it no longer does, and the other queues are unaffected
    assert_eq!(queue.depth().await.unwrap(), 2);
    assert_eq!(b.ports.outbox.depth().await.unwrap(), 0);
}

async fn request_counts_move_one_per_send_and_receive(b: &Backend) {
    let queue = &b.ports.outbox;

    // GIVEN the counts before; WHEN a message is sent; THEN one send is counted
    let before = b.ports.request_counts();
    queue.send("counted", Duration::ZERO).await.unwrap();
    let sends = RequestCounts {
        queue_sends: 1,
        ..RequestCounts::default()
    };
    assert_eq!(b.ports.request_counts().since(&before), sends);
    assert_eq!(
        queue.request_counts(),
        sends,
        "counted on the queue that sent"
    );

    // WHEN it is received, and an empty queue is received from
    let before = b.ports.request_counts();
    receive_one(queue, LONG, PATIENCE).await;
    b.ports
        .workflow_queue
        .receive(1, LONG, Duration::ZERO)
        .await
        .unwrap();

    // THEN each receive counts once
    let receives = RequestCounts {
        queue_receives: 2,
        ..RequestCounts::default()
    };
    assert_eq!(b.ports.request_counts().since(&before), receives);
}
