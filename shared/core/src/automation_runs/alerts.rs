//! Failure alerts: a tenant's alert settings (with per-scenario overrides) and the check made
//! after each failed run. Crossing a limit opens one `failure_threshold` anomaly per scenario and
//! window (its id is keyed by the window, so later failures in it open nothing new) and emits a
//! `threshold.exceeded` notification through the outbox.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::classify::VarianceThresholds;
use super::{Run, RunService, RunStatus, input};
use crate::anomaly::Finding;
use crate::delivery::notification::{NewNotification, NotificationType};
use crate::json::to_json;
use crate::ports::{Index, Item, PutCondition, Query, SortKey, WriteOp};
use crate::severity::Severity;
use crate::tenancy::audit::{self, Actor};
use crate::{Error, Result, table_keys};

/// The rule name of anomalies opened when a scenario fails too often.
pub const FAILURE_THRESHOLD_RULE: &str = "failure_threshold";
/// Longest alert window: 30 days.
pub const MAX_WINDOW_HOURS: u32 = 24 * 30;
/// Largest run count a limit may name.
const MAX_COUNT: u32 = 100_000;
/// Per-scenario overrides a tenant may keep.
pub const MAX_SCENARIO_OVERRIDES: usize = 500;

/// Alert when at least `rate` of the runs in the window failed, once there were `min_runs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureRate {
    /// A fraction in (0, 1]: 0.5 is half of the runs.
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub rate: f64,
    #[schema(minimum = 1, maximum = 100000)]
    pub min_runs: u32,
}

/// The limits that apply to one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRules {
    pub enabled: bool,
    pub failure_threshold: u32,
    pub time_window_hours: u32,
    pub consecutive_failures: Option<u32>,
    pub failure_rate: Option<FailureRate>,
    pub alert_on_critical: bool,
}

/// Overrides for one scenario: a field left out keeps the tenant's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100000)]
    pub failure_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 720)]
    pub time_window_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100000)]
    pub consecutive_failures: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<FailureRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_on_critical: Option<bool>,
}

/// A tenant's run-monitoring settings (`GET/PUT /api/v1/alert-settings`): when failures alert,
/// and the variance thresholds that grade each run's severity. A `PUT` replaces the whole
/// document; fields left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    pub enabled: bool,
    /// Failed runs within `time_window_hours` that alert (default 3).
    #[schema(minimum = 1, maximum = 100000)]
    pub failure_threshold: u32,
    /// Default 24.
    #[schema(minimum = 1, maximum = 720)]
    pub time_window_hours: u32,
    /// Also alert after this many failed runs in a row.
    #[schema(minimum = 1, maximum = 100000)]
    pub consecutive_failures: Option<u32>,
    /// Also alert when the window's failure rate reaches this, given enough runs.
    pub failure_rate: Option<FailureRate>,
    /// A failed run graded SEV0 (critical) alerts at once, whatever the counts.
    pub alert_on_critical: bool,
    pub severity_thresholds: VarianceThresholds,
    /// Per-scenario overrides, by scenario id.
    #[serde(deserialize_with = "overrides_as_objects")]
    pub scenarios: BTreeMap<String, AlertOverride>,
}

/// Each override read from a JSON object only (serde would also take an array of its fields in
/// order, which the schema does not document).
fn overrides_as_objects<'de, D>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, AlertOverride>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let raw =
        BTreeMap::<String, serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(id, fields)| {
            serde_json::from_value(serde_json::Value::Object(fields))
                .map(|o| (id, o))
                .map_err(D::Error::custom)
        })
        .collect()
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 3,
            time_window_hours: 24,
            consecutive_failures: None,
            failure_rate: None,
            alert_on_critical: true,
            severity_thresholds: VarianceThresholds::default(),
            scenarios: BTreeMap::new(),
        }
    }
}

