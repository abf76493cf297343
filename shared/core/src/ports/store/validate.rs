//! What every item store accepts: the request checks of the port's contract, written once and
//! called by each adapter before it touches its backend, so both refuse the same requests with
//! the same [`StoreError`].
//!
//! The limits are DynamoDB's (key and item sizes) or smaller (transactions); versions stay
//! within `i64`, which SQLite stores and DynamoDB numbers hold exactly.

use std::collections::{BTreeMap, HashSet};

use super::{
    Cursor, DeleteCondition, Index, IndexKey, Item, Key, MAX_TRANSACTION_OPS, PutCondition, Query,
    StoreError, WriteOp,
};

/// Largest partition key, as DynamoDB allows.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// Largest sort key, as DynamoDB allows.
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// Largest item body, as DynamoDB allows (the whole item, there).
pub const MAX_BODY_BYTES: usize = 400 * 1024;
/// Longest counter name.
pub const MAX_COUNTER_NAME: usize = 64;

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(reason.into())
}

/// Keys every store accepts: non-empty, within DynamoDB's lengths.
pub fn validate_key(key: &Key) -> Result<(), StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(invalid("partition and sort key must not be empty"));
    }
    if key.pk.len() > MAX_PARTITION_KEY_BYTES || key.sk.len() > MAX_SORT_KEY_BYTES {
        return Err(invalid("key is longer than the store allows"));
    }
    Ok(())
}

pub fn validate_index_key(key: Option<&IndexKey>) -> Result<(), StoreError> {
    match key {
        Some(k) if k.pk.is_empty() || k.sk.is_empty() => {
            Err(invalid("index keys must not be empty"))
        }
        Some(k) if k.pk.len() > MAX_PARTITION_KEY_BYTES || k.sk.len() > MAX_SORT_KEY_BYTES => {
            Err(invalid("index key is longer than the store allows"))
        }
        _ => Ok(()),
    }
}

/// Counter names become top-level attributes on DynamoDB, so they keep to a safe alphabet.
pub fn validate_counter_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), StoreError> {
    for name in names {
        let well_formed = !name.is_empty()
            && name.len() <= MAX_COUNTER_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(invalid(format!(
                "counter name {name:?} must match [a-z0-9_]{{1,64}}"
            )));
        }
    }
    Ok(())
}

/// A version the stores can hold.
fn validate_version(version: u64) -> Result<(), StoreError> {
    i64::try_from(version)
        .map(|_| ())
        .map_err(|_| invalid("version is too large"))
}

/// An item as a put writes it: its keys, counters, body size and version.
pub fn validate_item(item: &Item) -> Result<(), StoreError> {
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
    validate_version(item.version)
}

/// Checks a put; returns the version it writes (see [`Item`]): the item's own without a
/// condition, 1 when absent, the expected one plus one on a version match.
pub fn validate_put(item: &Item, condition: PutCondition) -> Result<u64, StoreError> {
    validate_item(item)?;
    match condition {
        PutCondition::None => Ok(item.version),
        PutCondition::Absent => Ok(1),
        PutCondition::VersionEquals(expected) => {
            let next = expected
                .checked_add(1)
                .ok_or_else(|| invalid("version is too large"))?;
            validate_version(next)?;
            Ok(next)
        }
    }
}

pub fn validate_delete(key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
    validate_key(key)?;
    match condition {
        DeleteCondition::VersionEquals(version) => validate_version(version),
        DeleteCondition::None | DeleteCondition::Exists => Ok(()),
    }
}

pub fn validate_add(key: &Key, deltas: &BTreeMap<String, i64>) -> Result<(), StoreError> {
    validate_key(key)?;
    validate_counter_names(deltas.keys())
}

