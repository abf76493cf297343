//! `ItemStore` contract: conditional puts and deletes, versions, gets.

use super::*;

vigil_contract::contract!(
    put_absent_refuses_an_existing_key,
    concurrent_absent_puts_have_exactly_one_winner,
    versioned_put_needs_the_stored_version,
    unconditional_put_writes_the_given_version,
    get_of_a_missing_key_is_none,
    delete_without_condition_ignores_missing_items,
    delete_if_exists_refuses_a_missing_item,
    delete_with_version_needs_the_stored_version,
);

async fn put_absent_refuses_an_existing_key(b: &Backend) {
    // GIVEN an item written with the idempotency condition
    let store = &b.ports.store;
    let first = store
        .put(
            Item::new(key("T#a", "EVT#1"), r#"{"n":1}"#),
            PutCondition::Absent,
        )
        .await;
    assert_eq!(first, Ok(1));

    // WHEN the same key is written again with that condition
    let second = store
        .put(
            Item::new(key("T#a", "EVT#1"), r#"{"n":2}"#),
            PutCondition::Absent,
        )
        .await;

    // THEN it is refused and the first write stands
    assert_eq!(second, Err(StoreError::AlreadyExists));
    let stored = store.get(&key("T#a", "EVT#1")).await.unwrap().unwrap();
    assert_eq!(stored.body, r#"{"n":1}"#);
    assert_eq!(stored.version, 1);
}

async fn concurrent_absent_puts_have_exactly_one_winner(b: &Backend) {
    // GIVEN 32 writers racing to create one key
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let store = Arc::clone(&b.ports.store);
            tokio::spawn(async move {
                let item = Item::new(key("T#a", "EVT#race"), format!(r#"{{"writer":{n}}}"#));
                (n, store.put(item, PutCondition::Absent).await)
            })
        })
        .collect();

    // WHEN they all finish
    let mut winners = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (n, Ok(1)) => winners.push(n),
            (_, Err(StoreError::AlreadyExists)) => refused += 1,
            (n, other) => panic!("writer {n}: unexpected {other:?}"),
        }
    }

    // THEN exactly one succeeded, and the stored item is the winner's
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(refused, 31);
    let stored = b
        .ports
        .store
        .get(&key("T#a", "EVT#race"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body, format!(r#"{{"writer":{}}}"#, winners[0]));
}

async fn versioned_put_needs_the_stored_version(b: &Backend) {
    // GIVEN an item at version 1
    let store = &b.ports.store;
    let k = key("T#a", "RULE#1");
    store
        .put(Item::new(k.clone(), r#"{"v":1}"#), PutCondition::Absent)
        .await
        .unwrap();

    // WHEN it is updated from version 1
    let updated = store
        .put(
            Item::new(k.clone(), r#"{"v":2}"#),
            PutCondition::VersionEquals(1),
        )
        .await;

    // THEN version 2 is written
    assert_eq!(updated, Ok(2));
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.body.as_str()), (2, r#"{"v":2}"#));

    // WHEN a writer still holding version 1 updates it
    let stale = store
        .put(
            Item::new(k.clone(), r#"{"v":"stale"}"#),
            PutCondition::VersionEquals(1),
        )
        .await;

    // THEN it is refused and version 2 stands
    assert_eq!(stale, Err(StoreError::VersionConflict));
    assert_eq!(store.get(&k).await.unwrap().unwrap().body, r#"{"v":2}"#);

    // WHEN a versioned put targets a missing item
    let missing = store
        .put(
            Item::new(key("T#a", "RULE#none"), "{}"),
            PutCondition::VersionEquals(1),
        )
        .await;

    // THEN it is a conflict too, and nothing is created
    assert_eq!(missing, Err(StoreError::VersionConflict));
    assert_eq!(store.get(&key("T#a", "RULE#none")).await.unwrap(), None);

    // WHEN the current version is used
    let next = store
        .put(
            Item::new(k.clone(), r#"{"v":3}"#),
            PutCondition::VersionEquals(2),
        )
        .await;

    // THEN the version keeps counting
    assert_eq!(next, Ok(3));
    assert_eq!(store.get(&k).await.unwrap().unwrap().version, 3);
}

async fn unconditional_put_writes_the_given_version(b: &Backend) {
    // GIVEN an existing item at version 1
    let store = &b.ports.store;
    let k = key("T#a", "TENANT");
    store
        .put(
            Item::new(k.clone(), r#"{"old":true}"#),
            PutCondition::Absent,
        )
        .await
        .unwrap();

    // WHEN it is overwritten without a condition, carrying version 7 and every field
    let mut item = Item::new(k.clone(), r#"{"new":true}"#)
        .with_gsi1(IndexKey::new("G1", "2026-11-22T10:00:00Z"))
        .with_gsi2(IndexKey::new("G2", "open"))
        .with_expiry(1_900_000_000);
    item.version = 7;
    item.counters = BTreeMap::from([("events".to_string(), 3), ("errors".to_string(), -1)]);
    let written = store.put(item.clone(), PutCondition::None).await;

    // THEN version 7 is written and the item reads back exactly
    assert_eq!(written, Ok(7));
    assert_eq!(store.get(&k).await.unwrap(), Some(item));

    // AND an unconditional put of a new key creates it
    let fresh = Item::new(key("T#a", "NEW"), "{}");
    assert_eq!(store.put(fresh.clone(), PutCondition::None).await, Ok(0));
    assert_eq!(store.get(&fresh.key).await.unwrap(), Some(fresh));
}

async fn get_of_a_missing_key_is_none(b: &Backend) {
    // GIVEN an item in the partition, but not the one asked for
    let store = &b.ports.store;
    put_all(store, [Item::new(key("T#a", "EVT#1"), "{}")]).await;

    // WHEN a missing key is read (same partition, other partition)
    let same_partition = store.get(&key("T#a", "EVT#2")).await;
    let other_partition = store.get(&key("T#b", "EVT#1")).await;

    // THEN there is nothing, and no error
    assert_eq!(same_partition, Ok(None));
    assert_eq!(other_partition, Ok(None));
}

async fn delete_without_condition_ignores_missing_items(b: &Backend) {
    // GIVEN one item
    let store = &b.ports.store;
    put_all(store, [Item::new(key("T#a", "X"), "{}")]).await;

    // WHEN it is deleted, and a missing item is deleted
    let present = store.delete(&key("T#a", "X"), DeleteCondition::None).await;
    let missing = store.delete(&key("T#a", "Y"), DeleteCondition::None).await;

    // THEN both succeed and the item is gone
    assert_eq!(present, Ok(()));
    assert_eq!(missing, Ok(()));
    assert_eq!(store.get(&key("T#a", "X")).await.unwrap(), None);
}

async fn delete_if_exists_refuses_a_missing_item(b: &Backend) {
    // GIVEN one item
    let store = &b.ports.store;
    put_all(store, [Item::new(key("T#a", "X"), "{}")]).await;

    // WHEN it is deleted on condition it exists, then deleted again
    let first = store
        .delete(&key("T#a", "X"), DeleteCondition::Exists)
        .await;
    let second = store
        .delete(&key("T#a", "X"), DeleteCondition::Exists)
        .await;

    // THEN the first succeeds and the second finds nothing
    assert_eq!(first, Ok(()));
    assert_eq!(second, Err(StoreError::NotFound));
    assert_eq!(store.get(&key("T#a", "X")).await.unwrap(), None);
}

async fn delete_with_version_needs_the_stored_version(b: &Backend) {
    // GIVEN an item at version 2
    let store = &b.ports.store;
    let k = key("T#a", "APPROVAL#1");
    store
        .put(Item::new(k.clone(), "{}"), PutCondition::Absent)
        .await
        .unwrap();
    store
        .put(Item::new(k.clone(), "{}"), PutCondition::VersionEquals(1))
        .await
        .unwrap();

    // WHEN it is deleted from a stale version
    let stale = store.delete(&k, DeleteCondition::VersionEquals(1)).await;

    // THEN it is refused and the item stays
    assert_eq!(stale, Err(StoreError::VersionConflict));
    assert!(store.get(&k).await.unwrap().is_some());

    // WHEN it is deleted from the stored version
    let current = store.delete(&k, DeleteCondition::VersionEquals(2)).await;

    // THEN it is gone
    assert_eq!(current, Ok(()));
    assert_eq!(store.get(&k).await.unwrap(), None);

    // WHEN a missing item is deleted with a version
    let missing = store.delete(&k, DeleteCondition::VersionEquals(2)).await;

    // THEN that is a conflict
    assert_eq!(missing, Err(StoreError::VersionConflict));
}
