//! Items as SQLite rows: the columns of the `items` table, counters as JSON text.

use std::collections::BTreeMap;

use rusqlite::{Row, ToSql};
use vigil_core::ports::{IndexKey, Item, Key, StoreError};

use super::invalid;

/// The columns of `items` an item fills, in the order of [`ItemColumns::params`].
pub(super) const COLUMNS: &str =
    "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, version, counters, body";

pub(super) fn version_to_sql(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| invalid("version is too large"))
}

pub(super) fn encode_counters(
    counters: &BTreeMap<String, i64>,
) -> Result<Option<String>, StoreError> {
    if counters.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(counters)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

pub(super) fn decode_counters(
    text: Option<&str>,
    key: &Key,
) -> Result<BTreeMap<String, i64>, StoreError> {
    match text {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: counters: {e}", key.pk, key.sk))),
    }
}

/// An item ready to bind as `?1`..`?10` in [`COLUMNS`] order, written with `version`.
pub(super) struct ItemColumns<'a> {
    item: &'a Item,
    version: i64,
    counters: Option<String>,
    gsi1: (Option<&'a str>, Option<&'a str>),
    gsi2: (Option<&'a str>, Option<&'a str>),
}

impl<'a> ItemColumns<'a> {
    pub(super) fn new(item: &'a Item, version: u64) -> Result<Self, StoreError> {
        Ok(Self {
            item,
            version: version_to_sql(version)?,
            counters: encode_counters(&item.counters)?,
            gsi1: split(item.gsi1.as_ref()),
            gsi2: split(item.gsi2.as_ref()),
        })
    }

    pub(super) fn params(&self) -> [&dyn ToSql; 10] {
        [
            &self.item.key.pk,
            &self.item.key.sk,
            &self.gsi1.0,
            &self.gsi1.1,
            &self.gsi2.0,
            &self.gsi2.1,
            &self.item.expires_at,
            &self.version,
            &self.counters,
            &self.item.body,
        ]
    }
}

fn split(key: Option<&IndexKey>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

/// An item as stored ([`COLUMNS`]), before its counters are parsed.
pub(super) struct StoredRow {
    key: Key,
    gsi1: Option<IndexKey>,
    gsi2: Option<IndexKey>,
    expires_at: Option<i64>,
    version: i64,
    counters: Option<String>,
    body: String,
}

impl StoredRow {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
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

    pub(super) fn into_item(self) -> Result<Item, StoreError> {
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
