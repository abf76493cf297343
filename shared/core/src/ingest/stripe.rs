//! `POST /hooks/{tenant}/stripe`: verify `Stripe-Signature` over the raw bytes, store the event
//! once by its Stripe id with its raw body, and add its signal to its 5-minute bucket — one
//! transaction. The heavy work (rules) runs later, never in the request.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::integrity::{self, bucket_start};
use super::{IngestOutcome, IngestService};
use crate::json::to_json;
use crate::ports::{Item, PutCondition, StoreError, WriteOp};
use crate::stripe::{Signal, StripeEvent, StripeSignatureError, signature};
use crate::tenancy::auth;
use crate::{Error, Result, table_keys};

/// A stored Stripe event: what Vigil read from it, when it arrived, and the raw body for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredStripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: DateTime<Utc>,
    pub livemode: bool,
    pub received_at: DateTime<Utc>,
    pub signal: Option<Signal>,
    pub raw: String,
}

fn rejected(reason: StripeSignatureError) -> Error {
    Error::Unverified {
        code: reason.reason(),
        message: reason.to_string(),
    }
}

impl IngestService {
    /// Accepts one Stripe webhook. A missing, malformed, stale or wrong signature (or no secret
    /// set): 401 with a clear code; a malformed body: 400, nothing stored but an integrity record.
    pub async fn accept_stripe_event(
        &self,
        tenant_id: &str,
        signature_header: Option<&str>,
        body: &[u8],
        source_ip: Option<&str>,
    ) -> Result<IngestOutcome> {
        let now = self.clock.now();
        self.verify_stripe_signature(tenant_id, signature_header, body, source_ip, now)
            .await?;
        self.admit(tenant_id, now).await?;
        let event = match StripeEvent::parse(body) {
            Ok(event) => event,
            Err(error) => {
                self.record_stripe_failure(tenant_id, "malformed_event", source_ip, body, now)
                    .await;
                return Err(error);
            }
        };
        let ops = stripe_event_writes(tenant_id, &event, body, now, self.settings.retention)?;
        match self.store.transact(ops).await {
            Ok(()) => Ok(IngestOutcome {
                id: event.id,
                duplicate: false,
            }),
            Err(StoreError::TransactionCancelled { index: 0, .. }) => Ok(IngestOutcome {
                id: event.id,
                duplicate: true,
            }),
            Err(other) => Err(other.into()),
        }
    }

    /// Checks `Stripe-Signature` against the tenant's Stripe secrets; a failure of a known
    /// tenant leaves an integrity record.
    async fn verify_stripe_signature(
        &self,
        tenant_id: &str,
        signature_header: Option<&str>,
        body: &[u8],
        source_ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tenant = self.tenants.get(tenant_id).await?;
        let configured = tenant.as_ref().filter(|t| !t.stripe_secrets.is_empty());
        // An unknown tenant, or one without a Stripe secret, is checked against secrets nobody
        // holds: the same answer as a wrong signature, so tenant ids are not to be probed.
        let secrets = configured.map_or(auth::NOBODY.stripe_secrets.as_slice(), |t| {
            t.stripe_secrets.as_slice()
        });
        let verified = signature::verify(signature_header, body, secrets, now)
            .and_then(|t| configured.map(|_| t).ok_or(StripeSignatureError::NoMatch));
        let Err(failure) = verified else {
            return Ok(());
        };
        if tenant.is_some() {
            let reason = match configured {
                Some(_) => failure.reason(),
                None => StripeSignatureError::NotConfigured.reason(),
            };
            self.record_stripe_failure(tenant_id, reason, source_ip, body, now)
                .await;
        }
        Err(rejected(failure))
    }

    async fn record_stripe_failure(
        &self,
        tenant_id: &str,
        reason: &str,
        source_ip: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) {
        integrity::record_failure(
            self.store.as_ref(),
            tenant_id,
            "stripe",
            reason,
            source_ip,
            body.len(),
            now,
        )
        .await;
    }
}

/// The writes of one accepted Stripe event, in one transaction: the event itself (once, by its
/// Stripe id; the first write, so a duplicate cancels at index 0) and its signal's counters in
/// its 5-minute bucket and its day.
fn stripe_event_writes(
    tenant_id: &str,
    event: &StripeEvent,
    body: &[u8],
    now: DateTime<Utc>,
    retention: chrono::Duration,
) -> Result<Vec<WriteOp>> {
    let signal = event.signal();
    let stored = StoredStripeEvent {
        id: event.id.clone(),
        kind: event.kind.clone(),
        created: event.created,
        livemode: event.livemode,
        received_at: now,
        signal,
        raw: String::from_utf8_lossy(body).into_owned(),
    };
    let bucket = bucket_start(event.created);
    let order = format!(
        "{}#{}",
        event.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        event.id
    );
    let mut item = Item::new(
        table_keys::stripe_event(tenant_id, &event.id),
        to_json(&stored)?,
    )
    .with_gsi1(table_keys::stripe_event_list(tenant_id, &order))
    .with_expiry((now + retention).timestamp());
    if let Some(Signal::ChargeSucceeded { amount }) = signal {
        // Zero-padded so the index orders by amount: the bucket's largest charge is first.
        let sort = format!("{amount:019}#{}", event.id);
        item = item.with_gsi2(table_keys::charges_by_amount(tenant_id, &bucket, &sort));
    }
    let mut ops = vec![WriteOp::Put {
        item,
        condition: PutCondition::Absent,
    }];
    if let Some(signal) = signal {
        let deltas: BTreeMap<String, i64> = signal
            .counters()
            .into_iter()
            .map(|(name, delta)| (name.to_owned(), delta))
            .collect();
        ops.push(WriteOp::Add {
            key: table_keys::revenue_bucket(tenant_id, &bucket),
            deltas: deltas.clone(),
        });
        ops.push(WriteOp::Add {
            key: table_keys::revenue_day(tenant_id, &event.created.format("%Y-%m-%d").to_string()),
            deltas,
        });
    }
    Ok(ops)
}
