//! A query of the port as a DynamoDB Query: index, key condition, direction, consistency and
//! the start key of a cursor.

use vigil_core::ports::{Cursor, Index, Order, Query, SortKey, StoreError};

use super::codec::{Attributes, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK, s};
use super::expression::Expression;

/// A sort-key condition DynamoDB accepts (no empty strings, no reversed range), or `None` when
/// no item can match.
pub(super) fn normalize_sort(sort: &SortKey) -> Option<SortKey> {
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
pub(super) struct QueryPlan {
    pub(super) index_name: Option<&'static str>,
    pub(super) key_condition: Expression,
    pub(super) forward: bool,
    pub(super) consistent: bool,
    pub(super) start: Option<Attributes>,
}

fn index_attributes(index: Index) -> (&'static str, &'static str, Option<&'static str>) {
    match index {
        Index::Primary => (PK, SK, None),
        Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1)),
        Index::Gsi2 => (GSI2_PK, GSI2_SK, Some(GSI2)),
    }
}

/// The Query to send, or `None` when the answer is empty without asking. The query was
/// accepted by `validate_query` (a partition, a cursor with non-empty keys).
pub(super) fn query_plan(query: &Query) -> Result<Option<QueryPlan>, StoreError> {
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
    Ok(key)
}
