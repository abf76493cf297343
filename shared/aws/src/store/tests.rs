use std::collections::{HashMap, HashSet};

use vigil_core::ports::{Cursor, Index, IndexKey, SortKey};

use super::codec::{BODY, GSI2_PK, n, s};
use super::errors::condition_failure;
use super::expression::Expression;
use super::query_plan::normalize_sort;
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
fn put_conditions_become_their_condition_expressions() {
    // GIVEN each put condition
    // WHEN it is planned
    let none = put_condition(PutCondition::None);
    let absent = put_condition(PutCondition::Absent);
    let equals = put_condition(PutCondition::VersionEquals(4));

    // THEN each says what the port's condition says, and each placeholder is defined
    assert_eq!(none, None);
    assert_eq!(absent.unwrap().text, "attribute_not_exists(#pk)");
    let equals = equals.unwrap();
    assert_eq!(equals.text, "#version = :expected");
    assert_eq!(
        equals.names.get("#version").map(String::as_str),
        Some("version")
    );
    assert_eq!(equals.values.get(":expected"), Some(&n(4)));
    assert_placeholders_defined(&equals, None);
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
    let plan =
        query_plan(&Query::partition(Index::Primary, "p").sort(SortKey::BeginsWith("EVT#".into())))
            .unwrap()
            .unwrap();
    assert_eq!(plan.index_name, None);
    assert_eq!(plan.key_condition.text, "#p = :p AND begins_with(#s, :a)");
    assert!(plan.consistent && plan.forward);

    let primary_cursor = Cursor::after_item(&item(), Index::Primary);
    let query = Query::partition(Index::Gsi1, "g").after(Some(primary_cursor));
    assert_eq!(query_plan(&query), Err(StoreError::InvalidCursor));
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
