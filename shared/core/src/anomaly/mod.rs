//! Anomalies: what a rule found, with a lifecycle people move it through. Opened once per
//! (rule, subject, bucket) — the id is derived from them, so re-running a window never opens a
//! second one — and announced through the outbox (`anomaly.opened`, `anomaly.resolved`).

pub mod opened;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::outbox::OutboxService;
use crate::delivery::{NewNotification, NotificationType};
use crate::json::to_json;
use crate::ports::{
    Announcement, Announcer, Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError,
    WriteOp, query_filtered,
};
use crate::severity::Severity;
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AnomalyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyStatus::Open => "open",
            AnomalyStatus::Acknowledged => "acknowledged",
            AnomalyStatus::Resolved => "resolved",
        }
    }

    /// open → acknowledged | resolved; acknowledged → open | resolved; resolved → open (reopen).
    pub fn can_become(self, next: AnomalyStatus) -> bool {
        use AnomalyStatus as S;
        matches!(
            (self, next),
            (S::Open, S::Acknowledged)
                | (S::Open, S::Resolved)
                | (S::Acknowledged, S::Open)
                | (S::Acknowledged, S::Resolved)
                | (S::Resolved, S::Open)
        )
    }
}

/// One change of status, with who made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    pub from: AnomalyStatus,
    pub to: AnomalyStatus,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Anomaly {
    pub id: String,
    pub tenant_id: String,
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    pub status: AnomalyStatus,
    /// What it is about: a scenario, a customer, or the tenant's whole account.
    pub subject: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    /// Counts, thresholds, sample ids: what made the rule fire.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// Seeded by `vigil demo seed`, not found by a rule.
    #[serde(default)]
    pub demo: bool,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub reopened_at: Option<DateTime<Utc>>,
    pub history: Vec<Transition>,
}

/// What a rule (or the demo seeder) found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    pub subject: String,
    /// What tells apart findings of one rule, subject and window (a run id); usually none.
    pub occurrence: Option<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub evidence: serde_json::Value,
    pub demo: bool,
}

/// Order of `GET /api/v1/anomalies`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalySort {
    #[default]
    DetectedDesc,
    SeverityDesc,
}

#[derive(Debug, Clone, Default)]
pub struct AnomalyFilter {
    pub status: Option<AnomalyStatus>,
    pub severity: Option<Severity>,
    pub rule: Option<String>,
    pub demo_only: bool,
    pub sort: AnomalySort,
}

/// The anomaly id of a (rule, subject, bucket[, occurrence]): the same finding always names the
/// same anomaly.
pub fn anomaly_id(
    tenant: &str,
    rule: &str,
    subject: &str,
    window_start: DateTime<Utc>,
    occurrence: Option<&str>,
) -> String {
    let start = window_start.timestamp().to_string();
    match occurrence {
        None => crate::ids::stable_id("anm", &[tenant, rule, subject, &start]),
        Some(o) => crate::ids::stable_id("anm", &[tenant, rule, subject, &start, o]),
    }
}

fn to_item(a: &Anomaly) -> Result<Item> {
    let millis = a.detected_at.timestamp_millis();
    let detected = format!(
        "{}#{}",
        a.detected_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        a.id
    );
    // Most severe first, newest first within a severity.
    let by_severity = format!(
        "{}#{:015}#{}",
        a.severity.as_str(),
        i64::MAX / 1000 - millis,
        a.id
    );
    Ok(
        Item::new(table_keys::anomaly(&a.tenant_id, &a.id), to_json(a)?)
            .with_gsi1(table_keys::anomaly_list(&a.tenant_id, &detected))
            .with_gsi2(table_keys::anomaly_by_severity(&a.tenant_id, &by_severity)),
    )
}

pub struct AnomalyService {
    store: Arc<dyn ItemStore>,
    announcer: Arc<dyn Announcer>,
    outbox: Arc<OutboxService>,
    clock: Arc<dyn Clock>,
}

