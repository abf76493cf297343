//! A scenario's health over a window: failures, timing, credits and the failure trend against
//! the window before.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::stats::{self, FailureTrend};
use super::{Run, RunService, RunStatus};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastFailure {
    pub run_id: String,
    pub timestamp: DateTime<Utc>,
    pub failed_action_name: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioMetrics {
    pub scenario_id: String,
    pub hours: u32,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub total: u64,
    pub failed: u64,
    pub failure_rate: f64,
    pub avg_execution_ms: Option<f64>,
    pub p95_execution_ms: Option<f64>,
    pub last_failure: Option<LastFailure>,
    /// This window's failure rate against the previous window of the same length (each needs
    /// at least five runs; fewer is `stable`).
    pub failure_trend: FailureTrend,
    pub credits_total: f64,
    pub credits_per_run: Option<f64>,
}

/// Longest window the metrics look at: 30 days.
pub const MAX_WINDOW_HOURS: u32 = 24 * 30;

pub fn validate_hours(hours: u32) -> Result<u32> {
    if (1..=MAX_WINDOW_HOURS).contains(&hours) {
        Ok(hours)
    } else {
        Err(Error::invalid(
            "invalid_hours",
            format!("hours must be between 1 and {MAX_WINDOW_HOURS}"),
        ))
    }
}

/// Metrics of `runs` (which may reach back before `since`: those count as the previous window).
pub fn metrics_of(
    scenario_id: &str,
    runs: &[Run],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    hours: u32,
) -> ScenarioMetrics {
    let (current, previous): (Vec<&Run>, Vec<&Run>) = runs
        .iter()
        .filter(|r| r.timestamp <= until)
        .partition(|r| r.timestamp >= since);
    let failed = |rs: &[&Run]| {
        rs.iter()
            .filter(|r| r.report.status == RunStatus::Failed)
            .count() as u64
    };
    let total = current.len() as u64;
    let failed_now = failed(&current);
    let times = stats::sorted(
        current
            .iter()
            .filter_map(|r| r.report.execution_time_ms.map(|ms| ms as f64))
            .collect(),
    );
    let credits_total: f64 = current.iter().filter_map(|r| r.report.credits_total).sum();
    let last_failure = current
        .iter()
        .filter(|r| r.report.status == RunStatus::Failed)
        .max_by_key(|r| r.timestamp)
        .map(|r| LastFailure {
            run_id: r.run_id.clone(),
            timestamp: r.timestamp,
            failed_action_name: r.report.failed_action_name.clone(),
            error_message: r.report.error_message.clone(),
        });
    ScenarioMetrics {
        scenario_id: scenario_id.to_owned(),
        hours,
        since,
        until,
        total,
        failed: failed_now,
        failure_rate: if total == 0 {
            0.0
        } else {
            failed_now as f64 / total as f64
        },
        avg_execution_ms: (!times.is_empty())
            .then(|| times.iter().sum::<f64>() / times.len() as f64),
        p95_execution_ms: stats::percentile(&times, 0.95),
        last_failure,
        failure_trend: stats::failure_trend(
            (total, failed_now),
            (previous.len() as u64, failed(&previous)),
        ),
        credits_total,
        credits_per_run: (total > 0).then(|| credits_total / total as f64),
    }
}

impl RunService {
    pub async fn metrics(
        &self,
        tenant: &str,
        scenario: &str,
        hours: u32,
    ) -> Result<ScenarioMetrics> {
        let hours = validate_hours(hours)?;
        self.get_scenario(tenant, scenario).await?;
        let until = self.clock.now();
        let since = until - Duration::hours(i64::from(hours));
        let runs = self
            .scenario_runs_since(tenant, scenario, since - Duration::hours(i64::from(hours)))
            .await?;
        Ok(metrics_of(scenario, &runs, since, until, hours))
    }

    /// Failed runs of a scenario in the last `hours`, newest first.
    pub async fn failures(&self, tenant: &str, scenario: &str, hours: u32) -> Result<Vec<Run>> {
        let hours = validate_hours(hours)?;
        self.get_scenario(tenant, scenario).await?;
        let since = self.clock.now() - Duration::hours(i64::from(hours));
        let mut runs: Vec<Run> = self
            .scenario_runs_since(tenant, scenario, since)
            .await?
            .into_iter()
            .filter(|r| r.report.status == RunStatus::Failed)
            .collect();
        runs.reverse();
        Ok(runs)
    }
}
