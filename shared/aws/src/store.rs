//! `ItemStore` on one DynamoDB table.
//!
//! An item is stored as `pk`, `sk`, the index keys it has (`gsi1pk`/`gsi1sk`, `gsi2pk`/`gsi2sk`),
//! `expires_at` (N, the table's TTL attribute), `version` (N), `body` (S) and one top-level N
//! attribute per counter, `c_<name>`, so that `ADD` changes a counter atomically.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use vigil_core::ports::store::{
    MAX_BODY_BYTES, validate_counter_names, validate_index_key, validate_key,
};
use vigil_core::ports::store::{MAX_PAGE, MAX_TRANSACTION_OPS};
use vigil_core::ports::{
    Cursor, DeleteCondition, Index, IndexKey, Item, ItemStore, Key, Order, Page, PutCondition,
    Query, RequestCounter, RequestCounts, SortKey, StoreError, WriteOp,
};

use crate::error::{describe, service_code};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1_PK: &str = "gsi1pk";
pub(crate) const GSI1_SK: &str = "gsi1sk";
pub(crate) const GSI2_PK: &str = "gsi2pk";
pub(crate) const GSI2_SK: &str = "gsi2sk";
/// The table's TTL attribute.
pub(crate) const EXPIRES_AT: &str = "expires_at";
const VERSION: &str = "version";
const BODY: &str = "body";
const COUNTER_PREFIX: &str = "c_";
/// Index names, as in template.yaml.
pub(crate) const GSI1: &str = "GSI1";
pub(crate) const GSI2: &str = "GSI2";

type Attributes = HashMap<String, AttributeValue>;

/// The item store of the AWS backend.
pub struct DynamoStore {
    client: Client,
    table: String,
    counter: RequestCounter,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            counter: RequestCounter::default(),
        }
    }
}

// ---- expressions --------------------------------------------------------------------------------

/// A condition or update expression with its placeholders.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: Attributes,
}

impl Expression {
    fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// DynamoDB refuses empty placeholder maps, so absent ones are sent as `None`.
    fn names_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values_or_none(&self) -> Option<Attributes> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn absent_condition() -> Expression {
    Expression {
        text: "attribute_not_exists(#pk)".into(),
        ..Expression::default()
    }
    .name("#pk", PK)
}

fn exists_condition() -> Expression {
    Expression {
        text: "attribute_exists(#pk)".into(),
        ..Expression::default()
    }
    .name("#pk", PK)
}

fn version_condition(version: u64) -> Expression {
    Expression {
        text: "#version = :expected".into(),
        ..Expression::default()
    }
    .name("#version", VERSION)
    .value(":expected", n(version))
}

/// The condition of a put and the version it writes.
fn put_plan(item: &Item, condition: PutCondition) -> Result<(Option<Expression>, u64), StoreError> {
    match condition {
        PutCondition::None => Ok((None, item.version)),
        PutCondition::Absent => Ok((Some(absent_condition()), 1)),
        PutCondition::VersionEquals(expected) => {
            check_version(expected)?;
            let next = expected
                .checked_add(1)
                .filter(|v| i64::try_from(*v).is_ok())
                .ok_or_else(|| invalid("version is too large"))?;
            Ok((Some(version_condition(expected)), next))
        }
    }
}

fn delete_plan(condition: DeleteCondition) -> Result<Option<Expression>, StoreError> {
    match condition {
        DeleteCondition::None => Ok(None),
        DeleteCondition::Exists => Ok(Some(exists_condition())),
        DeleteCondition::VersionEquals(v) => {
            check_version(v)?;
            Ok(Some(version_condition(v)))
        }
    }
}

/// The update of [`ItemStore::add`]: creates the item (body `{}`, version 1) if absent, adds
/// each delta, and refuses (condition) any add that would leave the `i64` range.
struct AddPlan {
    update: Expression,
    condition: Option<String>,
}

fn add_plan(deltas: &BTreeMap<String, i64>) -> AddPlan {
    let mut update = Expression {
        text: "SET #body = if_not_exists(#body, :empty), #version = if_not_exists(#version, :one)"
            .into(),
        ..Expression::default()
    }
    .name("#body", BODY)
    .name("#version", VERSION)
    .value(":empty", s("{}"))
    .value(":one", n(1));
    let mut adds = Vec::with_capacity(deltas.len());
    let mut guards = Vec::new();
    for (i, (name, delta)) in deltas.iter().enumerate() {
        let (attr, d) = (format!("#c{i}"), format!(":d{i}"));
        adds.push(format!("{attr} {d}"));
        update = update
            .name(&attr, &counter_attribute(name))
            .value(&d, n(delta));
        let bound = format!(":m{i}");
        match delta.signum() {
            1 => {
                guards.push(format!(
                    "(attribute_not_exists({attr}) OR {attr} <= {bound})"
                ));
                update = update.value(&bound, n(i64::MAX - delta));
            }
            -1 => {
                guards.push(format!(
                    "(attribute_not_exists({attr}) OR {attr} >= {bound})"
                ));
                update = update.value(&bound, n(i64::MIN - delta));
            }
            _ => {}
        }
    }
    if !adds.is_empty() {
        update.text.push_str(" ADD ");
        update.text.push_str(&adds.join(", "));
    }
    let condition = (!guards.is_empty()).then(|| guards.join(" AND "));
    AddPlan { update, condition }
}

fn counter_attribute(name: &str) -> String {
    format!("{COUNTER_PREFIX}{name}")
}

/// A sort-key condition DynamoDB accepts (no empty strings, no reversed range), or `None` when
/// no item can match.
fn normalize_sort(sort: &SortKey) -> Option<SortKey> {
    match sort {
        SortKey::BeginsWith(p) | SortKey::GreaterOrEqual(p) if p.is_empty() => Some(SortKey::All),
        SortKey::LessOrEqual(high) if high.is_empty() => None,
        SortKey::Between(low, high) if low > high => None,
        SortKey::Between(low, high) if low.is_empty() => {
            normalize_sort(&SortKey::LessOrEqual(high.clone()))
        }
        other => Some(other.clone()),
    }
}

/// Everything a Query request needs but the table name, limit and start key.
#[derive(Debug, Clone, PartialEq)]
struct QueryPlan {
    index_name: Option<&'static str>,
    key_condition: Expression,
    forward: bool,
    consistent: bool,
    start: Option<Attributes>,
}

fn index_attributes(index: Index) -> (&'static str, &'static str, Option<&'static str>) {
    match index {
        Index::Primary => (PK, SK, None),
        Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1)),
        Index::Gsi2 => (GSI2_PK, GSI2_SK, Some(GSI2)),
    }
}

