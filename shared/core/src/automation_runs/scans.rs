//! Health scans: each scenario scored 0–100 from its hour counters (failure rate, failure trend,
//! credit variance, staleness). A score below 50 opens a `scan_health` anomaly; each scan is
//! stored with its findings and announced once as `scan.completed`. Scans run when a tenant's
//! schedule is due (the summary function's tick) or on demand.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::{ScanSchedule, ScanScheduleInput, ScanScope};
use super::stats::{self, FailureTrend};
use super::{RunService, Scenario, VarianceThresholds, hour_of, milli_to_credits};
use crate::anomaly::Finding;
use crate::delivery::{NewNotification, NotificationType};
use crate::json::to_json;
use crate::ports::{
    Cursor, DeleteCondition, Index, Item, PutCondition, Query, SortKey, StoreError, WriteOp,
};
use crate::severity::Severity;
use crate::tenancy::TenantFailure;
use crate::tenancy::audit::{self, Actor};
use crate::{Error, Result, table_keys};

/// The rule name of anomalies opened for scenarios scoring below [`ALERT_BELOW`].
pub const SCAN_HEALTH_RULE: &str = "scan_health";
/// Scores below this open an anomaly.
pub const ALERT_BELOW: u8 = 50;
/// How far back a scan looks.
pub const LOOKBACK_DAYS: i64 = 7;
/// Results kept in a stored scan, worst first (the counts cover every scenario).
pub const MAX_STORED_RESULTS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    FailureRate,
    FailureTrend,
    CreditVariance,
    /// No run for much longer than the scenario's usual interval.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthFinding {
    pub kind: FindingKind,
    /// Points taken off the score.
    pub penalty: u8,
    pub message: String,
}

/// What a scan knows of one scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthFacts {
    /// (runs, failed) in the last 24 hours and the 24 before.
    pub last_day: (u64, u64),
    pub day_before: (u64, u64),
    pub credits_last_day: f64,
    pub runs_lookback: u64,
    /// End of the last hour with a run, if any in the lookback.
    pub last_run_by: Option<DateTime<Utc>>,
    pub expected_credits: Option<f64>,
    pub first_seen_at: Option<DateTime<Utc>>,
}

/// A scenario's score and why it lost points.
pub fn score(
    facts: &HealthFacts,
    thresholds: &VarianceThresholds,
    now: DateTime<Utc>,
) -> (u8, Vec<HealthFinding>) {
    let mut findings = Vec::new();
    let (runs, failed) = facts.last_day;
    if runs > 0 && failed > 0 {
        let rate = failed as f64 / runs as f64;
        findings.push(HealthFinding {
            kind: FindingKind::FailureRate,
            penalty: (rate * 60.0).round() as u8,
            message: format!(
                "{failed} of {runs} runs failed in the last 24 h ({:.0}%)",
                rate * 100.0
            ),
        });
    }
    if stats::failure_trend(facts.last_day, facts.day_before) == FailureTrend::Increasing {
        findings.push(HealthFinding {
            kind: FindingKind::FailureTrend,
            penalty: 10,
            message: "the failure rate is rising against the day before".into(),
        });
    }
    if let Some(expected) = facts.expected_credits.filter(|e| *e > 0.0)
        && runs > 0
    {
        let variance = facts.credits_last_day / runs as f64 / expected;
        let penalty = match thresholds.severity(variance) {
            Severity::Sev0 | Severity::Sev1 => 30,
            Severity::Sev2 => 20,
            Severity::Sev3 => 10,
            Severity::Sev4 => 0,
        };
        if penalty > 0 {
            findings.push(HealthFinding {
                kind: FindingKind::CreditVariance,
                penalty,
                message: format!("runs used {variance:.1}× the baseline credits in the last 24 h"),
            });
        }
    }
    if let Some(stale) = staleness(facts, now) {
        findings.push(stale);
    }
    let lost: u32 = findings.iter().map(|f| u32::from(f.penalty)).sum();
    (100_u32.saturating_sub(lost) as u8, findings)
}

