//! The adapters against moto server: what only a real AWS API can show (resources, routing,
//! redrive, typed errors). The port semantics at large are the contract suite's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use vigil_core::ports::ResourceNames;
use vigil_core::ports::{
    BusEnvelope, BusEvent, BusRoutes, DeleteCondition, Index, IndexKey, Item, Key, PutCondition,
    Query, QueueError, QueueRole, Schedule, ScheduleExpression, ScheduleTarget, SortKey,
    StoreError, WriteOp,
};

use crate::{AwsBackend, SdkConfig, bootstrap, resolve, testing};

const ROLE: &str = "arn:aws:iam::123456789012:role/vigil-test-scheduler";

/// The bus routes of these tests: the event type they publish goes to the workflow queue.
fn routes() -> BusRoutes {
    BusRoutes::to_workflow_queue(["client.stage_changed"])
}

/// Resource names no other test (nor an earlier run against the same emulator) uses.
fn unique_names(max_receives: u32) -> ResourceNames {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ResourceNames {
        max_receives,
        ..ResourceNames::new(format!("t{}-{n}-{nanos}", std::process::id()))
    }
}

async fn backend(max_receives: u32) -> (SdkConfig, AwsBackend) {
    let sdk = testing::sdk_config().await;
    let resources = bootstrap(&sdk, &unique_names(max_receives), &routes(), ROLE)
        .await
        .unwrap();
    let backend = AwsBackend::new(&sdk, resources);
    (sdk, backend)
}

#[tokio::test]
async fn bootstrap_twice_changes_nothing_and_resolve_finds_the_same_resources() {
    // GIVEN a deployment bootstrapped once
    let sdk = testing::sdk_config().await;
    let names = unique_names(5);
    let first = bootstrap(&sdk, &names, &routes(), ROLE).await.unwrap();

    // WHEN it is bootstrapped again, and resolved by name
    let second = bootstrap(&sdk, &names, &routes(), ROLE).await.unwrap();
    let resolved = resolve(&sdk, &names, ROLE).await.unwrap();

    // THEN all three agree, and the table has both indexes and TTL on expires_at
    assert_eq!(first, second);
    assert_eq!(first, resolved);
    assert!(
        first
            .outbox_queue_arn
            .ends_with(&names.queue(QueueRole::Outbox))
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = dynamodb
        .describe_table()
        .table_name(&first.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let mut indexes: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["GSI1", "GSI2"]);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&first.table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
}

#[tokio::test]
async fn resolve_without_bootstrap_names_what_is_missing() {
    let sdk = testing::sdk_config().await;
    let err = resolve(&sdk, &unique_names(5), ROLE).await.unwrap_err();
    assert!(err.to_string().contains("GetQueueUrl"), "{err}");
}

#[tokio::test]
async fn a_published_event_reaches_the_workflow_queue_as_an_envelope() {
    // GIVEN a bootstrapped deployment
    let (_sdk, backend) = backend(5).await;
    let ports = backend.ports();
    let second = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();

    // WHEN an event is published
    let event = BusEvent {
        detail_type: "client.stage_changed".into(),
        detail: serde_json::json!({"client": "c1"}),
        time: second + chrono::TimeDelta::milliseconds(250),
    };
    ports.bus.publish(&[event]).await.unwrap();

    // THEN the bus rule put its EventBridge envelope (time in whole seconds) on the workflow
    // queue, not the outbox
    let got = ports
        .workflow_queue
        .receive(10, Duration::from_secs(30), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let envelope: BusEnvelope = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(envelope.source, "vigil");
    assert_eq!(envelope.detail_type, "client.stage_changed");
    assert_eq!(envelope.time, second);
    assert_eq!(envelope.detail, serde_json::json!({"client": "c1"}));
    assert_eq!(ports.outbox.depth().await.unwrap(), 0);
    assert_eq!(ports.bus.request_counts().publishes, 1);
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    // GIVEN an outbox that dead-letters after 2 receives, holding one message
    let (_sdk, backend) = backend(2).await;
    let outbox = backend.ports().outbox;
    let id = outbox.send("poison", Duration::ZERO).await.unwrap();

    // WHEN it is received and given back twice
    for expected in 1..=2 {
        let got = outbox
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            (got[0].message_id.as_str(), got[0].receive_count),
            (id.as_str(), expected)
        );
        outbox
            .change_visibility(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }

    // THEN the next receive finds nothing and the message waits in the DLQ
    let none = outbox
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert!(none.is_empty());
    let dlq = backend.dead_letter_queue(QueueRole::Outbox);
    let dead = dlq
        .receive(1, Duration::from_secs(30), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].body.as_str()),
        (id.as_str(), "poison")
    );
    dlq.delete(&dead[0].receipt).await.unwrap();
    assert_eq!(dlq.depth().await.unwrap(), 0);
    assert_eq!(outbox.request_counts().queue_sends, 1);
    assert_eq!(outbox.request_counts().queue_receives, 3);
}