/// The Query to send, or `None` when the answer is empty without asking.
fn query_plan(query: &Query) -> Result<Option<QueryPlan>, StoreError> {
    if query.partition.is_empty() {
        return Err(invalid("the query partition is empty"));
    }
    let (pk_attr, sk_attr, index_name) = index_attributes(query.index);
    let start = match &query.cursor {
        None => None,
        Some(cursor) => Some(start_key(query, cursor)?),
    };
    let Some(sort) = normalize_sort(&query.sort) else {
        return Ok(None);
    };
    let mut condition = Expression {
        text: "#p = :p".into(),
        ..Expression::default()
    }
    .name("#p", pk_attr)
    .value(":p", s(&query.partition));
    let sort_text = match &sort {
        SortKey::All => None,
        SortKey::BeginsWith(prefix) => {
            condition = condition.value(":a", s(prefix));
            Some("begins_with(#s, :a)")
        }
        SortKey::Between(low, high) => {
            condition = condition.value(":a", s(low)).value(":b", s(high));
            Some("#s BETWEEN :a AND :b")
        }
        SortKey::GreaterOrEqual(low) => {
            condition = condition.value(":a", s(low));
            Some("#s >= :a")
        }
        SortKey::LessOrEqual(high) => {
            condition = condition.value(":a", s(high));
            Some("#s <= :a")
        }
    };
    if let Some(text) = sort_text {
        condition = condition.name("#s", sk_attr);
        condition.text.push_str(" AND ");
        condition.text.push_str(text);
    }
    Ok(Some(QueryPlan {
        index_name,
        key_condition: condition,
        forward: query.order == Order::Ascending,
        // Indexes cannot be read consistently; the table is, as the embedded store always is.
        consistent: query.index == Index::Primary,
        start,
    }))
}

