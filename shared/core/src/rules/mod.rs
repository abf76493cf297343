//! Revenue rules as data, evaluated over aligned windows of 5-minute buckets by event time.
//!
//! A run evaluates, for every enabled rule, each window that became due since the last run
//! (a missed run is caught up, a late event within the lateness is counted) and records its
//! progress. It reads per-bucket and per-day aggregates kept at ingest, never raw events, so a
//! run costs O(buckets). A finding opens an anomaly keyed by (rule, subject, window): re-running
//! a window never opens a second one.

pub mod config;
pub mod evaluate;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound as _, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use config::{RuleConfig, RuleKind, RulePatch};
use evaluate::{Baseline, WindowFacts};

use crate::anomaly::AnomalyService;
use crate::json::to_json;
use crate::ports::{Index, Item, ItemStore, PutCondition, Query, SortKey, WriteOp};
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

/// How long after a window ends late events are still waited for.
pub const LATENESS: Duration = Duration::minutes(5);
/// A tenant's first run, and one after a long outage, looks back this far (at most).
pub const MAX_CATCH_UP: Duration = Duration::days(2);
const BASELINE_DAYS: i64 = 30;

/// What one evaluation of the due windows did for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub windows_evaluated: u64,
    pub anomalies_opened: u64,
    pub store_reads: u64,
    pub store_writes: u64,
}

/// Per rule: the end of the last window evaluated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    evaluated_until: BTreeMap<String, DateTime<Utc>>,
}