/// At most [`MAX_TRANSACTION_OPS`] writes, each valid on its own, each on a different key.
pub fn validate_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(invalid(format!(
            "{} writes in one transaction, at most {MAX_TRANSACTION_OPS}",
            ops.len()
        )));
    }
    let mut keys = HashSet::with_capacity(ops.len());
    for op in ops {
        let key = match op {
            WriteOp::Put { item, condition } => validate_put(item, *condition).map(|_| &item.key),
            WriteOp::Delete { key, condition } => validate_delete(key, *condition).map(|()| key),
            WriteOp::Check { key, version } => validate_key(key)
                .and_then(|()| validate_version(*version))
                .map(|()| key),
            WriteOp::Add { key, deltas } => validate_add(key, deltas).map(|()| key),
        }?;
        if !keys.insert(key) {
            return Err(invalid(format!(
                "the transaction writes {}/{} more than once",
                key.pk, key.sk
            )));
        }
    }
    Ok(())
}

/// A query names a partition, and its cursor holds the keys a page of that index ends on.
pub fn validate_query(query: &Query) -> Result<(), StoreError> {
    if query.partition.is_empty() {
        return Err(invalid("the query partition is empty"));
    }
    match &query.cursor {
        Some(cursor) => validate_cursor(cursor, query.index),
        None => Ok(()),
    }
}

/// Cursors come back from clients: one whose keys no stored item can have is refused.
fn validate_cursor(cursor: &Cursor, index: Index) -> Result<(), StoreError> {
    let index_sort_key = match (index, &cursor.index_key) {
        (Index::Primary, _) => None,
        (Index::Gsi1 | Index::Gsi2, Some(index_key)) => Some(index_key.sk.as_str()),
        (Index::Gsi1 | Index::Gsi2, None) => return Err(StoreError::InvalidCursor),
    };
    let empty_key = cursor.key.sk.is_empty()
        || (index != Index::Primary && cursor.key.pk.is_empty())
        || index_sort_key.is_some_and(str::is_empty);
    if empty_key {
        return Err(StoreError::InvalidCursor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new("p", "s")
    }

    #[test]
    fn puts_write_the_version_their_condition_says() {
        let mut item = Item::new(key(), "{}");
        item.version = 7;
        assert_eq!(validate_put(&item, PutCondition::None), Ok(7));
        assert_eq!(validate_put(&item, PutCondition::Absent), Ok(1));
        assert_eq!(validate_put(&item, PutCondition::VersionEquals(4)), Ok(5));
        let top = i64::MAX as u64;
        assert!(matches!(
            validate_put(&item, PutCondition::VersionEquals(top)),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_transaction_is_refused_whole_for_one_bad_or_repeated_write() {
        let delete = |version| WriteOp::Delete {
            key: key(),
            condition: DeleteCondition::VersionEquals(version),
        };
        assert_eq!(validate_transaction(&[delete(1)]), Ok(()));
        assert!(matches!(
            validate_transaction(&[delete(u64::MAX)]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            validate_transaction(&[delete(1), delete(2)]),
            Err(StoreError::Invalid(m)) if m.contains("more than once")
        ));
        let too_many: Vec<_> = (0..=MAX_TRANSACTION_OPS)
            .map(|i| WriteOp::Check {
                key: Key::new("p", format!("s{i}")),
                version: 1,
            })
            .collect();
        assert!(validate_transaction(&too_many).is_err());
    }

    #[test]
    fn queries_need_a_partition_and_a_cursor_of_their_index() {
        let item = Item::new(key(), "{}").with_gsi1(IndexKey::new("g", "1"));
        let gsi = Query::partition(Index::Gsi1, "g");
        assert_eq!(validate_query(&gsi), Ok(()));
        assert!(matches!(
            validate_query(&Query::partition(Index::Primary, "")),
            Err(StoreError::Invalid(_))
        ));
        let gsi_cursor = Cursor::after_item(&item, Index::Gsi1);
        assert_eq!(validate_query(&gsi.clone().after(Some(gsi_cursor))), Ok(()));
        let primary_cursor = Cursor::after_item(&item, Index::Primary);
        assert_eq!(
            validate_query(&gsi.after(Some(primary_cursor))),
            Err(StoreError::InvalidCursor)
        );
        let empty = Cursor {
            key: Key::new("p", ""),
            index_key: None,
        };
        assert_eq!(
            validate_query(&Query::partition(Index::Primary, "p").after(Some(empty))),
            Err(StoreError::InvalidCursor)
        );
    }
}
