//! `ItemStore` on SQLite: one rowid table of items, a unique index on the primary key and a
//! partial index per secondary index.

mod query;
mod rows;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use vigil_core::ports::store::{
    validate_add, validate_delete, validate_key, validate_put, validate_query, validate_transaction,
};
use vigil_core::ports::{
    DeleteCondition, Item, ItemStore, Key, Page, PutCondition, Query, RequestCounter,
    RequestCounts, StoreError, WriteOp,
};

use crate::db::Database;
use query::run_query;
use rows::{COLUMNS, ItemColumns, StoredRow, decode_counters, encode_counters, version_to_sql};

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
        let version = validate_put(&item, condition)?;
        self.counter.write();
        self.db
            .write_fails_clean(move |conn| put_item(conn, &item, condition, version))
            .await
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        self.counter.read();
        let key = key.clone();
        self.db.read(move |conn| get_item(conn, &key)).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        validate_query(&query)?;
        self.counter.read();
        self.db.read(move |conn| run_query(conn, &query)).await
    }

    async fn delete(&self, key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
        validate_delete(key, condition)?;
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
        validate_add(key, deltas)?;
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

// ---- operations (run on a connection, on requests the port's checks accepted) ----------------

/// Writes `item` as a put with `condition` does; `version` is what the put writes (from
/// `validate_put`).
pub(crate) fn put_item(
    conn: &Connection,
    item: &Item,
    condition: PutCondition,
    version: u64,
) -> Result<u64, StoreError> {
    let columns = ItemColumns::new(item, version)?;
    let params = columns.params();
    let run = |sql: &str, params: &[&dyn ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(unavailable)
    };
    match condition {
        PutCondition::None => {
            run(
                &format!(
                    "INSERT INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk, \
                     gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk, \
                     gsi2sk = excluded.gsi2sk, expires_at = excluded.expires_at, \
                     version = excluded.version, counters = excluded.counters, \
                     body = excluded.body"
                ),
                &params,
            )?;
        }
        PutCondition::Absent => {
            let inserted = run(
                &format!(
                    "INSERT INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (pk, sk) DO NOTHING"
                ),
                &params,
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
        }
        PutCondition::VersionEquals(expected) => {
            let expected = version_to_sql(expected)?;
            let mut with_expected: Vec<&dyn ToSql> = params.to_vec();
            with_expected.push(&expected);
            let updated = run(
                "UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, gsi2pk = ?5, gsi2sk = ?6, \
                 expires_at = ?7, version = ?8, counters = ?9, body = ?10 \
                 WHERE pk = ?1 AND sk = ?2 AND version = ?11",
                &with_expected,
            )?;
            if updated == 0 {
                return Err(StoreError::VersionConflict);
            }
        }
    }
    Ok(version)
}

pub(crate) fn get_item(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"
        ))
        .and_then(|mut s| {
            s.query_row(params![key.pk, key.sk], StoredRow::read)
                .optional()
        })
        .map_err(unavailable)?;
    row.map(StoredRow::into_item).transpose()
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
            WriteOp::Put { item, condition } => validate_put(item, *condition)
                .and_then(|version| put_item(conn, item, *condition, version))
                .map(|_| ()),
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
