//! The weekly baseline update: each scenario with at least five successful runs in 30 days whose
//! credits are steady (coefficient of variation below 0.3) gets the median as its baseline.
//! Every scenario's risk figures (p99 credits, median execution time) are refreshed too.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::stats::{self, BaselineDecision};
use super::{Baseline, BaselineSource, Run, RunService, RunStatus, Scenario, ScenarioStats};
use crate::Result;
use crate::ports::Cursor;
use crate::tenancy::audit::Actor;

/// Days of runs the update learns from.
pub const BASELINE_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaselineChange {
    pub scenario_id: String,
    pub previous: Option<f64>,
    #[serde(flatten)]
    pub decision: BaselineDecision,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaselineUpdateReport {
    pub updated: Vec<BaselineChange>,
    pub unchanged: Vec<BaselineChange>,
}

/// What the update would do to `scenario` given its recent runs: the new scenario record when
/// anything changes, and the decision.
pub fn plan(
    scenario: &Scenario,
    runs: &[Run],
    now: DateTime<Utc>,
) -> (Option<Scenario>, BaselineChange) {
    let successful: Vec<f64> = runs
        .iter()
        .filter(|r| r.report.status == RunStatus::Success)
        .filter_map(|r| r.report.credits_total)
        .collect();
    let previous = scenario.baseline.as_ref().map(|b| b.expected_credits);
    let decision = if scenario
        .baseline
        .as_ref()
        .is_some_and(|b| b.source == BaselineSource::Manual)
    {
        BaselineDecision::Unchanged {
            reason: "baseline set by hand".to_owned(),
        }
    } else {
        stats::baseline_decision(&successful)
    };
    let credits = stats::sorted(successful.clone());
    let times = stats::sorted(
        runs.iter()
            .filter_map(|r| r.report.execution_time_ms.map(|ms| ms as f64))
            .collect(),
    );
    let mut next = scenario.clone();
    next.stats = (!runs.is_empty()).then(|| ScenarioStats {
        credits_p99: stats::percentile(&credits, 0.99),
        median_execution_ms: stats::median(&times),
        runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
        computed_at: now,
    });
    if let BaselineDecision::Set {
        expected_credits,
        sample_size,
        coefficient_of_variation,
    } = &decision
    {
        next.baseline = Some(Baseline {
            expected_credits: *expected_credits,
            sample_size: u32::try_from(*sample_size).unwrap_or(u32::MAX),
            coefficient_of_variation: Some(*coefficient_of_variation),
            updated_at: now,
            source: BaselineSource::Auto,
        });
    }
    // Stats alone change every week; only write when the figures move.
    let same_stats = next
        .stats
        .as_ref()
        .map(|s| (s.credits_p99, s.median_execution_ms, s.runs))
        == scenario
            .stats
            .as_ref()
            .map(|s| (s.credits_p99, s.median_execution_ms, s.runs));
    let same_baseline = next.baseline.as_ref().map(|b| b.expected_credits) == previous;
    let change = BaselineChange {
        scenario_id: scenario.id.clone(),
        previous,
        decision,
    };
    if same_stats && same_baseline {
        (None, change)
    } else {
        (Some(next), change)
    }
}

impl RunService {
    /// Updates every scenario of `tenant`; changes are audited as the system's.
    pub async fn update_baselines(&self, tenant: &str) -> Result<BaselineUpdateReport> {
        let now = self.clock.now();
        let since = now - Duration::days(BASELINE_WINDOW_DAYS);
        let mut report = BaselineUpdateReport::default();
        let mut cursor: Option<Cursor> = None;
        loop {
            let (scenarios, next) = self.list_scenarios(tenant, 100, cursor).await?;
            for scenario in scenarios {
                let (_, version) = self.get_scenario(tenant, &scenario.id).await?;
                let runs = self
                    .scenario_runs_since(tenant, &scenario.id, since)
                    .await?;
                let (updated, change) = plan(&scenario, &runs, now);
                if let Some(updated) = updated {
                    self.save_scenario(
                        tenant,
                        &updated,
                        version,
                        &Actor::System,
                        "scenario.baseline.update",
                        now,
                    )
                    .await?;
                }
                match change.decision {
                    BaselineDecision::Set { .. } => report.updated.push(change),
                    BaselineDecision::Unchanged { .. } => report.unchanged.push(change),
                }
            }
            cursor = next;
            if cursor.is_none() {
                return Ok(report);
            }
        }
    }
}