#[tokio::test]
async fn queue_limits_and_bad_receipts_are_typed_errors() {
    let (_sdk, backend) = backend(5).await;
    let queue = backend.ports().workflow_queue;
    assert_eq!(
        queue.send("x", Duration::from_secs(15 * 60 + 1)).await,
        Err(QueueError::DelayTooLong(Duration::from_secs(901)))
    );
    let big = "x".repeat(256 * 1024 + 1);
    assert_eq!(
        queue.send(&big, Duration::ZERO).await,
        Err(QueueError::MessageTooLarge(big.len()))
    );
    assert_eq!(
        queue.delete("not-a-receipt").await,
        Err(QueueError::InvalidReceipt)
    );
    assert_eq!(
        queue
            .change_visibility("not-a-receipt", Duration::ZERO)
            .await,
        Err(QueueError::InvalidReceipt)
    );
    // A delayed message is counted in the depth but not received yet.
    queue.send("later", Duration::from_secs(60)).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 1);
    let none = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn conditional_writes_fail_with_typed_errors() {
    // GIVEN an item written once
    let (_sdk, backend) = backend(5).await;
    let store = backend.ports().store;
    let key = Key::new("T#acme", "CLIENT#c1");
    let item = Item::new(key.clone(), r#"{"stage":"new"}"#);
    assert_eq!(store.put(item.clone(), PutCondition::Absent).await, Ok(1));

    // WHEN it is created again, updated from a stale version, deleted from a stale version,
    // and a missing item is deleted with Exists
    let again = store.put(item.clone(), PutCondition::Absent).await;
    let stale = store
        .put(item.clone(), PutCondition::VersionEquals(7))
        .await;
    let stale_delete = store.delete(&key, DeleteCondition::VersionEquals(7)).await;
    let missing = store
        .delete(&Key::new("T#acme", "CLIENT#none"), DeleteCondition::Exists)
        .await;

    // THEN each is refused with its own error, and the right version moves on
    assert_eq!(again, Err(StoreError::AlreadyExists));
    assert_eq!(stale, Err(StoreError::VersionConflict));
    assert_eq!(stale_delete, Err(StoreError::VersionConflict));
    assert_eq!(missing, Err(StoreError::NotFound));
    assert_eq!(store.put(item, PutCondition::VersionEquals(1)).await, Ok(2));
    assert_eq!(store.get(&key).await.unwrap().unwrap().version, 2);
    assert_eq!(
        store.delete(&key, DeleteCondition::VersionEquals(2)).await,
        Ok(())
    );
    assert_eq!(store.get(&key).await, Ok(None));
    assert_eq!(store.delete(&key, DeleteCondition::None).await, Ok(()));
    store.ping().await.unwrap();
    assert_eq!(store.backend_name(), "dynamodb");
}

#[tokio::test]
async fn counters_add_atomically_and_a_cancelled_transaction_names_its_write() {
    // GIVEN counters added twice to a new item
    let (_sdk, backend) = backend(5).await;
    let store = backend.ports().store;
    let key = Key::new("T#acme", "STATS#day");
    store
        .add(&key, &BTreeMap::from([("events".to_string(), 2)]))
        .await
        .unwrap();
    let counters = store
        .add(
            &key,
            &BTreeMap::from([("events".to_string(), 3), ("failed".to_string(), -1)]),
        )
        .await
        .unwrap();
    assert_eq!(
        counters,
        BTreeMap::from([("events".to_string(), 5), ("failed".to_string(), -1)])
    );
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.body.as_str()), (1, "{}"));
    assert!(matches!(
        store
            .add(&key, &BTreeMap::from([("events".to_string(), i64::MAX)]))
            .await,
        Err(StoreError::Invalid(_))
    ));

    // WHEN a transaction adds, writes a new item, and checks a missing item's version
    let new_key = Key::new("T#acme", "CLIENT#c2");
    let result = store
        .transact(vec![
            WriteOp::Add {
                key: key.clone(),
                deltas: BTreeMap::from([("events".to_string(), 1)]),
            },
            WriteOp::Put {
                item: Item::new(new_key.clone(), "{}"),
                condition: PutCondition::Absent,
            },
            WriteOp::Check {
                key: Key::new("T#acme", "CLIENT#c1"),
                version: 9,
            },
        ])
        .await;

    // THEN it is cancelled at the check, and nothing of it was applied
    assert_eq!(
        result,
        Err(StoreError::TransactionCancelled {
            index: 2,
            reason: Box::new(StoreError::VersionConflict)
        })
    );
    assert_eq!(store.get(&new_key).await, Ok(None));
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().counters["events"],
        5
    );
}

