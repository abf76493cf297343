//! Integrity records: every hook that failed authentication or verification, counted per
//! 5-minute bucket for the `webhook_integrity` rule.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound as _, SecondsFormat, TimeDelta, Utc};

use crate::keys;
use crate::ports::ItemStore;

pub const BUCKET: TimeDelta = TimeDelta::minutes(5);

/// Start of the 5-minute bucket holding `at`, as a sort key.
pub fn bucket_start(at: DateTime<Utc>) -> String {
    at.duration_trunc(BUCKET)
        .unwrap_or(at)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Counts one failed hook. Best effort: a failure to count must not change the caller's answer.
pub async fn record_failure(
    store: &dyn ItemStore,
    tenant_id: &str,
    reason: &str,
    source_ip: Option<&str>,
    size: usize,
    at: DateTime<Utc>,
) {
    let deltas = BTreeMap::from([("failures".to_string(), 1), (reason.to_string(), 1)]);
    if let Err(e) = store
        .add(
            &keys::integrity_bucket(tenant_id, &bucket_start(at)),
            &deltas,
        )
        .await
    {
        tracing::warn!(tenant_id, error = %e, "could not count a failed hook");
    }
    tracing::info!(tenant_id, reason, source_ip, size, "hook rejected");
}
