//! `ItemStore` on SQLite: one rowid table of items, a unique index on the primary key and a
//! partial index per secondary index.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use vigil_core::ports::store::{
    MAX_BODY_BYTES, validate_counter_names, validate_index_key, validate_key,
};
use vigil_core::ports::store::{MAX_PAGE, MAX_TRANSACTION_OPS};
use vigil_core::ports::{
    Cursor, DeleteCondition, Index, IndexKey, Item, ItemStore, Key, Order, Page, PutCondition,
    Query, RequestCounter, RequestCounts, SortKey, StoreError, WriteOp,
};

use crate::db::Database;

const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, version, counters, body";

/// The item store of the embedded backend.
pub struct SqliteStore {
    db: Arc<Database>,
    counter: RequestCounter,
}

impl SqliteStore {
    pub(crate) fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self {
            db,
            counter: RequestCounter::default(),
        }
    }
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn put(&self, item: Item, condition: PutCondition) -> Result<u64, StoreError> {
        validate_item(&item)?;
        self.counter.write();
        self.db
            .write_fails_clean(move |conn| put_item(conn, &item, condition))
            .await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        self.counter.read();
        let key = key.clone();
        self.db.read(move |conn| get_item(conn, &key)).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.partition.is_empty() {
            return Err(StoreError::Invalid("the query partition is empty".into()));
        }
        if query.index != Index::Primary
            && query.cursor.as_ref().is_some_and(|c| c.index_key.is_none())
        {
            return Err(StoreError::InvalidCursor);
        }
        self.counter.read();
        self.db.read(move |conn| run_query(conn, &query)).await
    }

    async fn delete(&self, key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
        validate_key(key)?;
        self.counter.write();
        let key = key.clone();
        self.db
            .write_fails_clean(move |conn| delete_item(conn, &key, condition))
            .await
    }

    async fn add(
        &self,
        key: &Key,
        deltas: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        validate_key(key)?;
        validate_counter_names(deltas.keys())?;
        self.counter.write();
        let (key, deltas) = (key.clone(), deltas.clone());
        self.db
            .write_fails_clean(move |conn| add_counters(conn, &key, &deltas))
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.counter.write();
        self.db.write(move |conn| run_transaction(conn, &ops)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.counter.read();
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT 1")
                    .and_then(|mut s| s.query_row([], |_| Ok(())))
                    .map_err(unavailable)
            })
            .await
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(reason.into())
}

// ---- validation -------------------------------------------------------------------------------

pub(crate) fn validate_item(item: &Item) -> Result<(), StoreError> {
    validate_key(&item.key)?;
    validate_index_key(item.gsi1.as_ref())?;
    validate_index_key(item.gsi2.as_ref())?;
    validate_counter_names(item.counters.keys())?;
    if item.body.len() > MAX_BODY_BYTES {
        return Err(invalid(format!(
            "item body is {} bytes, more than 400 KiB",
            item.body.len()
        )));
    }
    version_to_sql(item.version).map(|_| ())
}

fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(invalid(format!(
            "{} writes in one transaction, at most {MAX_TRANSACTION_OPS}",
            ops.len()
        )));
    }
    let mut keys = HashSet::with_capacity(ops.len());
    for op in ops {
        let key = match op {
            WriteOp::Put { item, .. } => {
                validate_item(item)?;
                &item.key
            }
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => {
                validate_key(key)?;
                key
            }
            WriteOp::Add { key, deltas } => {
                validate_key(key)?;
                validate_counter_names(deltas.keys())?;
                key
            }
        };
        if !keys.insert(key) {
            return Err(invalid(format!(
                "the transaction writes {}/{} more than once",
                key.pk, key.sk
            )));
        }
    }
    Ok(())
}

fn version_to_sql(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| invalid("version is too large"))
}

// ---- rows ---------------------------------------------------------------------------------------

fn encode_counters(counters: &BTreeMap<String, i64>) -> Result<Option<String>, StoreError> {
    if counters.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(counters)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

fn decode_counters(text: Option<&str>, key: &Key) -> Result<BTreeMap<String, i64>, StoreError> {
    match text {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: counters: {e}", key.pk, key.sk))),
    }
}

/// An item as stored, before its counters are parsed.
struct Row10 {
    key: Key,
    gsi1: Option<IndexKey>,
    gsi2: Option<IndexKey>,
    expires_at: Option<i64>,
    version: i64,
    counters: Option<String>,
    body: String,
}

impl Row10 {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        let index_key = |p: Option<String>, s: Option<String>| match (p, s) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        };
        Ok(Self {
            key: Key {
                pk: row.get(0)?,
                sk: row.get(1)?,
            },
            gsi1: index_key(row.get(2)?, row.get(3)?),
            gsi2: index_key(row.get(4)?, row.get(5)?),
            expires_at: row.get(6)?,
            version: row.get(7)?,
            counters: row.get(8)?,
            body: row.get(9)?,
        })
    }

    fn into_item(self) -> Result<Item, StoreError> {
        let counters = decode_counters(self.counters.as_deref(), &self.key)?;
        let version = u64::try_from(self.version).map_err(|_| {
            StoreError::Corrupt(format!("{}/{}: negative version", self.key.pk, self.key.sk))
        })?;
        Ok(Item {
            key: self.key,
            gsi1: self.gsi1,
            gsi2: self.gsi2,
            expires_at: self.expires_at,
            version,
            counters,
            body: self.body,
        })
    }
}

