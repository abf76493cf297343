use std::time::Instant;

use vigil_core::ports::QueueRole;
use vigil_core::ports::ResourceNames;

use crate::{EmbeddedBackend, test_routes};

use super::*;

/// Far longer than a receive that works takes, so no machine is slow enough to miss it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `future` once, without waiting: whether it is ready now.
fn ready_now<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut context).is_ready()
}

#[tokio::test]
async fn a_waiting_receive_wakes_on_a_local_send() {
    // GIVEN a consumer waiting on an empty queue, for as long as the test is patient
    let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
    let outbox = Arc::clone(&backend.inner.outbox);
    let consumer = tokio::spawn({
        let outbox = Arc::clone(&outbox);
        async move {
            outbox
                .receive(10, Duration::from_secs(30), PATIENCE)
                .await
                .unwrap()
        }
    });
    let deadline = Instant::now() + PATIENCE;
    while outbox.request_counts().queue_receives == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!consumer.is_finished(), "the receive ended before the send");

    // WHEN a message is sent
    outbox.send("hello", Duration::ZERO).await.unwrap();

    // THEN the consumer gets it, before its wait ends (it would return empty then)
    let got = consumer.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "hello");

    // AND a local send wakes whoever waits on the queue (no poll interval in between);
    // whether the wake comes soon enough is a benchmark's question, not this test's
    let queue = Arc::clone(&backend.inner.workflows);
    let woken = queue.notify.notified();
    let mut woken = std::pin::pin!(woken);
    woken.as_mut().enable();
    assert!(!ready_now(woken.as_mut()), "woken before any send");
    queue.send("wake up", Duration::ZERO).await.unwrap();
    assert!(
        ready_now(woken.as_mut()),
        "a send did not wake the waiting receiver"
    );
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    // GIVEN a queue that dead-letters after two receives
    let names = ResourceNames {
        max_receives: 2,
        ..ResourceNames::default()
    };
    let backend = EmbeddedBackend::in_memory(&names, test_routes()).unwrap();
    let queue = Arc::clone(&backend.ports().workflow_queue);
    let dlq = backend.dead_letter_queue(QueueRole::Workflows);
    queue.send("poison", Duration::ZERO).await.unwrap();

    // WHEN it is received twice without being deleted, then once more
    for expected in 1..=2 {
        let got = queue
            .receive(1, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got[0].receive_count, expected);
    }
    let third = queue
        .receive(1, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();

    // THEN the third receive returns nothing and the message waits in the DLQ
    assert!(third.is_empty());
    assert_eq!(queue.depth().await.unwrap(), 0);
    let dead = dlq
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(dead[0].body, "poison");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_of_a_stopped_process_come_back_at_once() {
    // GIVEN a process that received a message for half an hour and stopped without deleting
    // or releasing it (its backend dropped, no shutdown: as after kill -9)
    let dir = tempfile::tempdir().unwrap();
    let names = ResourceNames::default();
    let crashed = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
    let queue = Arc::clone(&crashed.ports().outbox);
    queue.send("in flight", Duration::ZERO).await.unwrap();
    let leased = queue
        .receive(1, Duration::from_secs(1800), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    // (another process holds a lease of its own meanwhile, taken while the first one ran)
    let live = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
    live.ports()
        .outbox
        .send("held", Duration::ZERO)
        .await
        .unwrap();
    let held = live
        .ports()
        .outbox
        .receive(1, Duration::from_secs(1800), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    drop(queue);
    drop(crashed);

    // WHEN a new process on the same directory receives, beside the live one
    let restarted = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
    let got = restarted
        .ports()
        .outbox
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();

    // THEN it gets the stopped process's message now, received a second time, and not the
    // live one's
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["in flight"], "held: {held:?}");
    assert_eq!(got[0].receive_count, 2);
    live.shutdown().await;
    restarted.shutdown().await;
}

#[tokio::test]
async fn an_old_receipt_is_invalid_after_the_message_is_received_again() {
    // GIVEN a message received twice (its visibility ran out in between)
    let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
    let queue = Arc::clone(&backend.ports().outbox);
    queue.send("m", Duration::ZERO).await.unwrap();
    let first = queue
        .receive(1, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    let second = queue
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();

    // WHEN the first receipt is used, and a made-up one
    let stale = queue.delete(&first[0].receipt).await;
    let garbage = queue.change_visibility("nonsense", Duration::ZERO).await;

    // THEN both are refused and the current receipt still works
    assert_eq!(stale, Err(QueueError::InvalidReceipt));
    assert_eq!(garbage, Err(QueueError::InvalidReceipt));
    queue.delete(&second[0].receipt).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}