#[tokio::test]
async fn index_queries_page_in_order_without_an_empty_last_page() {
    // GIVEN five items on GSI1 and one outside the sort range
    let (_sdk, backend) = backend(5).await;
    let store = backend.ports().store;
    for i in 0..5 {
        let item = Item::new(Key::new("T#acme", format!("EVT#{i}")), "{}")
            .with_gsi1(IndexKey::new("T#acme#TIME", format!("2026-03-0{}", i + 1)));
        store.put(item, PutCondition::None).await.unwrap();
    }
    let other = Item::new(Key::new("T#acme", "EVT#x"), "{}")
        .with_gsi1(IndexKey::new("T#acme#TIME", "2025-12-31"));
    store.put(other, PutCondition::None).await.unwrap();
    let reads_before = store.request_counts().reads;

    // WHEN 2026 is read newest first, two at a time
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let query = Query::partition(Index::Gsi1, "T#acme#TIME")
            .sort(SortKey::BeginsWith("2026-".into()))
            .descending()
            .limit(2)
            .after(cursor);
        let page = store.query(query).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| i.key.sk));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }

    // THEN every item comes once, newest first, in three pages of one request each
    assert_eq!(seen, ["EVT#4", "EVT#3", "EVT#2", "EVT#1", "EVT#0"]);
    assert_eq!(pages, 3);
    assert_eq!(store.request_counts().reads - reads_before, 3);
}

#[tokio::test]
async fn schedules_read_back_equal_and_list_by_prefix() {
    // GIVEN a one-time schedule with a part-second instant and a cron schedule
    let (_sdk, backend) = backend(5).await;
    let scheduler = backend.ports().scheduler;
    let at =
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap() + chrono::TimeDelta::milliseconds(6);
    let once = Schedule {
        name: "approval.a1".into(),
        expression: ScheduleExpression::At { at },
        target: ScheduleTarget::Workflows,
        payload: r#"{"approval":"a1"}"#.into(),
    };
    let cron = Schedule {
        name: "approval.weekly".into(),
        expression: ScheduleExpression::Cron {
            expression: "0 9 ? * MON *".into(),
            timezone: "Europe/Paris".into(),
        },
        target: ScheduleTarget::Outbox,
        payload: "{}".into(),
    };
    scheduler.upsert(&once).await.unwrap();
    scheduler.upsert(&cron).await.unwrap();

    // WHEN one is replaced and another named differently is added
    let replaced = Schedule {
        payload: r#"{"approval":"a1","v":2}"#.into(),
        ..once.clone()
    };
    scheduler.upsert(&replaced).await.unwrap();
    let other = Schedule {
        name: "step.s1".into(),
        ..cron.clone()
    };
    scheduler.upsert(&other).await.unwrap();

    // THEN each reads back equal, lists are by prefix and sorted, deletes are idempotent
    assert_eq!(scheduler.get("approval.a1").await, Ok(Some(replaced)));
    assert_eq!(scheduler.get("approval.weekly").await, Ok(Some(cron)));
    assert_eq!(
        scheduler.list("approval.").await.unwrap(),
        ["approval.a1", "approval.weekly"]
    );
    scheduler.delete("approval.a1").await.unwrap();
    scheduler.delete("approval.a1").await.unwrap();
    assert_eq!(scheduler.get("approval.a1").await, Ok(None));
    assert_eq!(
        scheduler.list("").await.unwrap(),
        ["approval.weekly", "step.s1"]
    );
    assert!(scheduler.get("bad name").await.is_err());
}
