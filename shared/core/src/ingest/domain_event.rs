//! Domain events posted by apps: `{"id","type","occurred_at","subject":{...},"data":{...}}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{BusEvent, IndexKey, Item};
use crate::{Error, Result, table_keys};

pub const MAX_ID_LEN: usize = 200;
pub const MAX_TYPE_LEN: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainEvent {
    /// The sender's id for this event; a repeat of an id is a duplicate.
    #[schema(pattern = r#"^[!-"$-~]{1,200}$"#)]
    pub id: String,
    /// Dotted type, e.g. `client.stage_changed`.
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// What the event is about, e.g. `{"client_id": "c_42"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub subject: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl DomainEvent {
    /// Parses and validates a request body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let event: DomainEvent = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("invalid_event", format!("event body: {e}")))?;
        event.validate()?;
        Ok(event)
    }

    fn validate(&self) -> Result<()> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID_LEN
            && self.id.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if !id_ok {
            return Err(Error::invalid(
                "invalid_event",
                format!(
                    "id must be 1–{MAX_ID_LEN} printable ASCII characters without spaces or '#'"
                ),
            ));
        }
        let type_ok = !self.event_type.is_empty()
            && self.event_type.len() <= MAX_TYPE_LEN
            && self
                .event_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !type_ok {
            return Err(Error::invalid(
                "invalid_event",
                format!(
                    "type must be 1–{MAX_TYPE_LEN} characters of letters, digits, '.', '_' or '-'"
                ),
            ));
        }
        Ok(())
    }
}

/// An event as stored: what was sent and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredDomainEvent {
    #[serde(flatten)]
    pub event: DomainEvent,
    pub received_at: DateTime<Utc>,
}

impl StoredDomainEvent {
    pub fn to_item(&self, tenant_id: &str, expires_at: DateTime<Utc>) -> Result<Item> {
        let body = serde_json::to_string(self).map_err(|e| Error::Internal(e.to_string()))?;
        let order = format!(
            "{}#{}",
            self.received_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            self.event.id
        );
        Ok(
            Item::new(table_keys::domain_event(tenant_id, &self.event.id), body)
                .with_gsi1(IndexKey::new(
                    table_keys::domain_event_list_partition(tenant_id),
                    order,
                ))
                .with_expiry(expires_at.timestamp()),
        )
    }

    /// The bus form: the event plus its tenant, so consumers need no lookup.
    pub fn bus_event(&self, tenant_id: &str) -> BusEvent {
        BusEvent {
            detail_type: self.event.event_type.clone(),
            detail: serde_json::json!({
                "tenant_id": tenant_id,
                "event": self.event,
                "received_at": self.received_at,
            }),
            time: self.event.occurred_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_event_parses() {
        let body = br#"{"id":"evt_1","type":"client.stage_changed","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c1"},"data":{"to":"at_risk"}}"#;
        let event = DomainEvent::parse(body).unwrap();
        assert_eq!(event.event_type, "client.stage_changed");
        assert_eq!(event.subject["client_id"], "c1");
    }

    #[test]
    fn malformed_events_are_rejected_with_a_reason() {
        let cases: &[&[u8]] = &[
            b"not json",
            br#"{"type":"x","occurred_at":"2026-11-22T10:00:00Z"}"#,
            br#"{"id":"a b","type":"x","occurred_at":"2026-11-22T10:00:00Z"}"#,
            br#"{"id":"a#b","type":"x","occurred_at":"2026-11-22T10:00:00Z"}"#,
            br#"{"id":"a","type":"x y","occurred_at":"2026-11-22T10:00:00Z"}"#,
            br#"{"id":"a","type":"x","occurred_at":"yesterday"}"#,
            br#"{"id":1,"type":"x","occurred_at":"2026-11-22T10:00:00Z"}"#,
            br#"{"id":"a","type":"x","occurred_at":"2026-11-22T10:00:00Z","data":[]}"#,
            br#"{"id":"a","type":"x","occurred_at":"2026-11-22T10:00:00Z","extra":1}"#,
        ];
        for body in cases {
            let err = DomainEvent::parse(body).unwrap_err();
            assert_eq!(
                err.code(),
                "invalid_event",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
