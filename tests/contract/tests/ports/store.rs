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

mod counters;
mod queries;
mod transactions;
mod writes;

vigil_contract::contract!(expiry_round_trips, request_counts_move_one_per_request,);

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

/// Asserts the requests made since `before` are `expected`, saying which request it was.
fn assert_moved(b: &Backend, before: &RequestCounts, expected: RequestCounts, request: &str) {
    assert_eq!(
        b.ports.request_counts().since(before),
        expected,
        "{request}"
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
    assert_moved(b, &before, writes(1), "put");

    let before = b.ports.request_counts();
    let refused = store
        .put(Item::new(k.clone(), "{}"), PutCondition::Absent)
        .await;
    assert_eq!(refused, Err(StoreError::AlreadyExists));
    assert_moved(b, &before, writes(1), "refused put");

    let before = b.ports.request_counts();
    store.get(&k).await.unwrap();
    assert_moved(b, &before, reads(1), "get");

    let before = b.ports.request_counts();
    let pages = pages(store, Query::partition(Index::Primary, "T#a").limit(2)).await;
    assert_eq!(pages.len(), 2);
    assert_moved(b, &before, reads(2), "query, two pages");

    let before = b.ports.request_counts();
    store
        .add(&key("T#a", "STATS"), &BTreeMap::from([("n".into(), 1)]))
        .await
        .unwrap();
    assert_moved(b, &before, writes(1), "add");

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
    assert_moved(b, &before, writes(1), "transaction");

    let before = b.ports.request_counts();
    store.delete(&k, DeleteCondition::Exists).await.unwrap();
    assert_moved(b, &before, writes(1), "delete");
}
