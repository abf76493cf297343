//! Condition and update expressions, with their `#name` and `:value` placeholders.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use vigil_core::ports::{DeleteCondition, PutCondition};

use super::codec::{Attributes, BODY, PK, VERSION, counter_attribute, n, s};

/// A condition or update expression with its placeholders.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Expression {
    pub(super) text: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: Attributes,
}

impl Expression {
    pub(super) fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    pub(super) fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// DynamoDB refuses empty placeholder maps, so absent ones are sent as `None`.
    pub(super) fn names_or_none(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values_or_none(&self) -> Option<Attributes> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
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

pub(super) fn version_condition(version: u64) -> Expression {
    Expression {
        text: "#version = :expected".into(),
        ..Expression::default()
    }
    .name("#version", VERSION)
    .value(":expected", n(version))
}
/// The condition-expression fields of a request: text, names and values (all absent without a
/// condition).
pub(super) fn condition_fields(
    condition: Option<Expression>,
) -> (
    Option<String>,
    Option<HashMap<String, String>>,
    Option<Attributes>,
) {
    match condition {
        Some(e) => {
            let (names, values) = (e.names_or_none(), e.values_or_none());
            (Some(e.text), names, values)
        }
        None => (None, None, None),
    }
}

/// The condition of a put (the version it writes comes from `validate_put`).
pub(super) fn put_condition(condition: PutCondition) -> Option<Expression> {
    match condition {
        PutCondition::None => None,
        PutCondition::Absent => Some(absent_condition()),
        PutCondition::VersionEquals(expected) => Some(version_condition(expected)),
    }
}

pub(super) fn delete_condition(condition: DeleteCondition) -> Option<Expression> {
    match condition {
        DeleteCondition::None => None,
        DeleteCondition::Exists => Some(exists_condition()),
        DeleteCondition::VersionEquals(v) => Some(version_condition(v)),
    }
}

/// each delta, and refuses (condition) any add that would leave the `i64` range.
pub(super) struct AddPlan {
    pub(super) update: Expression,
    pub(super) condition: Option<String>,
}

pub(super) fn add_plan(deltas: &BTreeMap<String, i64>) -> AddPlan {
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
