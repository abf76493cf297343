//! `ItemStore` contract: queries: sort conditions, partitions, paging, index membership.

use super::*;

vigil_contract::contract!(
    query_applies_each_sort_condition_in_both_orders_on_every_index,
    query_reads_one_partition_only,
    paging_yields_every_item_once_and_ends_without_a_cursor,
    paging_ends_without_a_cursor_when_the_last_page_is_exactly_full,
    paging_through_equal_index_keys_yields_every_item_once,
    items_without_an_index_key_are_absent_from_that_index,
);

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