fn staleness(facts: &HealthFacts, now: DateTime<Utc>) -> Option<HealthFinding> {
    let lookback = Duration::days(LOOKBACK_DAYS);
    match facts.last_run_by {
        None => {
            // Silent for the whole lookback, though it existed before it.
            let old = facts.first_seen_at.is_some_and(|t| now - t > lookback);
            old.then(|| HealthFinding {
                kind: FindingKind::Stale,
                penalty: 50,
                message: format!("no run in the last {LOOKBACK_DAYS} days"),
            })
        }
        Some(last) if facts.runs_lookback >= 2 => {
            let usual = lookback / i32::try_from(facts.runs_lookback).unwrap_or(i32::MAX);
            let allowed = (usual * 3).max(Duration::hours(6));
            let silent = now - last;
            (silent > allowed).then(|| HealthFinding {
                kind: FindingKind::Stale,
                penalty: 40,
                message: format!(
                    "no run for {} h; it usually runs every {:.1} h",
                    silent.num_hours(),
                    usual.num_minutes() as f64 / 60.0
                ),
            })
        }
        Some(_) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioScore {
    pub scenario_id: String,
    pub name: Option<String>,
    pub score: u8,
    pub findings: Vec<HealthFinding>,
    pub anomaly_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanTrigger {
    Scheduled,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scan {
    pub id: String,
    pub tenant_id: String,
    pub trigger: ScanTrigger,
    /// The scheduled time (or the request's, for a manual scan).
    pub scheduled_for: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub scope: ScanScope,
    pub scenarios_scanned: u32,
    pub average_score: Option<f64>,
    pub below_threshold: u32,
    /// Worst first; at most [`MAX_STORED_RESULTS`].
    pub results: Vec<ScenarioScore>,
    pub results_truncated: bool,
}

/// What `run_due_scans` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DueScansReport {
    pub scans: Vec<String>,
    pub anomalies_opened: u32,
    /// Tenants whose due scan failed; it stays due and is tried again at the next tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<TenantFailure>,
}

pub(super) fn scan_sort(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn schedule_item(tenant: &str, schedule: &ScanSchedule) -> Result<Item> {
    let item = Item::new(table_keys::scan_schedule(tenant), to_json(schedule)?);
    Ok(match schedule.next_scan_at {
        Some(next) => item.with_gsi1(table_keys::scan_due(&scan_sort(next, tenant))),
        None => item,
    })
}

impl RunService {
    pub async fn scan_schedule(&self, tenant: &str) -> Result<(ScanSchedule, u64)> {
        let item = self
            .store
            .get(&table_keys::scan_schedule(tenant))
            .await?
            .ok_or_else(|| Error::NotFound("scan schedule".into()))?;
        Ok((item.parse()?, item.version))
    }

    /// Creates or replaces the schedule (audited); its next scan is computed from now.
    pub async fn set_scan_schedule(
        &self,
        tenant: &str,
        input: ScanScheduleInput,
        actor: &Actor,
    ) -> Result<ScanSchedule> {
        let cadence = input.validate()?;
        let now = self.clock.now();
        let last_scan_at = match self.scan_schedule(tenant).await {
            Ok((existing, _)) => existing.last_scan_at,
            Err(Error::NotFound(_)) => None,
            Err(other) => return Err(other),
        };
        let schedule = ScanSchedule {
            tenant_id: tenant.to_owned(),
            next_scan_at: input.enabled.then(|| cadence.next_after(now)),
            settings: input,
            last_scan_at,
            updated_at: now,
        };
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: schedule_item(tenant, &schedule)?,
                    condition: PutCondition::None,
                },
                audit::record(tenant, actor, "scan_schedule.update", "scan-schedule", now),
            ])
            .await?;
        Ok(schedule)
    }

    pub async fn delete_scan_schedule(&self, tenant: &str, actor: &Actor) -> Result<()> {
        let now = self.clock.now();
        let result = self
            .store
            .transact(vec![
                WriteOp::Delete {
                    key: table_keys::scan_schedule(tenant),
                    condition: DeleteCondition::Exists,
                },
                audit::record(tenant, actor, "scan_schedule.delete", "scan-schedule", now),
            ])
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { index: 0, .. }) => {
                Err(Error::NotFound("scan schedule".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// A scan now, with the schedule's scope (every scenario when there is no schedule).
    pub async fn scan_now(&self, tenant: &str) -> Result<Scan> {
        let settings = match self.scan_schedule(tenant).await {
            Ok((schedule, _)) => schedule.settings,
            Err(Error::NotFound(_)) => ScanScheduleInput::default(),
            Err(other) => return Err(other),
        };
        let now = self.clock.now();
        self.scan(tenant, &settings, ScanTrigger::Manual, now).await
    }

    /// Every schedule due by now: scanned once for its due time, then moved to its next time.
    /// A tick that was missed for a while scans once, not once per missed slot.
    pub async fn run_due_scans(&self) -> Result<DueScansReport> {
        let now = self.clock.now();
        let query = Query::partition(Index::Gsi1, table_keys::SCANS_DUE_PARTITION)
            .sort(SortKey::LessOrEqual(format!("{}~", scan_sort(now, ""))))
            .limit(100);
        let mut report = DueScansReport::default();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self.store.query(query.clone().after(cursor)).await?;
            for item in &page.items {
                let schedule: ScanSchedule = item.parse()?;
                let Some(due) = schedule.next_scan_at else {
                    continue;
                };
                let tenant = schedule.tenant_id.clone();
                // Each tenant's scan on its own: a failure leaves that schedule due for the
                // next tick and the other tenants' scans go on.
                let scan = match self
                    .scan(&tenant, &schedule.settings, ScanTrigger::Scheduled, due)
                    .await
                {
                    Ok(scan) => scan,
                    Err(error) => {
                        tracing::error!(tenant, %error, "a due scan failed; it is tried again at the next tick");
                        report.failed.push(TenantFailure {
                            tenant,
                            error: error.to_string(),
                        });
                        continue;
                    }
                };
                report.anomalies_opened += scan
                    .results
                    .iter()
                    .filter(|r| r.anomaly_id.is_some())
                    .count() as u32;
                report.scans.push(scan.id);
                self.advance(&tenant, schedule, item.version, due, now)
                    .await?;
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(report);
            }
        }
    }

    async fn advance(
        &self,
        tenant: &str,
        mut schedule: ScanSchedule,
        version: u64,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let cadence = schedule.settings.validate()?;
        schedule.next_scan_at = Some(cadence.next_after(due.max(now)));
        schedule.last_scan_at = Some(due);
        match self
            .store
            .put(
                schedule_item(tenant, &schedule)?,
                PutCondition::VersionEquals(version),
            )
            .await
        {
            // Changed meanwhile (a new schedule, or another tick): that version stands.
            Ok(_) | Err(StoreError::VersionConflict | StoreError::NotFound) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Scans `settings.scope` as of `at`; idempotent per tenant and `at` (anomalies, the stored
    /// scan and its announcement are each written once).
    pub async fn scan(
        &self,
        tenant: &str,
        settings: &ScanScheduleInput,
        trigger: ScanTrigger,
        at: DateTime<Utc>,
    ) -> Result<Scan> {
        let id = crate::ids::stable_id(
            "scan",
            &[tenant, &at.to_rfc3339_opts(SecondsFormat::Millis, true)],
        );
        let thresholds = self.settings(tenant).await?.severity_thresholds;
        let scenarios = self.scope_scenarios(tenant, settings).await?;
        let mut results = Vec::with_capacity(scenarios.len());
        for scenario in &scenarios {
            let facts = self.health_facts(tenant, scenario, at).await?;
            if settings.scope == ScanScope::Active && facts.runs_lookback == 0 {
                continue;
            }
            let (score, findings) = score(&facts, &thresholds, at);
            let mut result = ScenarioScore {
                scenario_id: scenario.id.clone(),
                name: scenario.name.clone(),
                score,
                findings,
                anomaly_id: None,
            };
            if score < ALERT_BELOW {
                result.anomaly_id = Some(self.open_health_anomaly(tenant, &result, at).await?);
            }
            results.push(result);
        }
        results.sort_by(|a, b| {
            a.score
                .cmp(&b.score)
                .then_with(|| a.scenario_id.cmp(&b.scenario_id))
        });
        let scanned = results.len();
        let scan = Scan {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            trigger,
            scheduled_for: at,
            finished_at: self.clock.now(),
            scope: settings.scope,
            scenarios_scanned: scanned as u32,
            average_score: (scanned > 0)
                .then(|| results.iter().map(|r| f64::from(r.score)).sum::<f64>() / scanned as f64),
            below_threshold: results.iter().filter(|r| r.score < ALERT_BELOW).count() as u32,
            results_truncated: scanned > MAX_STORED_RESULTS,
            results: results.into_iter().take(MAX_STORED_RESULTS).collect(),
        };
        let item = Item::new(
            table_keys::scan(tenant, &scan_sort(at, &id)),
            to_json(&scan)?,
        );
        let scan = match self.store.put(item, PutCondition::Absent).await {
            Ok(_) => scan,
            Err(StoreError::AlreadyExists) => {
                let stored = self
                    .store
                    .get(&table_keys::scan(tenant, &scan_sort(at, &id)))
                    .await?;
                stored
                    .ok_or_else(|| Error::Internal("scan vanished".into()))?
                    .parse()?
            }
            Err(other) => return Err(other.into()),
        };
        self.outbox.emit(tenant, completion_notice(&scan)).await?;
        Ok(scan)
    }

    /// Newest first.
    pub async fn list_scans(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Scan>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::scan(tenant, "").pk)
                    .descending()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let scans = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((scans, page.next_cursor))
    }

    async fn scope_scenarios(
        &self,
        tenant: &str,
        settings: &ScanScheduleInput,
    ) -> Result<Vec<Scenario>> {
        if settings.scope == ScanScope::Selected {
            let mut found = Vec::new();
            for id in &settings.scenario_ids {
                if let Some(scenario) = self.scenario(tenant, id).await? {
                    found.push(scenario);
                }
            }
            return Ok(found);
        }
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = self
                .list_scenarios(tenant, crate::ports::store::MAX_PAGE, cursor)
                .await?;
            all.extend(page);
            cursor = next;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// The scenario's facts from its hour counters over the lookback (one query).
    async fn health_facts(
        &self,
        tenant: &str,
        scenario: &Scenario,
        at: DateTime<Utc>,
    ) -> Result<HealthFacts> {
        let first = hour_of(at - Duration::days(LOOKBACK_DAYS));
        let query = Query::partition(
            Index::Primary,
            table_keys::scenario_hour(tenant, &scenario.id, "").pk,
        )
        .sort(SortKey::Between(first, hour_of(at)))
        .limit(crate::ports::store::MAX_PAGE);
        let page = self.store.query(query).await?;
        let day_ago = at - Duration::hours(24);
        let two_days_ago = at - Duration::hours(48);
        let mut facts = HealthFacts {
            expected_credits: scenario.baseline.as_ref().map(|b| b.expected_credits),
            first_seen_at: Some(scenario.first_seen_at),
            ..Default::default()
        };
        let mut credits_milli = 0_i64;
        for item in &page.items {
            let Some(hour) = parse_hour(&item.key.sk) else {
                continue;
            };
            let counter = |name: &str| item.counters.get(name).copied().unwrap_or(0).max(0);
            let runs = counter("runs") as u64;
            let failed = counter("failed") as u64;
            if runs == 0 {
                continue;
            }
            facts.runs_lookback += runs;
            let end = (hour + Duration::hours(1)).min(at);
            facts.last_run_by = facts.last_run_by.max(Some(end));
            if end > day_ago {
                facts.last_day.0 += runs;
                facts.last_day.1 += failed;
                credits_milli += counter("credits_milli");
            } else if end > two_days_ago {
                facts.day_before.0 += runs;
                facts.day_before.1 += failed;
            }
        }
        facts.credits_last_day = milli_to_credits(credits_milli);
        Ok(facts)
    }

    async fn open_health_anomaly(
        &self,
        tenant: &str,
        result: &ScenarioScore,
        at: DateTime<Utc>,
    ) -> Result<String> {
        let name = result.name.as_deref().unwrap_or(&result.scenario_id);
        let reasons: Vec<&str> = result.findings.iter().map(|f| f.message.as_str()).collect();
        let finding = Finding {
            rule: SCAN_HEALTH_RULE.to_owned(),
            severity: if result.score < 25 {
                Severity::Sev1
            } else {
                Severity::Sev2
            },
            title: format!("{name} scored {}/100 in the health scan", result.score),
            subject: result.scenario_id.clone(),
            occurrence: None,
            window_start: at,
            window_end: at,
            evidence: serde_json::json!({
                "score": result.score,
                "findings": result.findings,
                "summary": reasons.join("; "),
            }),
            demo: false,
        };
        Ok(self.anomalies.open(tenant, finding).await?.0.id)
    }
}

fn parse_hour(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{text}:00"), "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

fn completion_notice(scan: &Scan) -> NewNotification {
    let worst: BTreeMap<&str, u8> = scan
        .results
        .iter()
        .filter(|r| r.score < ALERT_BELOW)
        .map(|r| (r.scenario_id.as_str(), r.score))
        .collect();
    let summary = match scan.average_score {
        Some(avg) => format!(
            "{} scenario(s) scanned, average score {avg:.0}; {} below {ALERT_BELOW}.",
            scan.scenarios_scanned, scan.below_threshold
        ),
        None => "No scenarios to scan.".to_owned(),
    };
    NewNotification {
        kind: NotificationType::ScanCompleted,
        severity: if scan.below_threshold > 0 {
            Severity::Sev3
        } else {
            Severity::Sev4
        },
        title: format!(
            "Health scan {}",
            scan.scheduled_for.format("%Y-%m-%d %H:%M UTC")
        ),
        summary,
        link_ref: Some(format!("scan:{}", scan.id)),
        dedupe_key: scan.id.clone(),
        payload: serde_json::json!({"scan_id": scan.id, "below_threshold": worst}),
    }
}

#[cfg(test)]
mod tests;