impl AnomalyService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        announcer: Arc<dyn Announcer>,
        outbox: Arc<OutboxService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            announcer,
            outbox,
            clock,
        }
    }

    /// Opens the anomaly of `finding` unless it exists; announces it either way (the outbox's
    /// dedupe key makes a second announcement a no-op). Returns it and whether it is new.
    pub async fn open(&self, tenant: &str, finding: Finding) -> Result<(Anomaly, bool)> {
        let now = self.clock.now();
        let id = anomaly_id(
            tenant,
            &finding.rule,
            &finding.subject,
            finding.window_start,
            finding.occurrence.as_deref(),
        );
        let anomaly = Anomaly {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            rule: finding.rule,
            severity: finding.severity,
            title: finding.title,
            status: AnomalyStatus::Open,
            subject: finding.subject,
            window_start: finding.window_start,
            window_end: finding.window_end,
            detected_at: now,
            evidence: finding.evidence,
            demo: finding.demo,
            acknowledged_at: None,
            resolved_at: None,
            reopened_at: None,
            history: Vec::new(),
        };
        // Workflows with an `anomaly_opened` trigger hear of it on the bus.
        let announced = self
            .announcer
            .put_and_announce(
                to_item(&anomaly)?,
                PutCondition::Absent,
                Announcement::Bus(vec![opened::anomaly_opened(&anomaly)]),
            )
            .await;
        let (anomaly, created) = match announced {
            Ok(announced) => {
                if let Err(error) = announced.announcement {
                    tracing::warn!(tenant, anomaly_id = %anomaly.id, %error,
                        "anomaly.opened was not published; workflows will not start for it");
                }
                (anomaly, true)
            }
            Err(StoreError::AlreadyExists) => (self.get(tenant, &id).await?.0, false),
            Err(other) => return Err(other.into()),
        };
        self.announce(&anomaly, NotificationType::AnomalyOpened, &anomaly.id)
            .await?;
        Ok((anomaly, created))
    }

    async fn announce(&self, a: &Anomaly, kind: NotificationType, dedupe_key: &str) -> Result<()> {
        let verb = match kind {
            NotificationType::AnomalyResolved => "Resolved",
            _ => "Anomaly",
        };
        let new = NewNotification {
            kind,
            severity: a.severity,
            title: format!("{verb}: {}", a.title),
            summary: format!(
                "Rule {} on {} for {} – {}",
                a.rule,
                a.subject,
                a.window_start.to_rfc3339_opts(SecondsFormat::Secs, true),
                a.window_end.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            link_ref: Some(format!("anomaly:{}", a.id)),
            dedupe_key: dedupe_key.to_owned(),
            payload: serde_json::json!({"anomaly_id": a.id, "rule": a.rule, "evidence": a.evidence}),
        };
        self.outbox.emit(&a.tenant_id, new).await.map(drop)
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<(Anomaly, u64)> {
        if !crate::ids::looks_like("anm", id) {
            return Err(Error::NotFound("anomaly".into()));
        }
        let item = self
            .store
            .get(&table_keys::anomaly(tenant, id))
            .await?
            .ok_or_else(|| Error::NotFound("anomaly".into()))?;
        Ok((item.parse()?, item.version))
    }

    pub async fn list(
        &self,
        tenant: &str,
        filter: &AnomalyFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Anomaly>, Option<Cursor>)> {
        let query = match filter.sort {
            AnomalySort::DetectedDesc => {
                Query::partition(Index::Gsi1, table_keys::anomaly_list(tenant, "").pk).descending()
            }
            AnomalySort::SeverityDesc => {
                Query::partition(Index::Gsi2, table_keys::anomaly_by_severity(tenant, "").pk)
            }
        };
        let (found, cursor) =
            query_filtered(self.store.as_ref(), query, limit, cursor, |a: &Anomaly| {
                filter.status.is_none_or(|s| a.status == s)
                    && filter.severity.is_none_or(|s| a.severity == s)
                    && filter.rule.as_ref().is_none_or(|r| &a.rule == r)
                    && (!filter.demo_only || a.demo)
            })
            .await?;
        Ok((found, cursor))
    }

    /// Moves an anomaly to `next`; a no-op or illegal move is 409 naming both states.
    pub async fn transition(
        &self,
        tenant: &str,
        id: &str,
        next: AnomalyStatus,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<Anomaly> {
        if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(Error::invalid(
                "invalid_note",
                "note must be at most 2000 characters",
            ));
        }
        let (mut a, version) = self.get(tenant, id).await?;
        if !a.status.can_become(next) {
            let why = if a.status == next {
                "it already is"
            } else {
                "that transition is not allowed"
            };
            return Err(Error::Conflict(format!(
                "cannot move anomaly from {} to {}: {why}",
                a.status.as_str(),
                next.as_str()
            )));
        }
        let now = self.clock.now();
        let from = a.status;
        a.status = next;
        match next {
            AnomalyStatus::Acknowledged => a.acknowledged_at = Some(now),
            AnomalyStatus::Resolved => a.resolved_at = Some(now),
            AnomalyStatus::Open => a.reopened_at = Some(now),
        }
        a.history.push(Transition {
            from,
            to: next,
            at: now,
            actor: actor.clone(),
            note,
        });
        let result = self
            .store
            .transact(vec![
                WriteOp::Put {
                    item: to_item(&a)?,
                    condition: PutCondition::VersionEquals(version),
                },
                audit::record(
                    tenant,
                    actor,
                    &format!("anomaly.{}", next.as_str()),
                    id,
                    now,
                ),
            ])
            .await;
        match result {
            Ok(()) => {}
            Err(StoreError::TransactionCancelled { .. }) => {
                return Err(Error::Conflict(
                    "the anomaly changed meanwhile; read it again".into(),
                ));
            }
            Err(other) => return Err(other.into()),
        }
        if next == AnomalyStatus::Resolved {
            // One notice per resolution: a reopened and resolved again anomaly says so again.
            let key = format!("{}:resolved:{}", a.id, a.history.len());
            self.announce(&a, NotificationType::AnomalyResolved, &key)
                .await?;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_table() {
        use AnomalyStatus as S;
        let all = [S::Open, S::Acknowledged, S::Resolved];
        let legal = [
            (S::Open, S::Acknowledged),
            (S::Open, S::Resolved),
            (S::Acknowledged, S::Open),
            (S::Acknowledged, S::Resolved),
            (S::Resolved, S::Open),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
    }

    #[test]
    fn a_finding_names_one_anomaly() {
        let at = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let a = anomaly_id("t", "payment_failure_spike", "account", at, None);
        assert_eq!(
            a,
            anomaly_id("t", "payment_failure_spike", "account", at, None)
        );
        assert_ne!(a, anomaly_id("t", "refund_spike", "account", at, None));
        assert!(crate::ids::looks_like("anm", &a));
    }
}
