//! The item store port: a DynamoDB-shaped table of items.
//!
//! Every typed repository in Vigil is written once on top of this trait; the AWS adapter maps it
//! onto one DynamoDB table and the embedded adapter onto SQLite. The contract suite in
//! `tests/contract` proves both behave alike.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::RequestCounts;

mod validate;

pub use validate::{
    MAX_BODY_BYTES, MAX_COUNTER_NAME, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, validate_add,
    validate_counter_names, validate_delete, validate_index_key, validate_item, validate_key,
    validate_put, validate_query, validate_transaction,
};

/// Primary key of an item: partition key plus sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A secondary index key (partition + sort) an item may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// The secondary indexes of the table. `Gsi1` serves time-ordered lists, `Gsi2` status lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

/// One stored item.
///
/// `version` is managed by the store: a put with [`PutCondition::Absent`] writes version 1, a put
/// with [`PutCondition::VersionEquals`]`(v)` writes `v + 1`, an unconditional put writes
/// `version` as given. `counters` are named integers changed atomically by
/// [`ItemStore::add`]; their names match `[a-z0-9_]{1,64}` (others are [`StoreError::Invalid`]).
/// `body` is the entity as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    /// Expiry as Unix seconds; the store may delete the item some time after it.
    pub expires_at: Option<i64>,
    pub version: u64,
    pub counters: BTreeMap<String, i64>,
    pub body: String,
}

impl Item {
    pub fn new(key: Key, body: impl Into<String>) -> Self {
        Self {
            key,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            version: 0,
            counters: BTreeMap::new(),
            body: body.into(),
        }
    }

    pub fn with_gsi1(mut self, key: IndexKey) -> Self {
        self.gsi1 = Some(key);
        self
    }

    pub fn with_gsi2(mut self, key: IndexKey) -> Self {
        self.gsi2 = Some(key);
        self
    }

    pub fn with_expiry(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// The body parsed as `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.key.pk, self.key.sk)))
    }

    /// The key of this item in `index`, used to build cursors.
    pub fn index_key(&self, index: Index) -> Option<IndexKey> {
        match index {
            Index::Primary => Some(IndexKey::new(&self.key.pk, &self.key.sk)),
            Index::Gsi1 => self.gsi1.clone(),
            Index::Gsi2 => self.gsi2.clone(),
        }
    }
}

/// When a put may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutCondition {
    /// Always; overwrites whatever is there.
    None,
    /// Only if no item has this key (the idempotency write).
    Absent,
    /// Only if the stored item has this version (optimistic update).
    VersionEquals(u64),
}

/// When a delete may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteCondition {
    None,
    Exists,
    VersionEquals(u64),
}

/// Sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    All,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    GreaterOrEqual(String),
    LessOrEqual(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Ascending,
    Descending,
}

/// A query over one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortKey,
    pub order: Order,
    /// At most this many items per page (the store caps it at [`MAX_PAGE`]).
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// Largest page a query returns.
pub const MAX_PAGE: u32 = 1000;

impl Query {
    pub fn partition(index: Index, partition: impl Into<String>) -> Self {
        Self {
            index,
            partition: partition.into(),
            sort: SortKey::All,
            order: Order::Ascending,
            limit: 100,
            cursor: None,
        }
    }

    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    pub fn descending(mut self) -> Self {
        self.order = Order::Descending;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, MAX_PAGE);
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Items a page of this query holds at most: its limit, within 1 and [`MAX_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE) as usize
    }
}

/// Where the next page starts: the keys of the last item returned, opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Primary key of the last item.
    pub key: Key,
    /// Its key in the queried index (absent for primary-key queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_key: Option<IndexKey>,
}

impl Cursor {
    pub fn after_item(item: &Item, index: Index) -> Self {
        Self {
            key: item.key.clone(),
            index_key: match index {
                Index::Primary => None,
                other => item.index_key(other),
            },
        }
    }

    /// Opaque URL-safe text handed to API clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present only when more items may follow.
    pub next_cursor: Option<Cursor>,
}

impl Page {
    /// The page of `query` from the items a store read for it: up to one more than
    /// [`Query::page_size`], so that a next page is promised only when it has items.
    pub fn from_read_ahead(mut items: Vec<Item>, query: &Query) -> Self {
        let size = query.page_size();
        let more = items.len() > size;
        items.truncate(size);
        let next_cursor = match items.last() {
            Some(last) if more => Some(Cursor::after_item(last, query.index)),
            _ => None,
        };
        Self { items, next_cursor }
    }
}

/// One write inside [`ItemStore::transact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: PutCondition,
    },
    Delete {
        key: Key,
        condition: DeleteCondition,
    },
    Add {
        key: Key,
        deltas: BTreeMap<String, i64>,
    },
    /// Fails the transaction unless the item exists with this version.
    Check {
        key: Key,
        version: u64,
    },
}

