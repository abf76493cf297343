//! `ItemStore`: conditional writes, versions, queries and paging on every index, counters,
//! transactions, expiry, request counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use vigil_contract::Backend;
use vigil_core::ports::store::MAX_TRANSACTION_OPS;
use vigil_core::ports::{
    Cursor, DeleteCondition, Index, IndexKey, Item, ItemStore, Key, Order, PutCondition, Query,
    RequestCounts, SortKey, StoreError, WriteOp,
};

vigil_contract::contract!(
    put_absent_refuses_an_existing_key,
    concurrent_absent_puts_have_exactly_one_winner,
    versioned_put_needs_the_stored_version,
    unconditional_put_writes_the_given_version,
    get_of_a_missing_key_is_none,
    delete_without_condition_ignores_missing_items,
    delete_if_exists_refuses_a_missing_item,
    delete_with_version_needs_the_stored_version,
    query_applies_each_sort_condition_in_both_orders_on_every_index,
    query_reads_one_partition_only,
    paging_yields_every_item_once_and_ends_without_a_cursor,
    paging_ends_without_a_cursor_when_the_last_page_is_exactly_full,
    paging_through_equal_index_keys_yields_every_item_once,
    items_without_an_index_key_are_absent_from_that_index,
    add_creates_the_item_and_its_counters_then_increments,
    add_keeps_the_rest_of_the_item,
    concurrent_adds_to_an_existing_item_sum_exactly,
    concurrent_adds_creating_the_item_sum_exactly,
    counters_named_like_item_fields_leave_the_item_intact,
    invalid_counter_names_are_invalid,
    transaction_applies_every_write,
    failed_transaction_applies_nothing_and_names_the_failing_write,
    transaction_limits_are_enforced,
    expiry_round_trips,
    request_counts_move_one_per_request,
);

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

fn sort_keys(items: &[Item], index: Index) -> Vec<String> {
    items
        .iter()
        .map(|item| item.index_key(index).map(|k| k.sk).unwrap_or_default())
        .collect()
}

/// An item whose key in `index` is `(partition, sort)`; on a secondary index the primary key is
/// elsewhere, as it is for real entities.
fn item_in(index: Index, partition: &str, sort: &str) -> Item {
    let body = format!(r#"{{"at":"{partition}/{sort}"}}"#);
    match index {
        Index::Primary => Item::new(key(partition, sort), body),
        Index::Gsi1 => Item::new(key(&format!("G1#{partition}#{sort}"), "META"), body)
            .with_gsi1(IndexKey::new(partition, sort)),
        Index::Gsi2 => Item::new(key(&format!("G2#{partition}#{sort}"), "META"), body)
            .with_gsi2(IndexKey::new(partition, sort)),
    }
}

async fn put_all(store: &Arc<dyn ItemStore>, items: impl IntoIterator<Item = Item>) {
    for item in items {
        store.put(item, PutCondition::None).await.unwrap();
    }
}

/// Every page of `query`, cursors passed through their opaque text form as API clients do.
async fn pages(store: &Arc<dyn ItemStore>, query: Query) -> Vec<Vec<Item>> {
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.query(query.clone().after(cursor)).await.unwrap();
        pages.push(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(Cursor::decode(&next.encode()).unwrap()),
            None => return pages,
        }
        assert!(pages.len() < 50, "paging does not end");
    }
}

const INDEXES: [Index; 3] = [Index::Primary, Index::Gsi1, Index::Gsi2];

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

