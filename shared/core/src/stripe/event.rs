//! Stripe events as Vigil reads them: the envelope, and the signal each type gives the rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest Stripe event id Vigil accepts (Stripe's are ~30 characters).
pub const MAX_ID_LEN: usize = 255;

/// The fields of a Stripe event Vigil relies on; the raw body is kept beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// When Stripe created the event: windows use this, not the arrival time.
    #[serde(with = "chrono::serde::ts_seconds")]
    #[schema(value_type = i64)]
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub livemode: bool,
    #[schema(value_type = Object)]
    pub data: StripeData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripeData {
    pub object: serde_json::Value,
}

/// What an event means to the revenue rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// A payment or charge failed (`charge.failed`, `payment_intent.payment_failed`).
    PaymentFailed,
    /// A charge succeeded; `amount` in the currency's minor unit.
    ChargeSucceeded {
        amount: i64,
    },
    /// A payment intent succeeded (counted as volume, not as a charge amount).
    PaymentSucceeded,
    Refund {
        amount: i64,
    },
    InvoiceFailed,
    InvoicePaid,
    SubscriptionCreated,
    SubscriptionUpdated,
    SubscriptionDeleted,
}

impl Signal {
    /// Counter names this signal adds to its bucket, with their deltas.
    pub fn counters(self) -> Vec<(&'static str, i64)> {
        match self {
            Signal::PaymentFailed => vec![("payment_failed", 1)],
            Signal::ChargeSucceeded { amount } => {
                vec![("charge_succeeded", 1), ("charge_amount", amount)]
            }
            Signal::PaymentSucceeded => vec![("payment_succeeded", 1)],
            Signal::Refund { amount } => vec![("refund", 1), ("refund_amount", amount)],
            Signal::InvoiceFailed => vec![("invoice_failed", 1)],
            Signal::InvoicePaid => vec![("invoice_paid", 1)],
            Signal::SubscriptionCreated => vec![("subscription_created", 1)],
            Signal::SubscriptionUpdated => vec![("subscription_updated", 1)],
            Signal::SubscriptionDeleted => vec![("subscription_deleted", 1)],
        }
    }
}

fn amount(object: &serde_json::Value, field: &str) -> i64 {
    object[field].as_i64().unwrap_or(0).max(0)
}

impl StripeEvent {
    /// Parses the verified raw body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let event: StripeEvent = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("malformed_event", format!("not a Stripe event: {e}")))?;
        if event.id.is_empty() || event.id.len() > MAX_ID_LEN || event.id.contains('#') {
            return Err(Error::invalid(
                "malformed_event",
                "the event id must be 1–255 characters without '#'",
            ));
        }
        if event.kind.is_empty() {
            return Err(Error::invalid("malformed_event", "the event has no type"));
        }
        Ok(event)
    }

    /// The signal of a known type; unknown types are stored and ignored by rules.
    pub fn signal(&self) -> Option<Signal> {
        let object = &self.data.object;
        Some(match self.kind.as_str() {
            "charge.failed" | "payment_intent.payment_failed" => Signal::PaymentFailed,
            "charge.succeeded" => Signal::ChargeSucceeded {
                amount: amount(object, "amount"),
            },
            "payment_intent.succeeded" => Signal::PaymentSucceeded,
            "charge.refunded" => Signal::Refund {
                amount: amount(object, "amount_refunded"),
            },
            "invoice.payment_failed" => Signal::InvoiceFailed,
            "invoice.paid" => Signal::InvoicePaid,
            "customer.subscription.created" => Signal::SubscriptionCreated,
            "customer.subscription.updated" => Signal::SubscriptionUpdated,
            "customer.subscription.deleted" => Signal::SubscriptionDeleted,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_give_signals_and_unknown_ones_none() {
        let event = |kind: &str, object: serde_json::Value| {
            StripeEvent::parse(
                serde_json::json!({"id": "evt_1", "type": kind, "created": 1_795_000_000,
                                   "data": {"object": object}})
                .to_string()
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            event("charge.succeeded", serde_json::json!({"amount": 1250})).signal(),
            Some(Signal::ChargeSucceeded { amount: 1250 })
        );
        assert_eq!(
            event(
                "charge.refunded",
                serde_json::json!({"amount_refunded": 300})
            )
            .signal(),
            Some(Signal::Refund { amount: 300 })
        );
        assert_eq!(
            event("payment_intent.payment_failed", serde_json::json!({})).signal(),
            Some(Signal::PaymentFailed)
        );
        assert_eq!(
            event("customer.created", serde_json::json!({})).signal(),
            None
        );
        assert_eq!(
            event("charge.failed", serde_json::json!({}))
                .created
                .timestamp(),
            1_795_000_000
        );
        assert!(
            StripeEvent::parse(
                b"{\"id\":\"\",\"type\":\"x\",\"created\":1,\"data\":{\"object\":{}}}"
            )
            .is_err()
        );
        assert!(StripeEvent::parse(b"not json").is_err());
    }
}
