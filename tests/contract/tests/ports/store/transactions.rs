//! `ItemStore` contract: transactions: all or nothing, the failing write named, limits.

use super::*;

vigil_contract::contract!(
    transaction_applies_every_write,
    failed_transaction_applies_nothing_and_names_the_failing_write,
    transaction_limits_are_enforced,
);

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

/// Two writes that succeed on their own: a new item `NEW#<n>` and an add to `COUNT`.
fn good_writes(n: usize) -> Vec<WriteOp> {
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
}

/// Writes that fail against `TAKEN` (version 1) and a missing key, with the reason each gives.
fn failing_writes() -> Vec<(WriteOp, StoreError)> {
    vec![
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
    ]
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

    let failing = failing_writes();
    for (n, (bad, reason)) in failing.into_iter().enumerate() {
        for position in [0, 1, 2] {
            // WHEN a transaction of good writes contains one failing write at `position`
            let mut ops = good_writes(n);
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