/// The ExclusiveStartKey of a cursor. The partition is the query's own, as in the embedded store.
fn start_key(query: &Query, cursor: &Cursor) -> Result<Attributes, StoreError> {
    let mut key = Attributes::new();
    match query.index {
        Index::Primary => {
            key.insert(PK.into(), s(&query.partition));
            key.insert(SK.into(), s(&cursor.key.sk));
        }
        Index::Gsi1 | Index::Gsi2 => {
            let index_key = cursor.index_key.as_ref().ok_or(StoreError::InvalidCursor)?;
            let (pk_attr, sk_attr, _) = index_attributes(query.index);
            key.insert(PK.into(), s(&cursor.key.pk));
            key.insert(SK.into(), s(&cursor.key.sk));
            key.insert(pk_attr.into(), s(&query.partition));
            key.insert(sk_attr.into(), s(&index_key.sk));
        }
    }
    if key
        .values()
        .any(|v| matches!(v, AttributeValue::S(text) if text.is_empty()))
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key)
}

// ---- items --------------------------------------------------------------------------------------

fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([(PK.into(), s(&key.pk)), (SK.into(), s(&key.sk))])
}

fn item_attributes(item: &Item, version: u64) -> Attributes {
    let mut attrs = key_attributes(&item.key);
    if let Some(g) = &item.gsi1 {
        attrs.insert(GSI1_PK.into(), s(&g.pk));
        attrs.insert(GSI1_SK.into(), s(&g.sk));
    }
    if let Some(g) = &item.gsi2 {
        attrs.insert(GSI2_PK.into(), s(&g.pk));
        attrs.insert(GSI2_SK.into(), s(&g.sk));
    }
    if let Some(expires_at) = item.expires_at {
        attrs.insert(EXPIRES_AT.into(), n(expires_at));
    }
    attrs.insert(VERSION.into(), n(version));
    attrs.insert(BODY.into(), s(&item.body));
    for (name, value) in &item.counters {
        attrs.insert(counter_attribute(name), n(value));
    }
    attrs
}

fn corrupt(pk: &str, sk: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{pk}/{sk}: {what}"))
}

fn item_from_attributes(mut attrs: Attributes) -> Result<Item, StoreError> {
    let mut text = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::S(text)) => Ok(Some(text)),
        None => Ok(None),
        Some(_) => Err(name.to_owned()),
    };
    let key_part = |value: Result<Option<String>, String>| {
        value
            .ok()
            .flatten()
            .ok_or_else(|| StoreError::Corrupt("an item without its key".into()))
    };
    let pk = key_part(text(PK))?;
    let sk = key_part(text(SK))?;
    let bad = |name: String| corrupt(&pk, &sk, format!("{name} is not a string"));
    let index = |p: Option<String>, s: Option<String>| p.zip(s).map(|(pk, sk)| IndexKey { pk, sk });
    let gsi1 = index(text(GSI1_PK).map_err(bad)?, text(GSI1_SK).map_err(bad)?);
    let gsi2 = index(text(GSI2_PK).map_err(bad)?, text(GSI2_SK).map_err(bad)?);
    let body = text(BODY)
        .map_err(bad)?
        .ok_or_else(|| corrupt(&pk, &sk, "no body"))?;
    let number = |value: Option<AttributeValue>, name: &str| -> Result<Option<i64>, StoreError> {
        match value {
            None => Ok(None),
            Some(AttributeValue::N(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| corrupt(&pk, &sk, format!("{name} is not an integer: {text}"))),
            Some(_) => Err(corrupt(&pk, &sk, format!("{name} is not a number"))),
        }
    };
    let expires_at = number(attrs.remove(EXPIRES_AT), EXPIRES_AT)?;
    let version =
        number(attrs.remove(VERSION), VERSION)?.ok_or_else(|| corrupt(&pk, &sk, "no version"))?;
    let version = u64::try_from(version).map_err(|_| corrupt(&pk, &sk, "negative version"))?;
    let counters = counters_from(attrs, &pk, &sk)?;
    Ok(Item {
        key: Key { pk, sk },
        gsi1,
        gsi2,
        expires_at,
        version,
        counters,
        body,
    })
}

fn counters_from(
    attrs: Attributes,
    pk: &str,
    sk: &str,
) -> Result<BTreeMap<String, i64>, StoreError> {
    attrs
        .into_iter()
        .filter_map(|(name, value)| {
            let counter = name.strip_prefix(COUNTER_PREFIX)?.to_owned();
            Some(match value {
                AttributeValue::N(text) => text.parse().map(|v| (counter, v)).map_err(|_| {
                    corrupt(pk, sk, format!("counter {name} is not an integer: {text}"))
                }),
                _ => Err(corrupt(pk, sk, format!("counter {name} is not a number"))),
            })
        })
        .collect()
}