impl RunSettings {
    pub fn rules_for(&self, scenario: &str) -> AlertRules {
        let o = self.scenarios.get(scenario).cloned().unwrap_or_default();
        AlertRules {
            enabled: o.enabled.unwrap_or(self.enabled),
            failure_threshold: o.failure_threshold.unwrap_or(self.failure_threshold),
            time_window_hours: o.time_window_hours.unwrap_or(self.time_window_hours),
            consecutive_failures: o.consecutive_failures.or(self.consecutive_failures),
            failure_rate: o.failure_rate.or(self.failure_rate),
            alert_on_critical: o.alert_on_critical.unwrap_or(self.alert_on_critical),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.severity_thresholds.validate()?;
        if self.scenarios.len() > MAX_SCENARIO_OVERRIDES {
            return Err(Error::invalid(
                "too_many_overrides",
                format!("at most {MAX_SCENARIO_OVERRIDES} scenario overrides"),
            ));
        }
        validate_limits(
            "",
            Some(self.failure_threshold),
            Some(self.time_window_hours),
            self.consecutive_failures,
            self.failure_rate,
        )?;
        for (id, o) in &self.scenarios {
            if !input::valid_id(id) {
                return Err(Error::invalid(
                    "invalid_field",
                    format!("scenarios: {id:?} is not a valid scenario id"),
                ));
            }
            validate_limits(
                &format!("scenarios.{id}."),
                o.failure_threshold,
                o.time_window_hours,
                o.consecutive_failures,
                o.failure_rate,
            )?;
        }
        Ok(())
    }
}

fn validate_limits(
    prefix: &str,
    failure_threshold: Option<u32>,
    time_window_hours: Option<u32>,
    consecutive_failures: Option<u32>,
    failure_rate: Option<FailureRate>,
) -> Result<()> {
    let invalid = |field: &str, rule: &str| {
        Err(Error::invalid(
            "invalid_field",
            format!("{prefix}{field} must be {rule}"),
        ))
    };
    if failure_threshold.is_some_and(|n| !(1..=MAX_COUNT).contains(&n)) {
        return invalid("failure_threshold", &format!("between 1 and {MAX_COUNT}"));
    }
    if time_window_hours.is_some_and(|h| !(1..=MAX_WINDOW_HOURS).contains(&h)) {
        return invalid(
            "time_window_hours",
            &format!("between 1 and {MAX_WINDOW_HOURS}"),
        );
    }
    if consecutive_failures.is_some_and(|n| !(1..=MAX_COUNT).contains(&n)) {
        return invalid(
            "consecutive_failures",
            &format!("between 1 and {MAX_COUNT}"),
        );
    }
    if let Some(r) = failure_rate {
        if !(r.rate.is_finite() && r.rate > 0.0 && r.rate <= 1.0) {
            return invalid("failure_rate.rate", "a fraction above 0 and at most 1");
        }
        if !(1..=MAX_COUNT).contains(&r.min_runs) {
            return invalid(
                "failure_rate.min_runs",
                &format!("between 1 and {MAX_COUNT}"),
            );
        }
    }
    Ok(())
}

/// Runs and failures counted in an alert window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub runs: u64,
    pub failed: u64,
}

/// Which limit a failed run crossed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossing {
    Critical,
    FailureCount {
        failed: u64,
        threshold: u32,
        hours: u32,
    },
    Consecutive {
        failures: u32,
    },
    FailureRate {
        rate: f64,
        runs: u64,
        threshold: f64,
    },
}

impl Crossing {
    pub fn describe(&self) -> String {
        match self {
            Crossing::Critical => "a critical (SEV0) run failed".into(),
            Crossing::FailureCount {
                failed,
                threshold,
                hours,
            } => format!("{failed} failed runs in {hours} h (threshold {threshold})"),
            Crossing::Consecutive { failures } => format!("{failures} failed runs in a row"),
            Crossing::FailureRate {
                rate,
                runs,
                threshold,
            } => format!(
                "{:.0}% of {runs} runs failed (threshold {:.0}%)",
                rate * 100.0,
                threshold * 100.0
            ),
        }
    }
}

/// The first limit a failed run crosses, if any. `latest` holds the scenario's newest runs'
/// statuses, newest first (read only when `consecutive_failures` is set).
pub fn crossing(
    rules: &AlertRules,
    run_severity: Severity,
    counts: WindowCounts,
    latest: &[RunStatus],
) -> Option<Crossing> {
    if !rules.enabled {
        return None;
    }
    if rules.alert_on_critical && run_severity == Severity::Sev0 {
        return Some(Crossing::Critical);
    }
    if counts.failed >= u64::from(rules.failure_threshold) {
        return Some(Crossing::FailureCount {
            failed: counts.failed,
            threshold: rules.failure_threshold,
            hours: rules.time_window_hours,
        });
    }
    if let Some(n) = rules.consecutive_failures {
        let in_a_row = latest
            .iter()
            .take_while(|s| **s == RunStatus::Failed)
            .count();
        if in_a_row >= n as usize {
            return Some(Crossing::Consecutive { failures: n });
        }
    }
    if let Some(limit) = rules.failure_rate
        && counts.runs >= u64::from(limit.min_runs)
        && counts.runs > 0
    {
        let rate = counts.failed as f64 / counts.runs as f64;
        if rate >= limit.rate {
            return Some(Crossing::FailureRate {
                rate,
                runs: counts.runs,
                threshold: limit.rate,
            });
        }
    }
    None
}

/// The aligned window (since the Unix epoch, UTC) holding `at`: one alert per scenario in it.
pub fn alert_window(at: DateTime<Utc>, hours: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let length = i64::from(hours.max(1)) * 3600;
    let start = at.timestamp().div_euclid(length) * length;
    let start = DateTime::from_timestamp(start, 0).unwrap_or(at);
    (start, start + Duration::seconds(length))
}

