use vigil_core::ports::ResourceNames;
use vigil_core::ports::{Index, IndexKey};

use super::query::prefix_upper_bound;
use super::*;
use crate::{EmbeddedBackend, test_routes};

fn store() -> (EmbeddedBackend, Arc<dyn ItemStore>) {
    let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
    let store = backend.ports().store;
    (backend, store)
}

#[test]
fn prefix_bound_is_the_next_string_after_every_extension() {
    assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
    assert_eq!(prefix_upper_bound(""), None);
    assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
}

#[tokio::test]
async fn thirty_two_racing_absent_puts_of_one_key_let_exactly_one_win() {
    // GIVEN a file-backed store and 32 tasks that all create the same key
    let dir = tempfile::tempdir().unwrap();
    let backend =
        EmbeddedBackend::open(dir.path(), &ResourceNames::default(), test_routes()).unwrap();
    let store = backend.ports().store;
    let key = Key::new("T#acme", "EVT#1");

    // WHEN they race
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let item = Item::new(key.clone(), format!(r#"{{"writer":{i}}}"#));
            tokio::spawn(async move { store.put(item, PutCondition::Absent).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }

    // THEN one wins with version 1 and the other 31 see AlreadyExists
    assert_eq!(results.iter().filter(|r| **r == Ok(1)).count(), 1);
    let refused = results
        .iter()
        .filter(|r| **r == Err(StoreError::AlreadyExists))
        .count();
    assert_eq!(refused, 31);
    assert_eq!(store.get(&key).await.unwrap().unwrap().version, 1);
    backend.shutdown().await;
}

#[tokio::test]
async fn a_failed_write_in_a_batch_leaves_its_neighbours_alone() {
    // GIVEN an existing item
    let (_backend, store) = store();
    store
        .put(
            Item::new(Key::new("p", "taken"), "{}"),
            PutCondition::Absent,
        )
        .await
        .unwrap();

    // WHEN a failing transaction and plain puts are committed together
    let tx = store.transact(vec![
        WriteOp::Put {
            item: Item::new(Key::new("p", "new"), "{}"),
            condition: PutCondition::Absent,
        },
        WriteOp::Put {
            item: Item::new(Key::new("p", "taken"), "{}"),
            condition: PutCondition::Absent,
        },
    ]);
    let put = store.put(
        Item::new(Key::new("p", "other"), "{}"),
        PutCondition::Absent,
    );
    let (tx, put) = tokio::join!(tx, put);

    // THEN the transaction is cancelled at its second write, with nothing written,
    // and the neighbouring put stands
    assert_eq!(
        tx,
        Err(StoreError::TransactionCancelled {
            index: 1,
            reason: Box::new(StoreError::AlreadyExists)
        })
    );
    assert_eq!(put, Ok(1));
    assert!(store.get(&Key::new("p", "new")).await.unwrap().is_none());
    assert!(store.get(&Key::new("p", "other")).await.unwrap().is_some());
}

#[tokio::test]
async fn gsi_pages_break_sort_key_ties_by_primary_key() {
    // GIVEN five items sharing one index sort key
    let (_backend, store) = store();
    for i in 0..5 {
        let item =
            Item::new(Key::new(format!("p{i}"), "s"), "{}").with_gsi1(IndexKey::new("g", "same"));
        store.put(item, PutCondition::None).await.unwrap();
    }

    // WHEN they are read two at a time, both ways
    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let mut q = Query::partition(Index::Gsi1, "g").limit(2).after(cursor);
            if descending {
                q = q.descending();
            }
            let page = store.query(q).await.unwrap();
            seen.extend(page.items.iter().map(|i| i.key.pk.clone()));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        // THEN every item appears once, in primary-key order
        let mut expected: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn counter_names_outside_the_safe_alphabet_are_refused() {
    // GIVEN a store
    let (_backend, store) = store();

    // WHEN a counter name has an upper-case letter
    let deltas = BTreeMap::from([("Total".to_string(), 1)]);
    let result = store.add(&Key::new("p", "s"), &deltas).await;

    // THEN it is invalid and nothing was created
    assert!(matches!(result, Err(StoreError::Invalid(_))));
    assert!(store.get(&Key::new("p", "s")).await.unwrap().is_none());
}

#[tokio::test]
async fn add_creates_the_item_and_later_adds_keep_its_version() {
    // GIVEN no item
    let (_backend, store) = store();
    let key = Key::new("p", "counts");

    // WHEN counters are added twice
    let first = store
        .add(&key, &BTreeMap::from([("a".to_string(), 2)]))
        .await
        .unwrap();
    let second = store
        .add(
            &key,
            &BTreeMap::from([("a".to_string(), 3), ("b".to_string(), -1)]),
        )
        .await
        .unwrap();

    // THEN the item exists with body {} and version 1, and holds the sums
    assert_eq!(first, BTreeMap::from([("a".to_string(), 2)]));
    assert_eq!(
        second,
        BTreeMap::from([("a".to_string(), 5), ("b".to_string(), -1)])
    );
    let item = store.get(&key).await.unwrap().unwrap();
    assert_eq!((item.version, item.body.as_str()), (1, "{}"));
    assert_eq!(item.counters, second);
}