// ---- validation (as the embedded store) -------------------------------------------------------

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(reason.into())
}

/// Versions stay within `i64`, as on the embedded store.
fn check_version(version: u64) -> Result<(), StoreError> {
    i64::try_from(version)
        .map(|_| ())
        .map_err(|_| invalid("version is too large"))
}

fn validate_item(item: &Item) -> Result<(), StoreError> {
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
    check_version(item.version)
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
            WriteOp::Delete { key, .. } => {
                validate_key(key)?;
                key
            }
            WriteOp::Check { key, version } => {
                validate_key(key)?;
                check_version(*version)?;
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

// ---- errors -------------------------------------------------------------------------------------

/// Any failure other than a refused condition: bad requests are invalid, the rest may pass later.
fn request_error<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match service_code(err) {
        Some("ValidationException") => StoreError::Invalid(describe(err)),
        _ => StoreError::Unavailable(describe(err)),
    }
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    service_code(err) == Some("ConditionalCheckFailedException")
}

/// What a refused condition means for each kind of write.
fn condition_failure(op: &WriteOp, old: Option<&Attributes>) -> StoreError {
    match op {
        WriteOp::Put {
            condition: PutCondition::Absent,
            ..
        } => StoreError::AlreadyExists,
        WriteOp::Put { .. } | WriteOp::Check { .. } => StoreError::VersionConflict,
        WriteOp::Delete {
            condition: DeleteCondition::Exists,
            ..
        } => StoreError::NotFound,
        WriteOp::Delete { .. } => StoreError::VersionConflict,
        WriteOp::Add { deltas, .. } => overflow(deltas, old),
    }
}

/// The error of an add whose overflow guard refused it, naming the counter when known.
fn overflow(deltas: &BTreeMap<String, i64>, old: Option<&Attributes>) -> StoreError {
    let culprit = deltas.iter().find(|(name, delta)| {
        let stored = old
            .and_then(|attrs| attrs.get(&counter_attribute(name)))
            .and_then(|v| v.as_n().ok())
            .and_then(|text| text.parse::<i64>().ok())
            .unwrap_or(0);
        stored.checked_add(**delta).is_none()
    });
    match culprit {
        Some((name, _)) => invalid(format!("counter {name} would overflow")),
        None => invalid("a counter would overflow"),
    }
}

fn transaction_error(
    ops: &[WriteOp],
    err: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> StoreError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return request_error(err);
    };
    let failed = cancelled
        .cancellation_reasons()
        .iter()
        .enumerate()
        .find(|(_, reason)| !matches!(reason.code(), None | Some("None")));
    let Some((index, reason)) = failed else {
        return StoreError::Unavailable(describe(err));
    };
    let cause = match (reason.code(), ops.get(index)) {
        (Some("ConditionalCheckFailed"), Some(op)) => condition_failure(op, reason.item.as_ref()),
        (Some("ValidationError"), Some(_)) => {
            invalid(reason.message().unwrap_or("validation error"))
        }
        // Conflicts with other writers and throttling are not refusals: try again later.
        _ => return StoreError::Unavailable(describe(err)),
    };
    StoreError::TransactionCancelled {
        index,
        reason: Box::new(cause),
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    invalid(e.to_string())
}

// ---- the port -----------------------------------------------------------------------------------

impl DynamoStore {
    fn transact_item(&self, op: &WriteOp) -> Result<TransactWriteItem, StoreError> {
        let item = match op {
            WriteOp::Put { item, condition } => {
                let (expression, version) = put_plan(item, *condition)?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(item, version)))
                    .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(
                        expression.as_ref().and_then(Expression::names_or_none),
                    )
                    .set_expression_attribute_values(
                        expression.as_ref().and_then(Expression::values_or_none),
                    )
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { key, condition } => {
                let expression = delete_plan(*condition)?;
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(
                        expression.as_ref().and_then(Expression::names_or_none),
                    )
                    .set_expression_attribute_values(
                        expression.as_ref().and_then(Expression::values_or_none),
                    )
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Add { key, deltas } => {
                let plan = add_plan(deltas);
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .update_expression(&plan.update.text)
                    .set_condition_expression(plan.condition.clone())
                    .set_expression_attribute_names(plan.update.names_or_none())
                    .set_expression_attribute_values(plan.update.values_or_none())
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update).build()
            }
            WriteOp::Check { key, version } => {
                let expression = version_condition(*version);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .condition_expression(&expression.text)
                    .set_expression_attribute_names(expression.names_or_none())
                    .set_expression_attribute_values(expression.values_or_none())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn put(&self, item: Item, condition: PutCondition) -> Result<u64, StoreError> {
        validate_item(&item)?;
        let (expression, version) = put_plan(&item, condition)?;
        self.counter.write();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_attributes(&item, version)))
            .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expression.as_ref().and_then(Expression::names_or_none))
            .set_expression_attribute_values(
                expression.as_ref().and_then(Expression::values_or_none),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(version),
            Err(err) if is_condition_failure(&err) => Err(match condition {
                PutCondition::Absent => StoreError::AlreadyExists,
                _ => StoreError::VersionConflict,
            }),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        self.counter.read();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| request_error(&e))?;
        output.item.map(item_from_attributes).transpose()
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let Some(plan) = query_plan(&query)? else {
            return Ok(Page::default());
        };
        let limit = query.limit.clamp(1, MAX_PAGE) as usize;
        // One more than asked, so a next page is promised only when it has items.
        let wanted = limit + 1;
        let mut items = Vec::with_capacity(wanted.min(128));
        let mut start = plan.start.clone();
        loop {
            self.counter.read();
            let remaining = i32::try_from(wanted - items.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(plan.index_name.map(str::to_owned))
                .key_condition_expression(&plan.key_condition.text)
                .set_expression_attribute_names(plan.key_condition.names_or_none())
                .set_expression_attribute_values(plan.key_condition.values_or_none())
                .scan_index_forward(plan.forward)
                .consistent_read(plan.consistent)
                .limit(remaining)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| request_error(&e))?;
            for attrs in output.items.unwrap_or_default() {
                items.push(item_from_attributes(attrs)?);
            }
            start = output.last_evaluated_key;
            // A page cut short by DynamoDB's 1 MB limit is continued.
            if items.len() >= wanted || start.is_none() {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = match items.last() {
            Some(last) if more => Some(Cursor::after_item(last, query.index)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, key: &Key, condition: DeleteCondition) -> Result<(), StoreError> {
        validate_key(key)?;
        let expression = delete_plan(condition)?;
        self.counter.write();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expression.as_ref().and_then(Expression::names_or_none))
            .set_expression_attribute_values(
                expression.as_ref().and_then(Expression::values_or_none),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(match condition {
                DeleteCondition::Exists => StoreError::NotFound,
                _ => StoreError::VersionConflict,
            }),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn add(
        &self,
        key: &Key,
        deltas: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        validate_key(key)?;
        validate_counter_names(deltas.keys())?;
        let plan = add_plan(deltas);
        self.counter.write();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .update_expression(&plan.update.text)
            .set_condition_expression(plan.condition.clone())
            .set_expression_attribute_names(plan.update.names_or_none())
            .set_expression_attribute_values(plan.update.values_or_none())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => counters_from(output.attributes.unwrap_or_default(), &key.pk, &key.sk),
            Err(err) if is_condition_failure(&err) => {
                let old = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                    _ => None,
                };
                Err(overflow(deltas, old.as_ref()))
            }
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        if ops.is_empty() {
            // DynamoDB refuses an empty transaction; nothing to write is trivially all written.
            return Ok(());
        }
        let items = ops
            .iter()
            .map(|op| self.transact_item(op))
            .collect::<Result<Vec<_>, _>>()?;
        self.counter.write();
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| transaction_error(&ops, &err))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.counter.read();
        // A read of a key no item uses: what the functions may do (GetItem), cheap and harmless.
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&Key::new("#ping", "#ping"))))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| request_error(&e))
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        let mut item = Item::new(Key::new("T#acme", "EVT#1"), r#"{"a":1}"#)
            .with_gsi1(IndexKey::new("T#acme#EVT", "2026-03-01"))
            .with_expiry(1_800_000_000);
        item.version = 7;
        item.counters.insert("seen".into(), -3);
        item
    }

    #[test]
    fn an_item_survives_the_trip_through_attributes() {
        // GIVEN an item with an index key, an expiry and a counter
        let item = item();

        // WHEN it becomes attributes and comes back
        let attrs = item_attributes(&item, 7);
        let back = item_from_attributes(attrs.clone()).unwrap();

        // THEN it is equal, counters are top-level numbers and absent indexes have no attributes
        assert_eq!(back, item);
        assert_eq!(attrs.get("c_seen"), Some(&n(-3)));
        assert_eq!(attrs.get("expires_at"), Some(&n(1_800_000_000)));
        assert!(!attrs.contains_key(GSI2_PK));
    }

    #[test]
    fn an_item_without_body_or_with_a_bad_counter_is_corrupt() {
        // GIVEN stored attributes missing the body, and ones with a non-integer counter
        let mut no_body = item_attributes(&item(), 1);
        no_body.remove(BODY);
        let mut bad_counter = item_attributes(&item(), 1);
        bad_counter.insert("c_seen".into(), n("1.5"));

        // WHEN they are read
        // THEN both are corrupt, not a panic nor a default
        assert!(matches!(
            item_from_attributes(no_body),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            item_from_attributes(bad_counter),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn put_conditions_choose_the_written_version() {
        let item = item();
        // GIVEN each put condition
        // WHEN it is planned
        let (none, v_none) = put_plan(&item, PutCondition::None).unwrap();
        let (absent, v_absent) = put_plan(&item, PutCondition::Absent).unwrap();
        let (equals, v_equals) = put_plan(&item, PutCondition::VersionEquals(4)).unwrap();

        // THEN versions follow the port's rules and each placeholder is defined
        assert_eq!((none, v_none), (None, 7));
        assert_eq!(v_absent, 1);
        assert_eq!(absent.unwrap().text, "attribute_not_exists(#pk)");
        assert_eq!(v_equals, 5);
        let equals = equals.unwrap();
        assert_eq!(equals.text, "#version = :expected");
        assert_eq!(
            equals.names.get("#version").map(String::as_str),
            Some("version")
        );
        assert_eq!(equals.values.get(":expected"), Some(&n(4)));
        assert!(matches!(
            put_plan(&item, PutCondition::VersionEquals(i64::MAX as u64)),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn add_creates_defaults_and_guards_each_counter_against_overflow() {
        // GIVEN a positive, a negative and a zero delta
        let deltas = BTreeMap::from([
            ("a".to_string(), 5),
            ("b".to_string(), -2),
            ("z".to_string(), 0),
        ]);

        // WHEN the update is planned
        let plan = add_plan(&deltas);

        // THEN body and version default only when absent, every counter is added, and only the
        // non-zero deltas carry a guard
        assert_eq!(
            plan.update.text,
            "SET #body = if_not_exists(#body, :empty), #version = if_not_exists(#version, :one) \
             ADD #c0 :d0, #c1 :d1, #c2 :d2"
        );
        assert_eq!(
            plan.condition.as_deref(),
            Some(
                "(attribute_not_exists(#c0) OR #c0 <= :m0) AND \
                 (attribute_not_exists(#c1) OR #c1 >= :m1)"
            )
        );
        assert_eq!(
            plan.update.names.get("#c2").map(String::as_str),
            Some("c_z")
        );
        assert_eq!(plan.update.values.get(":m0"), Some(&n(i64::MAX - 5)));
        assert_eq!(plan.update.values.get(":m1"), Some(&n(i64::MIN + 2)));
        assert_placeholders_defined(&plan.update, plan.condition.as_deref());
    }

    #[test]
    fn an_empty_add_only_creates_the_item() {
        let plan = add_plan(&BTreeMap::new());
        assert!(!plan.update.text.contains("ADD"));
        assert_eq!(plan.condition, None);
    }

    #[test]
    fn sort_conditions_dynamodb_would_refuse_are_rewritten() {
        let text = |t: &str| t.to_string();
        assert_eq!(
            normalize_sort(&SortKey::BeginsWith(text(""))),
            Some(SortKey::All)
        );
        assert_eq!(
            normalize_sort(&SortKey::GreaterOrEqual(text(""))),
            Some(SortKey::All)
        );
        assert_eq!(normalize_sort(&SortKey::LessOrEqual(text(""))), None);
        assert_eq!(
            normalize_sort(&SortKey::Between(text("b"), text("a"))),
            None
        );
        assert_eq!(
            normalize_sort(&SortKey::Between(text(""), text("m"))),
            Some(SortKey::LessOrEqual(text("m")))
        );
        assert_eq!(normalize_sort(&SortKey::Between(text(""), text(""))), None);
        assert_eq!(
            normalize_sort(&SortKey::Between(text("a"), text("a"))),
            Some(SortKey::Between(text("a"), text("a")))
        );
    }

    #[test]
    fn a_gsi_query_plans_its_index_order_and_start_key() {
        // GIVEN a descending GSI2 range query after a cursor
        let last = item().with_gsi2(IndexKey::new("ignored", "open#2026"));
        let query = Query::partition(Index::Gsi2, "T#acme#OPEN")
            .sort(SortKey::Between("open#2025".into(), "open#2027".into()))
            .descending()
            .after(Some(Cursor::after_item(&last, Index::Gsi2)));

        // WHEN it is planned
        let plan = query_plan(&query).unwrap().unwrap();

        // THEN it names the index, reads backwards, not consistently, from the cursor's keys
        assert_eq!(plan.index_name, Some("GSI2"));
        assert_eq!(plan.key_condition.text, "#p = :p AND #s BETWEEN :a AND :b");
        assert_eq!(
            plan.key_condition.names.get("#s").map(String::as_str),
            Some("gsi2sk")
        );
        assert!(!plan.forward);
        assert!(!plan.consistent);
        let start = plan.start.unwrap();
        assert_eq!(start.get(GSI2_PK), Some(&s("T#acme#OPEN")));
        assert_eq!(start.get(GSI2_SK), Some(&s("open#2026")));
        assert_eq!(start.get(PK), Some(&s("T#acme")));
        assert_eq!(start.get(SK), Some(&s("EVT#1")));
        assert_placeholders_defined(&plan.key_condition, None);
    }

    #[test]
    fn a_primary_query_reads_consistently_and_a_gsi_cursor_without_index_key_is_refused() {
        let plan = query_plan(
            &Query::partition(Index::Primary, "p").sort(SortKey::BeginsWith("EVT#".into())),
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.index_name, None);
        assert_eq!(plan.key_condition.text, "#p = :p AND begins_with(#s, :a)");
        assert!(plan.consistent && plan.forward);

        let primary_cursor = Cursor::after_item(&item(), Index::Primary);
        let query = Query::partition(Index::Gsi1, "g").after(Some(primary_cursor));
        assert_eq!(query_plan(&query), Err(StoreError::InvalidCursor));
        assert!(matches!(
            query_plan(&Query::partition(Index::Primary, "")),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn refused_conditions_map_to_typed_errors() {
        let key = Key::new("p", "s");
        let put = |condition| WriteOp::Put {
            item: Item::new(key.clone(), "{}"),
            condition,
        };
        assert_eq!(
            condition_failure(&put(PutCondition::Absent), None),
            StoreError::AlreadyExists
        );
        assert_eq!(
            condition_failure(&put(PutCondition::VersionEquals(1)), None),
            StoreError::VersionConflict
        );
        let delete = |condition| WriteOp::Delete {
            key: key.clone(),
            condition,
        };
        assert_eq!(
            condition_failure(&delete(DeleteCondition::Exists), None),
            StoreError::NotFound
        );
        assert_eq!(
            condition_failure(&delete(DeleteCondition::VersionEquals(2)), None),
            StoreError::VersionConflict
        );
        let check = WriteOp::Check {
            key: key.clone(),
            version: 3,
        };
        assert_eq!(condition_failure(&check, None), StoreError::VersionConflict);
        let add = WriteOp::Add {
            key,
            deltas: BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]),
        };
        let old = HashMap::from([("c_b".to_string(), n(i64::MAX))]);
        assert_eq!(
            condition_failure(&add, Some(&old)),
            StoreError::Invalid("counter b would overflow".into())
        );
    }

    /// Every `#name` and `:value` the expressions use is defined, and every definition is used
    /// (moto answers 500 for the first and AWS refuses the second).
    fn assert_placeholders_defined(expression: &Expression, condition: Option<&str>) {
        let text = format!("{} {}", expression.text, condition.unwrap_or(""));
        let used: HashSet<String> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '#' || c == ':' || c == '_'))
            .filter(|t| t.starts_with('#') || t.starts_with(':'))
            .map(str::to_owned)
            .collect();
        let defined: HashSet<String> = expression
            .names
            .keys()
            .chain(expression.values.keys())
            .cloned()
            .collect();
        assert_eq!(used, defined, "in {text}");
    }
}
