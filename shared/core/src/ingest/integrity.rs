//! Integrity records: every hook that failed authentication or verification, counted per
//! 5-minute bucket for the `webhook_integrity` rule; the first few of each bucket are also kept
//! one by one (time, reason, source address, size) for people investigating them.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound as _, SecondsFormat, TimeDelta, Utc};

use serde::{Deserialize, Serialize};

use crate::ports::{Item, ItemStore, PutCondition};
use crate::table_keys;

pub const BUCKET: TimeDelta = TimeDelta::minutes(5);

/// Start of the 5-minute bucket holding `at`, as a sort key.
pub fn bucket_start(at: DateTime<Utc>) -> String {
    at.duration_trunc(BUCKET)
        .unwrap_or(at)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One rejected hook, kept for the `webhook_integrity` rule and for people investigating it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrityRecord {
    pub at: DateTime<Utc>,
    /// Which hook: `events`, `stripe`, `runs`.
    pub source: String,
    pub reason: String,
    pub source_ip: Option<String>,
    pub size: usize,
}

/// How long integrity records are kept.
const RECORD_RETENTION: TimeDelta = TimeDelta::days(30);

/// Rejections per tenant and 5-minute bucket kept as records; past these only the bucket's
/// counters grow, so a flood of bad hooks costs one store write per rejection.
pub const RECORDS_PER_BUCKET: i64 = 10;

/// Counts one failed hook in its bucket (one atomic add, which answers the bucket's count) and,
/// for the first [`RECORDS_PER_BUCKET`] of the bucket, keeps its record. Best effort: a failure
/// to record must not change the caller's answer.
pub async fn record_failure(
    store: &dyn ItemStore,
    tenant_id: &str,
    source: &str,
    reason: &str,
    source_ip: Option<&str>,
    size: usize,
    at: DateTime<Utc>,
) {
    tracing::info!(tenant_id, source, reason, source_ip, size, "hook rejected");
    let deltas = BTreeMap::from([("failures".to_string(), 1), (reason.to_string(), 1)]);
    let counted = match store
        .add(
            &table_keys::integrity_bucket(tenant_id, &bucket_start(at)),
            &deltas,
        )
        .await
    {
        Ok(counters) => counters.get("failures").copied().unwrap_or(0),
        Err(error) => {
            tracing::warn!(tenant_id, %error, "could not count a failed hook");
            return;
        }
    };
    if counted > RECORDS_PER_BUCKET {
        return;
    }
    let record = IntegrityRecord {
        at,
        source: source.to_owned(),
        reason: reason.to_owned(),
        source_ip: source_ip.map(|ip| ip.chars().take(64).collect()),
        size,
    };
    let sort = format!(
        "{}#{}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true),
        crate::ids::new_id("int")
    );
    let result = match serde_json::to_string(&record) {
        Ok(body) => store
            .put(
                Item::new(table_keys::integrity_record(tenant_id, &sort), body)
                    .with_expiry((at + RECORD_RETENTION).timestamp()),
                PutCondition::None,
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::warn!(tenant_id, %error, "could not keep the record of a failed hook");
    }
}