async fn query_applies_each_sort_condition_in_both_orders_on_every_index(b: &Backend) {
    let store = &b.ports.store;
    let all = [
        "A#01", "A#02", "A#03", "A#04", "A#05", "B#01", "B#02", "B#03",
    ];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<(SortKey, Vec<String>)> = vec![
        (SortKey::All, s(&all)),
        (SortKey::BeginsWith("A#".into()), s(&all[..5])),
        (SortKey::BeginsWith("B#02".into()), s(&["B#02"])),
        (SortKey::BeginsWith("C#".into()), vec![]),
        (
            SortKey::Between("A#02".into(), "A#04".into()),
            s(&["A#02", "A#03", "A#04"]),
        ),
        (
            SortKey::Between("A#04".into(), "B#01".into()),
            s(&["A#04", "A#05", "B#01"]),
        ),
        (SortKey::Between("A#031".into(), "A#039".into()), vec![]),
        (SortKey::GreaterOrEqual("B#02".into()), s(&["B#02", "B#03"])),
        (SortKey::GreaterOrEqual("A#055".into()), s(&all[5..])),
        (SortKey::LessOrEqual("A#02".into()), s(&["A#01", "A#02"])),
        (SortKey::LessOrEqual("A#025".into()), s(&["A#01", "A#02"])),
    ];
    for index in INDEXES {
        // GIVEN eight items in one partition of the index, written out of order
        let partition = format!("T#a#{index:?}");
        let mut shuffled = all;
        shuffled.reverse();
        put_all(
            store,
            shuffled.iter().map(|sk| item_in(index, &partition, sk)),
        )
        .await;

        for (sort, expected) in &cases {
            for order in [Order::Ascending, Order::Descending] {
                // WHEN it is queried with the condition in this order
                let mut query = Query::partition(index, &partition).sort(sort.clone());
                if order == Order::Descending {
                    query = query.descending();
                }
                let page = store.query(query).await.unwrap();

                // THEN exactly the matching items come back, sorted, with nothing to follow
                let mut expected = expected.clone();
                if order == Order::Descending {
                    expected.reverse();
                }
                let context = format!("{index:?} {sort:?} {order:?}");
                assert_eq!(sort_keys(&page.items, index), expected, "{context}");
                assert_eq!(page.next_cursor, None, "{context}");
                for item in &page.items {
                    let sk = item.index_key(index).unwrap().sk;
                    assert_eq!(
                        item.body,
                        format!(r#"{{"at":"{partition}/{sk}"}}"#),
                        "{context}"
                    );
                }
            }
        }
    }
}

async fn query_reads_one_partition_only(b: &Backend) {
    for index in INDEXES {
        // GIVEN partitions whose names begin like each other
        let store = &b.ports.store;
        let tag = format!("{index:?}");
        for partition in ["T#a", "T#ab", "T#"] {
            put_all(
                store,
                [item_in(index, &format!("{tag}#{partition}"), "X#1")],
            )
            .await;
        }

        // WHEN one of them is queried
        let page = store
            .query(Query::partition(index, format!("{tag}#T#a")))
            .await
            .unwrap();

        // THEN only its own item comes back
        assert_eq!(page.items.len(), 1, "{index:?}");
        assert_eq!(
            page.items[0].index_key(index).unwrap().pk,
            format!("{tag}#T#a"),
            "{index:?}"
        );
    }
}

async fn paging_yields_every_item_once_and_ends_without_a_cursor(b: &Backend) {
    let store = &b.ports.store;
    for index in INDEXES {
        // GIVEN seven items in a partition of the index
        let partition = format!("T#a#PAGED#{index:?}");
        let sks: Vec<String> = (1..=7).map(|n| format!("EVT#{n:02}")).collect();
        put_all(store, sks.iter().map(|sk| item_in(index, &partition, sk))).await;

        for order in [Order::Ascending, Order::Descending] {
            // WHEN it is read in pages of three
            let mut query = Query::partition(index, &partition).limit(3);
            if order == Order::Descending {
                query = query.descending();
            }
            let pages = pages(store, query).await;

            // THEN the pages hold 3, 3 and 1 items, every item exactly once, in order
            let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
            assert_eq!(sizes, [3, 3, 1], "{index:?} {order:?}");
            let seen: Vec<String> = pages.iter().flat_map(|p| sort_keys(p, index)).collect();
            let mut expected = sks.clone();
            if order == Order::Descending {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{index:?} {order:?}");
        }
    }
}

async fn paging_ends_without_a_cursor_when_the_last_page_is_exactly_full(b: &Backend) {
    let store = &b.ports.store;
    for index in INDEXES {
        // GIVEN six items, and two more that a sort condition leaves out
        let partition = format!("T#a#FULL#{index:?}");
        let sks: Vec<String> = (1..=6).map(|n| format!("EVT#{n:02}")).collect();
        put_all(store, sks.iter().map(|sk| item_in(index, &partition, sk))).await;
        put_all(
            store,
            ["RUN#1", "RUN#2"].map(|sk| item_in(index, &partition, sk)),
        )
        .await;

        for order in [Order::Ascending, Order::Descending] {
            let ordered = |mut q: Query| {
                if order == Order::Descending {
                    q = q.descending();
                }
                q
            };

            // WHEN the six are read in pages of three
            let events = ordered(
                Query::partition(index, &partition)
                    .sort(SortKey::BeginsWith("EVT#".into()))
                    .limit(3),
            );
            let event_pages = pages(store, events).await;

            // THEN there are exactly two full pages, the last without a cursor
            let sizes: Vec<usize> = event_pages.iter().map(Vec::len).collect();
            assert_eq!(sizes, [3, 3], "{index:?} {order:?}");

            // WHEN the whole partition (eight) is read in pages of four
            let whole = pages(store, ordered(Query::partition(index, &partition).limit(4))).await;

            // THEN again two full pages and no empty third one
            let sizes: Vec<usize> = whole.iter().map(Vec::len).collect();
            assert_eq!(sizes, [4, 4], "{index:?} {order:?}");

            // WHEN a single page holds everything exactly
            let one = store
                .query(ordered(Query::partition(index, &partition).limit(8)))
                .await
                .unwrap();

            // THEN it says nothing follows
            assert_eq!(one.items.len(), 8, "{index:?} {order:?}");
            assert_eq!(one.next_cursor, None, "{index:?} {order:?}");
        }
    }
}

async fn paging_through_equal_index_keys_yields_every_item_once(b: &Backend) {
    // GIVEN five items at the same instant on gsi1 and gsi2, between an earlier and a later one
    let store = &b.ports.store;
    let mut items = Vec::new();
    for (n, at) in [
        (0, "10:00"),
        (1, "10:05"),
        (2, "10:05"),
        (3, "10:05"),
        (4, "10:05"),
    ]
    .into_iter()
    .chain([(5, "10:05"), (6, "10:10")])
    {
        items.push(
            Item::new(
                key(&format!("T#a#RUN#{n}"), "META"),
                format!(r#"{{"n":{n}}}"#),
            )
            .with_gsi1(IndexKey::new("T#a#RUNS", at))
            .with_gsi2(IndexKey::new("T#a#FAILED", at)),
        );
    }
    put_all(store, items).await;

    for (index, partition) in [(Index::Gsi1, "T#a#RUNS"), (Index::Gsi2, "T#a#FAILED")] {
        for order in [Order::Ascending, Order::Descending] {
            // WHEN the index partition is read in pages of two
            let mut query = Query::partition(index, partition).limit(2);
            if order == Order::Descending {
                query = query.descending();
            }
            let pages = pages(store, query).await;

            // THEN every item comes exactly once, in index order
            let all: Vec<Item> = pages.into_iter().flatten().collect();
            let pks: Vec<&str> = all.iter().map(|i| i.key.pk.as_str()).collect();
            let unique: BTreeSet<&str> = pks.iter().copied().collect();
            assert_eq!(
                (pks.len(), unique.len()),
                (7, 7),
                "{index:?} {order:?}: {pks:?}"
            );
            let mut times = sort_keys(&all, index);
            if order == Order::Descending {
                times.reverse();
            }
            assert!(times.is_sorted(), "{index:?} {order:?}: {times:?}");
            assert_eq!(times.first().map(String::as_str), Some("10:00"));
        }
    }
}

async fn items_without_an_index_key_are_absent_from_that_index(b: &Backend) {
    // GIVEN one item on both indexes, one on gsi1 only, one on none
    let store = &b.ports.store;
    put_all(
        store,
        [
            Item::new(key("T#a", "BOTH"), "{}")
                .with_gsi1(IndexKey::new("T#a#G1", "1"))
                .with_gsi2(IndexKey::new("T#a#G2", "1")),
            Item::new(key("T#a", "ONE"), "{}").with_gsi1(IndexKey::new("T#a#G1", "2")),
            Item::new(key("T#a", "NONE"), "{}"),
        ],
    )
    .await;
    let sks = |page: vigil_core::ports::Page| {
        page.items.into_iter().map(|i| i.key.sk).collect::<Vec<_>>()
    };

    // WHEN each index is queried
    let g1 = store
        .query(Query::partition(Index::Gsi1, "T#a#G1"))
        .await
        .unwrap();
    let g2 = store
        .query(Query::partition(Index::Gsi2, "T#a#G2"))
        .await
        .unwrap();

    // THEN each lists only the items that carry its key
    assert_eq!(sks(g1), ["BOTH", "ONE"]);
    assert_eq!(sks(g2), ["BOTH"]);

    // WHEN an item is rewritten without its gsi1 key, and another moves within gsi2
    put_all(
        store,
        [
            Item::new(key("T#a", "ONE"), "{}"),
            Item::new(key("T#a", "NONE"), "{}").with_gsi2(IndexKey::new("T#a#G2", "0")),
        ],
    )
    .await;

    // THEN the indexes follow
    let g1 = store
        .query(Query::partition(Index::Gsi1, "T#a#G1"))
        .await
        .unwrap();
    let g2 = store
        .query(Query::partition(Index::Gsi2, "T#a#G2"))
        .await
        .unwrap();
    assert_eq!(sks(g1), ["BOTH"]);
    assert_eq!(sks(g2), ["NONE", "BOTH"]);
}

async fn add_creates_the_item_and_its_counters_then_increments(b: &Backend) {
    // GIVEN no item
    let store = &b.ports.store;
    let k = key("T#a", "STATS#2026-11-22");

    // WHEN counters are added to it
    let created = store
        .add(&k, &BTreeMap::from([("events".to_string(), 2)]))
        .await
        .unwrap();

    // THEN the item exists with body {} and the counters start from 0
    assert_eq!(created, BTreeMap::from([("events".to_string(), 2)]));
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!(stored.body, "{}");
    assert_eq!(stored.counters, created);

    // WHEN more is added, including a new counter and a negative delta
    let after = store
        .add(
            &k,
            &BTreeMap::from([
                ("events".to_string(), 3),
                ("failures".to_string(), 1),
                ("open".to_string(), -4),
            ]),
        )
        .await
        .unwrap();

    // THEN every counter of the item is returned after the add
    let expected = BTreeMap::from([
        ("events".to_string(), 5),
        ("failures".to_string(), 1),
        ("open".to_string(), -4),
    ]);
    assert_eq!(after, expected);
    assert_eq!(store.get(&k).await.unwrap().unwrap().counters, expected);

    // WHEN only one counter changes
    let one = store
        .add(&k, &BTreeMap::from([("failures".to_string(), 10)]))
        .await
        .unwrap();

    // THEN the others are returned unchanged
    assert_eq!(
        one,
        BTreeMap::from([
            ("events".to_string(), 5),
            ("failures".to_string(), 11),
            ("open".to_string(), -4),
        ])
    );
}

async fn add_keeps_the_rest_of_the_item(b: &Backend) {
    // GIVEN an item with a body, index keys, an expiry and a counter
    let store = &b.ports.store;
    let k = key("T#a", "RULE#1");
    let mut item = Item::new(k.clone(), r#"{"name":"rule"}"#)
        .with_gsi1(IndexKey::new("T#a#RULES", "rule"))
        .with_gsi2(IndexKey::new("T#a#ENABLED", "rule"))
        .with_expiry(1_900_000_000);
    item.counters = BTreeMap::from([("hits".to_string(), 1)]);
    let version = store.put(item.clone(), PutCondition::Absent).await.unwrap();

    // WHEN a counter is added
    let counters = store
        .add(&k, &BTreeMap::from([("hits".to_string(), 1)]))
        .await
        .unwrap();

    // THEN only the counter changed
    assert_eq!(counters, BTreeMap::from([("hits".to_string(), 2)]));
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!(stored.body, item.body);
    assert_eq!((stored.gsi1, stored.gsi2), (item.gsi1, item.gsi2));
    assert_eq!(stored.expires_at, item.expires_at);
    assert_eq!(stored.version, version);
}

/// 24 concurrent adds of 1 (and of 2 to a second counter) to one item, after `already` of each.
async fn race_adds(b: &Backend, k: Key, already: i64) {
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (store, k) = (Arc::clone(&b.ports.store), k.clone());
            tokio::spawn(async move {
                let deltas = BTreeMap::from([("ones".to_string(), 1), ("twos".to_string(), 2)]);
                store.add(&k, &deltas).await
            })
        })
        .collect();

    // WHEN they all finish
    let mut seen = BTreeSet::new();
    for task in tasks {
        let counters = task.await.unwrap().unwrap();
        // Each add sees its own result: no two return the same total.
        assert_eq!(counters["twos"], 2 * counters["ones"]);
        assert!(
            seen.insert(counters["ones"]),
            "total {} returned twice",
            counters["ones"]
        );
    }

    // THEN nothing was lost
    let total = already + 24;
    assert_eq!(seen, (already + 1..=total).collect::<BTreeSet<i64>>());
    let stored = b.ports.store.get(&k).await.unwrap().unwrap();
    assert_eq!(
        stored.counters,
        BTreeMap::from([("ones".to_string(), total), ("twos".to_string(), 2 * total)])
    );
}

async fn concurrent_adds_to_an_existing_item_sum_exactly(b: &Backend) {
    // GIVEN a counter item, and 24 adds racing on it
    let k = key("T#a", "STATS#race");
    let first = BTreeMap::from([("ones".to_string(), 1), ("twos".to_string(), 2)]);
    b.ports.store.add(&k, &first).await.unwrap();
    race_adds(b, k, 1).await;
}

async fn concurrent_adds_creating_the_item_sum_exactly(b: &Backend) {
    // GIVEN no item, and 24 adds racing to create it
    race_adds(b, key("T#a", "STATS#new"), 0).await;
}

async fn counters_named_like_item_fields_leave_the_item_intact(b: &Backend) {
    // GIVEN an item with every field set
    let store = &b.ports.store;
    let k = key("T#a", "STATS");
    let item = Item::new(k.clone(), r#"{"kept":true}"#)
        .with_gsi1(IndexKey::new("T#a#G1", "1"))
        .with_gsi2(IndexKey::new("T#a#G2", "1"))
        .with_expiry(4_102_444_800);
    store.put(item.clone(), PutCondition::Absent).await.unwrap();

    // WHEN counters are named like the fields an item is stored with
    let names = [
        "pk",
        "sk",
        "body",
        "version",
        "counters",
        "expires_at",
        "ttl",
        "gsi1pk",
        "gsi1sk",
        "gsi2pk",
        "gsi2sk",
        "c",
        "n",
        "_",
    ];
    let deltas: BTreeMap<String, i64> = names.iter().map(|n| (n.to_string(), 7)).collect();
    let counters = store.add(&k, &deltas).await.unwrap();

    // THEN they are ordinary counters and the item is unchanged
    assert_eq!(counters, deltas);
    let stored = store.get(&k).await.unwrap().unwrap();
    assert_eq!(stored.counters, deltas);
    assert_eq!(
        Item {
            counters: BTreeMap::new(),
            ..stored
        },
        Item { version: 1, ..item }
    );
    let page = store
        .query(Query::partition(Index::Gsi1, "T#a#G1"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn invalid_counter_names_are_invalid(b: &Backend) {
    let store = &b.ports.store;
    let too_long = "n".repeat(65);
    for name in [
        "",
        "has space",
        "a#b",
        "x.y",
        "Upper",
        "é",
        too_long.as_str(),
    ] {
        // WHEN a counter with a malformed name is added, or put with an item
        let deltas = BTreeMap::from([(name.to_string(), 1)]);
        let added = store.add(&key("T#a", "STATS"), &deltas).await;
        let mut item = Item::new(key("T#a", "ITEM"), "{}");
        item.counters = deltas.clone();
        let put = store.put(item, PutCondition::None).await;
        let in_transaction = store
            .transact(vec![WriteOp::Add {
                key: key("T#a", "STATS"),
                deltas,
            }])
            .await;

        // THEN each is refused as invalid, and nothing is written
        assert!(
            matches!(added, Err(StoreError::Invalid(_))),
            "{name:?}: {added:?}"
        );
        assert!(
            matches!(put, Err(StoreError::Invalid(_))),
            "{name:?}: {put:?}"
        );
        assert!(
            matches!(in_transaction, Err(StoreError::Invalid(_))),
            "{name:?}: {in_transaction:?}"
        );
    }
    assert_eq!(store.get(&key("T#a", "STATS")).await.unwrap(), None);
    assert_eq!(store.get(&key("T#a", "ITEM")).await.unwrap(), None);
}

async fn transaction_applies_every_write(b: &Backend) {
    // GIVEN an item to check, one to delete and one to update
    let store = &b.ports.store;
    put_all(
        store,
        [
            Item::new(key("T#a", "DELETE"), "{}"),
            Item::new(key("T#a", "BUMP"), r#"{"v":1}"#),
        ],
    )
    .await;
    store
        .put(Item::new(key("T#a", "CHECK"), "{}"), PutCondition::Absent)
        .await
        .unwrap();
    store
        .put(Item::new(key("T#a", "UPDATE"), "{}"), PutCondition::Absent)
        .await
        .unwrap();

    // WHEN one transaction does every kind of write
    let result = store
        .transact(vec![
            WriteOp::Put {
                item: Item::new(key("T#a", "NEW"), r#"{"new":true}"#),
                condition: PutCondition::Absent,
            },
            WriteOp::Check {
                key: key("T#a", "CHECK"),
                version: 1,
            },
            WriteOp::Delete {
                key: key("T#a", "DELETE"),
                condition: DeleteCondition::Exists,
            },
            WriteOp::Add {
                key: key("T#a", "COUNT"),
                deltas: BTreeMap::from([("n".to_string(), 5)]),
            },
            WriteOp::Put {
                item: Item::new(key("T#a", "UPDATE"), r#"{"updated":true}"#),
                condition: PutCondition::VersionEquals(1),
            },
        ])
        .await;

    // THEN all of them are applied, with the same versions single writes would give
    assert_eq!(result, Ok(()));
    let new = store.get(&key("T#a", "NEW")).await.unwrap().unwrap();
    assert_eq!((new.version, new.body.as_str()), (1, r#"{"new":true}"#));
    assert_eq!(
        store
            .get(&key("T#a", "CHECK"))
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(store.get(&key("T#a", "DELETE")).await.unwrap(), None);
    let count = store.get(&key("T#a", "COUNT")).await.unwrap().unwrap();
    assert_eq!(count.counters, BTreeMap::from([("n".to_string(), 5)]));
    let updated = store.get(&key("T#a", "UPDATE")).await.unwrap().unwrap();
    assert_eq!(
        (updated.version, updated.body.as_str()),
        (2, r#"{"updated":true}"#)
    );
    assert_eq!(
        store.get(&key("T#a", "BUMP")).await.unwrap().unwrap().body,
        r#"{"v":1}"#
    );
}

async fn failed_transaction_applies_nothing_and_names_the_failing_write(b: &Backend) {
    // GIVEN an existing item at version 1 and one counter at 1
    let store = &b.ports.store;
    store
        .put(
            Item::new(key("T#a", "TAKEN"), r#"{"orig":1}"#),
            PutCondition::Absent,
        )
        .await
        .unwrap();
    store
        .add(
            &key("T#a", "COUNT"),
            &BTreeMap::from([("n".to_string(), 1)]),
        )
        .await
        .unwrap();

    let fine = |n: u32| -> Vec<WriteOp> {
        vec![
            WriteOp::Put {
                item: Item::new(key("T#a", &format!("NEW#{n}")), "{}"),
                condition: PutCondition::Absent,
            },
            WriteOp::Add {
                key: key("T#a", "COUNT"),
                deltas: BTreeMap::from([("n".to_string(), 1)]),
            },
        ]
    };
    let failing: Vec<(WriteOp, StoreError)> = vec![
        (
            WriteOp::Put {
                item: Item::new(key("T#a", "TAKEN"), "{}"),
                condition: PutCondition::Absent,
            },
            StoreError::AlreadyExists,
        ),
        (
            WriteOp::Put {
                item: Item::new(key("T#a", "TAKEN"), "{}"),
                condition: PutCondition::VersionEquals(9),
            },
            StoreError::VersionConflict,
        ),
        (
            WriteOp::Check {
                key: key("T#a", "TAKEN"),
                version: 2,
            },
            StoreError::VersionConflict,
        ),
        (
            WriteOp::Check {
                key: key("T#a", "MISSING"),
                version: 1,
            },
            StoreError::VersionConflict,
        ),
        (
            WriteOp::Delete {
                key: key("T#a", "MISSING"),
                condition: DeleteCondition::Exists,
            },
            StoreError::NotFound,
        ),
        (
            WriteOp::Delete {
                key: key("T#a", "TAKEN"),
                condition: DeleteCondition::VersionEquals(3),
            },
            StoreError::VersionConflict,
        ),
    ];

    for (n, (bad, reason)) in failing.into_iter().enumerate() {
        for position in [0, 1, 2] {
            // WHEN a transaction of good writes contains one failing write at `position`
            let mut ops = fine(n as u32);
            ops.insert(position, bad.clone());
            let result = store.transact(ops).await;

            // THEN it is cancelled, naming that write and why
            assert_eq!(
                result,
                Err(StoreError::TransactionCancelled {
                    index: position,
                    reason: Box::new(reason.clone()),
                }),
                "{bad:?} at {position}"
            );

            // AND none of the good writes happened
            assert_eq!(
                store.get(&key("T#a", &format!("NEW#{n}"))).await.unwrap(),
                None
            );
            let count = store.get(&key("T#a", "COUNT")).await.unwrap().unwrap();
            assert_eq!(count.counters["n"], 1, "{bad:?} at {position}");
            let taken = store.get(&key("T#a", "TAKEN")).await.unwrap().unwrap();
            assert_eq!((taken.version, taken.body.as_str()), (1, r#"{"orig":1}"#));
        }
    }
}

async fn transaction_limits_are_enforced(b: &Backend) {
    let store = &b.ports.store;
    let put = |sk: String| WriteOp::Put {
        item: Item::new(key("T#a", &sk), "{}"),
        condition: PutCondition::None,
    };

    // WHEN a transaction has one write too many
    let too_many = store
        .transact(
            (0..=MAX_TRANSACTION_OPS)
                .map(|n| put(format!("N#{n}")))
                .collect(),
        )
        .await;

    // THEN it is invalid and nothing is written
    assert!(
        matches!(too_many, Err(StoreError::Invalid(_))),
        "{too_many:?}"
    );
    assert_eq!(store.get(&key("T#a", "N#0")).await.unwrap(), None);

    // WHEN a transaction writes one key twice
    let twice = store
        .transact(vec![
            put("SAME".into()),
            WriteOp::Add {
                key: key("T#a", "SAME"),
                deltas: BTreeMap::from([("n".into(), 1)]),
            },
        ])
        .await;

    // THEN it is invalid too
    assert!(matches!(twice, Err(StoreError::Invalid(_))), "{twice:?}");
    assert_eq!(store.get(&key("T#a", "SAME")).await.unwrap(), None);

    // WHEN a transaction has exactly the most writes allowed
    let most = store
        .transact(
            (0..MAX_TRANSACTION_OPS)
                .map(|n| put(format!("M#{n}")))
                .collect(),
        )
        .await;

    // THEN it is applied
    assert_eq!(most, Ok(()));
    let page = store
        .query(Query::partition(Index::Primary, "T#a").sort(SortKey::BeginsWith("M#".into())))
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_TRANSACTION_OPS);
}

async fn expiry_round_trips(b: &Backend) {
    // GIVEN items with and without an expiry, written every way an item can be written
    let store = &b.ports.store;
    let later = 4_102_444_800; // 2100-01-01: not purged during the test
    store
        .put(
            Item::new(key("T#a", "RAW#1"), "{}").with_expiry(later),
            PutCondition::Absent,
        )
        .await
        .unwrap();
    store
        .put(
            Item::new(key("T#a", "RAW#2"), "{}").with_expiry(later + 1),
            PutCondition::None,
        )
        .await
        .unwrap();
    store
        .transact(vec![WriteOp::Put {
            item: Item::new(key("T#a", "RAW#3"), "{}").with_expiry(later + 2),
            condition: PutCondition::Absent,
        }])
        .await
        .unwrap();
    store
        .put(Item::new(key("T#a", "RAW#4"), "{}"), PutCondition::None)
        .await
        .unwrap();

    // WHEN they are read back, one by one and by query
    let page = store
        .query(Query::partition(Index::Primary, "T#a"))
        .await
        .unwrap();
    let queried: Vec<Option<i64>> = page.items.iter().map(|i| i.expires_at).collect();

    // THEN the expiry is exactly as written
    let expected = vec![Some(later), Some(later + 1), Some(later + 2), None];
    assert_eq!(queried, expected);
    for (n, expiry) in expected.into_iter().enumerate() {
        let item = store
            .get(&key("T#a", &format!("RAW#{}", n + 1)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item.expires_at, expiry);
    }

    // WHEN an item is updated without an expiry
    store
        .put(
            Item::new(key("T#a", "RAW#1"), "{}"),
            PutCondition::VersionEquals(1),
        )
        .await
        .unwrap();

    // THEN it no longer has one
    assert_eq!(
        store
            .get(&key("T#a", "RAW#1"))
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        None
    );
}

async fn request_counts_move_one_per_request(b: &Backend) {
    let store = &b.ports.store;
    let writes = |n| RequestCounts {
        writes: n,
        ..RequestCounts::default()
    };
    let reads = |n| RequestCounts {
        reads: n,
        ..RequestCounts::default()
    };
    let k = key("T#a", "EVT#1");
    put_all(
        store,
        [
            Item::new(key("T#a", "EVT#2"), "{}"),
            Item::new(key("T#a", "EVT#3"), "{}"),
        ],
    )
    .await;

    // GIVEN the counts before each request; WHEN it is made; THEN it moved its kind by one
    let before = b.ports.request_counts();
    store
        .put(Item::new(k.clone(), "{}"), PutCondition::Absent)
        .await
        .unwrap();
    assert_eq!(b.ports.request_counts().since(&before), writes(1), "put");

    let before = b.ports.request_counts();
    let refused = store
        .put(Item::new(k.clone(), "{}"), PutCondition::Absent)
        .await;
    assert_eq!(refused, Err(StoreError::AlreadyExists));
    assert_eq!(
        b.ports.request_counts().since(&before),
        writes(1),
        "refused put"
    );

    let before = b.ports.request_counts();
    store.get(&k).await.unwrap();
    assert_eq!(b.ports.request_counts().since(&before), reads(1), "get");

    let before = b.ports.request_counts();
    let pages = pages(store, Query::partition(Index::Primary, "T#a").limit(2)).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(
        b.ports.request_counts().since(&before),
        reads(2),
        "query, two pages"
    );

    let before = b.ports.request_counts();
    store
        .add(&key("T#a", "STATS"), &BTreeMap::from([("n".into(), 1)]))
        .await
        .unwrap();
    assert_eq!(b.ports.request_counts().since(&before), writes(1), "add");

    let before = b.ports.request_counts();
    store
        .transact(vec![
            WriteOp::Check {
                key: k.clone(),
                version: 1,
            },
            WriteOp::Add {
                key: key("T#a", "STATS"),
                deltas: BTreeMap::from([("n".into(), 1)]),
            },
            WriteOp::Delete {
                key: key("T#a", "EVT#2"),
                condition: DeleteCondition::None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        b.ports.request_counts().since(&before),
        writes(1),
        "transaction"
    );

    let before = b.ports.request_counts();
    store.delete(&k, DeleteCondition::Exists).await.unwrap();
    assert_eq!(b.ports.request_counts().since(&before), writes(1), "delete");
}