// ---- operations (run on a connection) --------------------------------------------------------

pub(crate) fn put_item(
    conn: &Connection,
    item: &Item,
    condition: PutCondition,
) -> Result<u64, StoreError> {
    let counters = encode_counters(&item.counters)?;
    let (g1p, g1s) = split(item.gsi1.as_ref());
    let (g2p, g2s) = split(item.gsi2.as_ref());
    let (pk, sk) = (&item.key.pk, &item.key.sk);
    match condition {
        PutCondition::None => {
            let version = version_to_sql(item.version)?;
            conn.prepare_cached(
                "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, version, \
                 counters, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk, \
                 gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk, gsi2sk = excluded.gsi2sk, \
                 expires_at = excluded.expires_at, version = excluded.version, \
                 counters = excluded.counters, body = excluded.body",
            )
            .and_then(|mut s| {
                s.execute(params![
                    pk,
                    sk,
                    g1p,
                    g1s,
                    g2p,
                    g2s,
                    item.expires_at,
                    version,
                    counters,
                    item.body
                ])
            })
            .map_err(unavailable)?;
            Ok(item.version)
        }
        PutCondition::Absent => {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, \
                     version, counters, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9) \
                     ON CONFLICT (pk, sk) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        pk,
                        sk,
                        g1p,
                        g1s,
                        g2p,
                        g2s,
                        item.expires_at,
                        counters,
                        item.body
                    ])
                })
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            Ok(1)
        }
        PutCondition::VersionEquals(expected) => {
            let next = expected
                .checked_add(1)
                .ok_or_else(|| invalid("version is too large"))?;
            let (expected_sql, next_sql) = (version_to_sql(expected)?, version_to_sql(next)?);
            let updated = conn
                .prepare_cached(
                    "UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, gsi2pk = ?5, gsi2sk = ?6, \
                     expires_at = ?7, version = ?8, counters = ?9, body = ?10 \
                     WHERE pk = ?1 AND sk = ?2 AND version = ?11",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        pk,
                        sk,
                        g1p,
                        g1s,
                        g2p,
                        g2s,
                        item.expires_at,
                        next_sql,
                        counters,
                        item.body,
                        expected_sql
                    ])
                })
                .map_err(unavailable)?;
            if updated == 0 {
                return Err(StoreError::VersionConflict);
            }
            Ok(next)
        }
    }
}

fn split(key: Option<&IndexKey>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

pub(crate) fn get_item(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"
        ))
        .and_then(|mut s| s.query_row(params![key.pk, key.sk], Row10::read).optional())
        .map_err(unavailable)?;
    row.map(Row10::into_item).transpose()
}

fn stored_version(conn: &Connection, key: &Key) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT version FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut s| {
            s.query_row(params![key.pk, key.sk], |r| r.get(0))
                .optional()
        })
        .map_err(unavailable)
}

fn delete_item(conn: &Connection, key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
    let deleted = match condition {
        DeleteCondition::None | DeleteCondition::Exists => conn
            .prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
            .and_then(|mut s| s.execute(params![key.pk, key.sk])),
        DeleteCondition::VersionEquals(v) => {
            let v = version_to_sql(v)?;
            conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND version = ?3")
                .and_then(|mut s| s.execute(params![key.pk, key.sk, v]))
        }
    }
    .map_err(unavailable)?;
    match condition {
        _ if deleted > 0 => Ok(()),
        DeleteCondition::None => Ok(()),
        DeleteCondition::Exists => Err(StoreError::NotFound),
        DeleteCondition::VersionEquals(_) => Err(StoreError::VersionConflict),
    }
}

