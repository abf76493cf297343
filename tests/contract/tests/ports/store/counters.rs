//! `ItemStore` contract: counters: creation, atomic adds, names.

use super::*;

vigil_contract::contract!(
    add_creates_the_item_and_its_counters_then_increments,
    add_keeps_the_rest_of_the_item,
    concurrent_adds_to_an_existing_item_sum_exactly,
    concurrent_adds_creating_the_item_sum_exactly,
    counters_named_like_item_fields_leave_the_item_intact,
    invalid_counter_names_are_invalid,
);

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