pub struct RuleService {
    store: Arc<dyn ItemStore>,
    anomalies: Arc<AnomalyService>,
    clock: Arc<dyn Clock>,
}

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl RuleService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        anomalies: Arc<AnomalyService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            anomalies,
            clock,
        }
    }

    /// Every rule of the tenant: its settings over the defaults.
    pub async fn list(&self, tenant: &str) -> Result<Vec<RuleConfig>> {
        let page = self
            .store
            .query(Query::partition(Index::Primary, table_keys::rules_partition(tenant)).limit(100))
            .await?;
        let mut stored: BTreeMap<String, RuleConfig> = BTreeMap::new();
        for item in &page.items {
            let rule: RuleConfig = item.parse()?;
            stored.insert(rule.id.clone(), rule);
        }
        Ok(RuleKind::ALL
            .into_iter()
            .map(|kind| {
                stored
                    .remove(kind.as_str())
                    .unwrap_or_else(|| RuleConfig::default_for(kind))
            })
            .collect())
    }

    /// Changes a rule (admin), audited.
    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        patch: RulePatch,
        actor: &Actor,
    ) -> Result<RuleConfig> {
        let current = self
            .list(tenant)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::NotFound("rule".into()))?;
        let updated = patch.apply(current)?;
        let now = self.clock.now();
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(table_keys::rule(tenant, id), to_json(&updated)?),
                    condition: PutCondition::None,
                },
                audit::record(tenant, actor, "rule.update", id, now),
            ])
            .await?;
        Ok(updated)
    }

    /// Evaluates every window due at `now` for one tenant.
    pub async fn evaluate_due(&self, tenant: &str, now: DateTime<Utc>) -> Result<EvaluationReport> {
        let before = self.store.request_counts();
        let mut report = EvaluationReport::default();
        let rules = self.list(tenant).await?;
        let progress_item = self.store.get(&table_keys::rule_progress(tenant)).await?;
        let (mut progress, version) = match &progress_item {
            Some(item) => (item.parse::<Progress>()?, Some(item.version)),
            None => (Progress::default(), None),
        };
        let mut daily: Option<BTreeMap<String, BTreeMap<String, i64>>> = None;
        for rule in rules.iter().filter(|r| r.enabled) {
            let width = Duration::minutes(i64::from(rule.window_minutes));
            let last_due_end = (now - LATENESS)
                .duration_trunc(width)
                .unwrap_or(now - LATENESS);
            let floor = (now - MAX_CATCH_UP).duration_trunc(width).unwrap_or(now);
            let mut start = progress
                .evaluated_until
                .get(&rule.id)
                .copied()
                .unwrap_or(floor)
                .max(floor);
            if start + width > last_due_end {
                continue;
            }
            let buckets = self.buckets(rule.kind, tenant, start, last_due_end).await?;
            if rule.kind.needs_baseline() && daily.is_none() {
                daily = Some(self.days(tenant, now).await?);
            }
            while start + width <= last_due_end {
                let end = start + width;
                let mut facts = WindowFacts::sum(&buckets, &rfc(start), &rfc(end));
                // Only buckets with charges have a largest one: one query for those alone.
                if rule.kind == RuleKind::AmountSpike && facts.get("charge_succeeded") > 0 {
                    facts.largest_charge = self.largest_charge(tenant, start).await?;
                }
                let baseline = daily
                    .as_ref()
                    .map(|days| Baseline::before(days, start, BASELINE_DAYS));
                report.windows_evaluated += 1;
                if let Some(finding) =
                    evaluate::evaluate(rule, &facts, baseline.as_ref(), start, end)
                {
                    let (_, created) = self.anomalies.open(tenant, finding).await?;
                    report.anomalies_opened += u64::from(created);
                }
                start = end;
            }
            progress.evaluated_until.insert(rule.id.clone(), start);
        }
        let condition = match version {
            Some(v) => PutCondition::VersionEquals(v),
            None => PutCondition::Absent,
        };
        // A concurrent run that recorded first wins; this one's anomalies were idempotent anyway.
        match self
            .store
            .put(
                Item::new(table_keys::rule_progress(tenant), to_json(&progress)?),
                condition,
            )
            .await
        {
            Ok(_)
            | Err(crate::ports::StoreError::VersionConflict)
            | Err(crate::ports::StoreError::AlreadyExists) => {}
            Err(other) => return Err(other.into()),
        }
        let spent = self.store.request_counts().since(&before);
        report.store_reads = spent.reads;
        report.store_writes = spent.writes;
        Ok(report)
    }

    /// The rule's 5-minute buckets in [from, to), by start time.
    async fn buckets(
        &self,
        kind: RuleKind,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BTreeMap<String, BTreeMap<String, i64>>> {
        let partition = if kind == RuleKind::WebhookIntegrity {
            table_keys::integrity_partition(tenant)
        } else {
            table_keys::revenue_partition(tenant)
        };
        let last = rfc(to - Duration::seconds(1));
        let mut out = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .query(
                    Query::partition(Index::Primary, partition.clone())
                        .sort(SortKey::Between(rfc(from), last.clone()))
                        .limit(1000)
                        .after(cursor),
                )
                .await?;
            for item in page.items {
                out.insert(item.key.sk.clone(), item.counters);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Daily counters of the last `BASELINE_DAYS` + 1 days.
    async fn days(
        &self,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, BTreeMap<String, i64>>> {
        let from = (now - Duration::days(BASELINE_DAYS + 2))
            .format("%Y-%m-%d")
            .to_string();
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::revenue_day_partition(tenant))
                    .sort(SortKey::GreaterOrEqual(from))
                    .limit(100),
            )
            .await?;
        Ok(page
            .items
            .into_iter()
            .map(|item| (item.key.sk.clone(), item.counters))
            .collect())
    }

    /// The largest succeeded charge of the bucket starting at `start` (one query, one item).
    async fn largest_charge(&self, tenant: &str, start: DateTime<Utc>) -> Result<Option<i64>> {
        let page = self
            .store
            .query(
                Query::partition(
                    Index::Gsi2,
                    table_keys::charges_by_amount(tenant, &rfc(start), "").pk,
                )
                .descending()
                .limit(1),
            )
            .await?;
        Ok(page.items.first().and_then(|item| {
            item.gsi2
                .as_ref()
                .and_then(|k| k.sk.split('#').next())
                .and_then(|amount| amount.parse().ok())
        }))
    }
}