fn add_counters(
    conn: &Connection,
    key: &Key,
    deltas: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let stored: Option<Option<String>> = conn
        .prepare_cached("SELECT counters FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut s| {
            s.query_row(params![key.pk, key.sk], |r| r.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    let mut counters = match &stored {
        Some(text) => decode_counters(text.as_deref(), key)?,
        None => BTreeMap::new(),
    };
    for (name, delta) in deltas {
        let value = counters.entry(name.clone()).or_insert(0);
        *value = value
            .checked_add(*delta)
            .ok_or_else(|| invalid(format!("counter {name} would overflow")))?;
    }
    let encoded = encode_counters(&counters)?;
    let statement = if stored.is_some() {
        "UPDATE items SET counters = ?3 WHERE pk = ?1 AND sk = ?2"
    } else {
        "INSERT INTO items (pk, sk, version, counters, body) VALUES (?1, ?2, 1, ?3, '{}')"
    };
    conn.prepare_cached(statement)
        .and_then(|mut s| s.execute(params![key.pk, key.sk, encoded]))
        .map_err(unavailable)?;
    Ok(counters)
}

fn run_transaction(conn: &Connection, ops: &[WriteOp]) -> Result<(), StoreError> {
    for (index, op) in ops.iter().enumerate() {
        let outcome = match op {
            WriteOp::Put { item, condition } => put_item(conn, item, *condition).map(|_| ()),
            WriteOp::Delete { key, condition } => delete_item(conn, key, *condition),
            WriteOp::Add { key, deltas } => add_counters(conn, key, deltas).map(|_| ()),
            WriteOp::Check { key, version } => {
                let expected = version_to_sql(*version)?;
                match stored_version(conn, key)? {
                    Some(v) if v == expected => Ok(()),
                    _ => Err(StoreError::VersionConflict),
                }
            }
        };
        match outcome {
            Ok(()) => {}
            // The database itself failing is not a cancelled condition.
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(reason) => {
                return Err(StoreError::TransactionCancelled {
                    index,
                    reason: Box::new(reason),
                });
            }
        }
    }
    Ok(())
}

// ---- queries ------------------------------------------------------------------------------------

/// The smallest string greater than every string that starts with `prefix` (None: no bound).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&code) {
            code = 0xE000;
        }
        if let Some(next) = char::from_u32(code) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    let (pcol, scol) = match query.index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    let descending = query.order == Order::Descending;
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pcol} = ?");
    let mut args: Vec<String> = vec![query.partition.clone()];

    let mut bound = |sql: &mut String, op: &str, value: String| {
        sql.push_str(&format!(" AND {scol} {op} ?"));
        args.push(value);
    };
    match &query.sort {
        SortKey::All => {}
        SortKey::BeginsWith(prefix) => {
            bound(&mut sql, ">=", prefix.clone());
            if let Some(upper) = prefix_upper_bound(prefix) {
                bound(&mut sql, "<", upper);
            }
        }
        SortKey::Between(low, high) => {
            bound(&mut sql, ">=", low.clone());
            bound(&mut sql, "<=", high.clone());
        }
        SortKey::GreaterOrEqual(low) => bound(&mut sql, ">=", low.clone()),
        SortKey::LessOrEqual(high) => bound(&mut sql, "<=", high.clone()),
    }

    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.cursor {
        match query.index {
            Index::Primary => bound(&mut sql, cmp, cursor.key.sk.clone()),
            Index::Gsi1 | Index::Gsi2 => {
                let index_key = cursor.index_key.as_ref().ok_or(StoreError::InvalidCursor)?;
                // Index sort keys may repeat; the primary key breaks ties, as in the ORDER BY.
                let loose = if descending { "<=" } else { ">=" };
                bound(&mut sql, loose, index_key.sk.clone());
                sql.push_str(&format!(" AND ({scol}, pk, sk) {cmp} (?, ?, ?)"));
                args.extend([
                    index_key.sk.clone(),
                    cursor.key.pk.clone(),
                    cursor.key.sk.clone(),
                ]);
            }
        }
    }
    match query.index {
        Index::Primary => sql.push_str(&format!(" ORDER BY sk {dir}")),
        Index::Gsi1 | Index::Gsi2 => {
            sql.push_str(&format!(" ORDER BY {scol} {dir}, pk {dir}, sk {dir}"));
        }
    }
    let limit = query.limit.clamp(1, MAX_PAGE);
    sql.push_str(&format!(" LIMIT {}", limit + 1));

    let rows = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(args.iter()), Row10::read)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(unavailable)?;
    let mut items = rows
        .into_iter()
        .map(Row10::into_item)
        .collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = match items.last() {
        Some(last) if more => Some(Cursor::after_item(last, query.index)),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedBackend;
    use vigil_core::ports::ResourceNames;

    fn store() -> (EmbeddedBackend, Arc<dyn ItemStore>) {
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default()).unwrap();
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
        let backend = EmbeddedBackend::open(dir.path(), &ResourceNames::default()).unwrap();
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
            let item = Item::new(Key::new(format!("p{i}"), "s"), "{}")
                .with_gsi1(IndexKey::new("g", "same"));
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
}