/// Largest number of writes in one transaction (DynamoDB allows 100; we keep ours small).
pub const MAX_TRANSACTION_OPS: usize = 25;

/// Why a conditional write was refused, or why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A put with [`PutCondition::Absent`] found an item with that key.
    #[error("an item with this key already exists")]
    AlreadyExists,
    /// A versioned write found another version (or no item).
    #[error("the item changed since it was read (version conflict)")]
    VersionConflict,
    /// A delete with [`DeleteCondition::Exists`] found nothing.
    #[error("no item with this key")]
    NotFound,
    /// A transaction was cancelled because the write at `index` failed its condition.
    #[error("transaction cancelled: write {index} failed: {reason}")]
    TransactionCancelled {
        index: usize,
        reason: Box<StoreError>,
    },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid store request: {0}")]
    Invalid(String),
    #[error("stored item is not readable: {0}")]
    Corrupt(String),
    /// The store did not answer (network, throttling, I/O). Callers may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A DynamoDB-shaped item store.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Writes `item` if `condition` holds; returns the version written.
    async fn put(&self, item: Item, condition: PutCondition) -> Result<u64, StoreError>;

    /// Reads one item (strongly consistent).
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Reads one page of a partition in sort-key order.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;

    /// Deletes an item if `condition` holds. Deleting a missing item with
    /// [`DeleteCondition::None`] is not an error.
    async fn delete(&self, key: &Key, condition: DeleteCondition) -> Result<(), StoreError>;

    /// Adds `deltas` to the item's named counters atomically, creating the item (with body `{}`)
    /// and the counters (from 0) when absent. Returns every counter of the item after the add.
    async fn add(
        &self,
        key: &Key,
        deltas: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Applies all writes or none. At most [`MAX_TRANSACTION_OPS`] writes, each on a different key.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Whether the store answers at all (used by the health endpoint).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Requests made so far, for cost-per-operation figures.
    fn request_counts(&self) -> RequestCounts;

    /// The backend's name as reported by the health endpoint: `sqlite` or `dynamodb`.
    fn backend_name(&self) -> &'static str;
}

/// Pages read at most by one [`query_filtered`] call, so a list call stays bounded however
/// many items its filter drops.
pub const MAX_PAGES_PER_LIST: usize = 10;

/// Every item of a paged list: `page` is asked for pages from the first on until it answers no
/// cursor (at most [`MAX_PAGES_PER_LIST`] pages of `MAX_PAGE` items).
pub async fn all_pages<T, E, F, Fut>(mut page: F) -> Result<Vec<T>, E>
where
    F: FnMut(u32, Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<Cursor>), E>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES_PER_LIST {
        let (items, next) = page(MAX_PAGE, cursor).await?;
        all.extend(items);
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(all)
}

/// Reads pages of `query` from `cursor`, keeping the items `keep` accepts, until `limit` are
/// kept, the query ends, or [`MAX_PAGES_PER_LIST`] pages were read. Returns the kept items and
/// the cursor to go on from.
pub async fn query_filtered<T, F>(
    store: &dyn ItemStore,
    query: Query,
    limit: u32,
    cursor: Option<Cursor>,
    keep: F,
) -> Result<(Vec<T>, Option<Cursor>), StoreError>
where
    T: serde::de::DeserializeOwned,
    F: Fn(&T) -> bool,
{
    let mut found = Vec::new();
    let mut cursor = cursor;
    for _ in 0..MAX_PAGES_PER_LIST {
        let wanted = limit.saturating_sub(found.len() as u32);
        let page = store
            .query(query.clone().limit(wanted).after(cursor))
            .await?;
        for item in &page.items {
            let value: T = item.parse()?;
            if keep(&value) {
                found.push(value);
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() || found.len() as u32 >= limit {
            break;
        }
    }
    Ok((found, cursor))
}
