//! Items as DynamoDB attributes: `pk`, `sk`, the index keys it has (`gsi1pk`/`gsi1sk`,
//! `gsi2pk`/`gsi2sk`), `expires_at` (N, the table's TTL attribute), `version` (N), `body` (S) and
//! one top-level N attribute per counter, `c_<name>`, so that `ADD` changes a counter atomically.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use vigil_core::ports::{IndexKey, Item, Key, StoreError};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1_PK: &str = "gsi1pk";
pub(crate) const GSI1_SK: &str = "gsi1sk";
pub(crate) const GSI2_PK: &str = "gsi2pk";
pub(crate) const GSI2_SK: &str = "gsi2sk";
/// The table's TTL attribute.
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(super) const VERSION: &str = "version";
pub(super) const BODY: &str = "body";
const COUNTER_PREFIX: &str = "c_";
/// Index names, as in template.yaml.
pub(crate) const GSI1: &str = "GSI1";
pub(crate) const GSI2: &str = "GSI2";

pub(super) type Attributes = HashMap<String, AttributeValue>;

pub(super) fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

pub(super) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

pub(super) fn counter_attribute(name: &str) -> String {
    format!("{COUNTER_PREFIX}{name}")
}

pub(super) fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([(PK.into(), s(&key.pk)), (SK.into(), s(&key.sk))])
}

pub(super) fn item_attributes(item: &Item, version: u64) -> Attributes {
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

pub(super) fn item_from_attributes(mut attrs: Attributes) -> Result<Item, StoreError> {
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

pub(super) fn counters_from(
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