impl RunService {
    pub async fn set_settings(
        &self,
        tenant: &str,
        settings: RunSettings,
        actor: &Actor,
    ) -> Result<RunSettings> {
        settings.validate()?;
        let now = self.clock.now();
        self.settings_cache.invalidate(tenant);
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: Item::new(table_keys::run_settings(tenant), to_json(&settings)?),
                    condition: PutCondition::None,
                },
                audit::record(
                    tenant,
                    actor,
                    "alert_settings.update",
                    "alert-settings",
                    now,
                ),
            ])
            .await?;
        Ok(settings)
    }

    /// After a failed run is stored: alert if its scenario crossed a limit. Returns the
    /// `failure_threshold` anomaly's id when one was crossed.
    pub(super) async fn check_failure_alert(
        &self,
        tenant: &str,
        run: &Run,
        settings: &RunSettings,
    ) -> Result<Option<String>> {
        if run.report.status != RunStatus::Failed {
            return Ok(None);
        }
        let rules = settings.rules_for(&run.scenario_id);
        if !rules.enabled {
            return Ok(None);
        }
        let counts = self
            .window_counts(
                tenant,
                &run.scenario_id,
                run.timestamp,
                rules.time_window_hours,
            )
            .await?;
        let latest = match rules.consecutive_failures {
            Some(n) => self.latest_statuses(tenant, &run.scenario_id, n).await?,
            None => Vec::new(),
        };
        let Some(crossed) = crossing(&rules, run.classification.severity, counts, &latest) else {
            return Ok(None);
        };
        let (window_start, window_end) = alert_window(run.timestamp, rules.time_window_hours);
        let name = run
            .report
            .scenario_name
            .as_deref()
            .unwrap_or(&run.scenario_id);
        let finding = Finding {
            rule: FAILURE_THRESHOLD_RULE.to_owned(),
            severity: Severity::Sev2.min(run.classification.severity),
            title: format!("{name} is failing: {}", crossed.describe()),
            subject: run.scenario_id.clone(),
            occurrence: None,
            window_start,
            window_end,
            evidence: serde_json::json!({
                "crossing": crossed,
                "runs": counts.runs,
                "failed": counts.failed,
                "last_run_id": run.run_id,
                "failed_action_name": run.report.failed_action_name,
                "error_message": run.report.error_message,
            }),
            demo: false,
        };
        let (anomaly, created) = self.anomalies.open(tenant, finding).await?;
        if created {
            self.outbox
                .emit(
                    tenant,
                    NewNotification {
                        kind: NotificationType::ThresholdExceeded,
                        severity: anomaly.severity,
                        title: anomaly.title.clone(),
                        summary: format!(
                            "Scenario {} crossed its failure alert: {}",
                            run.scenario_id,
                            crossed.describe()
                        ),
                        link_ref: Some(format!("anomaly:{}", anomaly.id)),
                        dedupe_key: format!("threshold:{}", anomaly.id),
                        payload: serde_json::json!({
                            "anomaly_id": anomaly.id,
                            "scenario_id": run.scenario_id,
                            "crossing": crossed,
                        }),
                    },
                )
                .await?;
        }
        Ok(Some(anomaly.id))
    }

    /// Runs and failures of a scenario in the `hours` up to `at`, from its hour counters.
    async fn window_counts(
        &self,
        tenant: &str,
        scenario: &str,
        at: DateTime<Utc>,
        hours: u32,
    ) -> Result<WindowCounts> {
        let first = super::hour_of(at - Duration::hours(i64::from(hours) - 1));
        let last = super::hour_of(at);
        let query = Query::partition(
            Index::Primary,
            table_keys::scenario_hour(tenant, scenario, "").pk,
        )
        .sort(SortKey::Between(first, last))
        .limit(crate::ports::store::MAX_PAGE);
        let mut counts = WindowCounts::default();
        let mut cursor = None;
        loop {
            let page = self.store.query(query.clone().after(cursor)).await?;
            for item in &page.items {
                let counter =
                    |name: &str| item.counters.get(name).copied().unwrap_or(0).max(0) as u64;
                counts.runs += counter("runs");
                counts.failed += counter("failed");
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(counts);
            }
        }
    }

    /// Statuses of a scenario's newest `n` runs, newest first.
    async fn latest_statuses(
        &self,
        tenant: &str,
        scenario: &str,
        n: u32,
    ) -> Result<Vec<RunStatus>> {
        let page = self
            .store
            .query(
                Query::partition(
                    Index::Gsi2,
                    table_keys::scenario_run_list(tenant, scenario, "").pk,
                )
                .descending()
                .limit(n),
            )
            .await?;
        page.items
            .iter()
            .map(|item| {
                item.parse::<Run>()
                    .map(|r| r.report.status)
                    .map_err(Into::into)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
