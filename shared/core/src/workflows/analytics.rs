//! Workflow analytics: runs, success rate, average duration and approvals waiting, per
//! workflow and overall, over a window of days. Outcomes come from counters each run moves
//! when it reaches one (by the day it started, UTC), so the figures stay exact however many
//! runs there were; runs still in progress and approvals waiting are read as they stand.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::engine::WorkflowEngine;
use super::run::{Approval, ApprovalStatus};
use super::run_status::RunStatus;
use crate::Result;
use crate::ports::store::all_pages;
use crate::ports::{Index, Query, SortKey};
use crate::table_keys;

/// How a workflow's runs ended, summed over days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub completed: i64,
    pub failed: i64,
    pub rejected: i64,
    pub skipped: i64,
    pub cancelled: i64,
    /// Of completed runs, start to finish.
    pub duration_ms: i64,
}

impl Outcomes {
    /// Read from summed day counters.
    fn from_counters(counters: &BTreeMap<String, i64>) -> Outcomes {
        let get = |name: &str| counters.get(name).copied().unwrap_or(0);
        Outcomes {
            completed: get("completed"),
            failed: get("failed"),
            rejected: get("rejected"),
            skipped: get("skipped"),
            cancelled: get("cancelled"),
            duration_ms: get("duration_ms"),
        }
    }
}

/// Adds one set of counters into running totals.
fn sum_into(totals: &mut BTreeMap<String, i64>, counters: &BTreeMap<String, i64>) {
    for (name, value) in counters {
        *totals.entry(name.clone()).or_default() += value;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunFigures {
    pub runs: i64,
    pub completed: i64,
    pub failed: i64,
    pub rejected: i64,
    pub skipped: i64,
    pub cancelled: i64,
    /// Running, waiting or awaiting an approval.
    pub in_progress: i64,
    /// Completed ÷ (completed + failed + rejected); none before any of those.
    pub success_rate: Option<f64>,
    /// Of completed runs, start to finish.
    pub average_duration_seconds: Option<f64>,
    pub approvals_waiting: usize,
    /// Age of the oldest approval still waiting.
    pub oldest_approval_age_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkflowFigures {
    pub workflow_id: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: RunFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    /// The first day counted (runs are counted by the day they started, UTC).
    pub since: DateTime<Utc>,
    pub overall: RunFigures,
    pub workflows: Vec<WorkflowFigures>,
}

/// The figures of some outcomes, runs in progress and approvals waiting.
pub fn figures(
    outcomes: Outcomes,
    in_progress: i64,
    waiting: &[&Approval],
    now: DateTime<Utc>,
) -> RunFigures {
    let decided = outcomes.completed + outcomes.failed + outcomes.rejected;
    RunFigures {
        runs: outcomes.completed
            + outcomes.failed
            + outcomes.rejected
            + outcomes.skipped
            + outcomes.cancelled
            + in_progress,
        completed: outcomes.completed,
        failed: outcomes.failed,
        rejected: outcomes.rejected,
        skipped: outcomes.skipped,
        cancelled: outcomes.cancelled,
        in_progress,
        success_rate: (decided > 0).then(|| outcomes.completed as f64 / decided as f64),
        average_duration_seconds: (outcomes.completed > 0)
            .then(|| outcomes.duration_ms as f64 / 1000.0 / outcomes.completed as f64),
        approvals_waiting: waiting.len(),
        oldest_approval_age_seconds: waiting
            .iter()
            .map(|a| (now - a.requested_at).num_seconds())
            .max(),
    }
}

impl WorkflowEngine {
    /// Figures of the runs started in the last `days` days (today included), per workflow and
    /// overall.
    pub async fn analytics(&self, tenant: &str, days: u32) -> Result<Analytics> {
        let now = self.clock().now();
        let first_day = (now - Duration::days(i64::from(days.max(1)) - 1)).date_naive();
        let since = first_day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let waiting = all_pages(|limit, cursor| {
            self.approvals(tenant, ApprovalStatus::Pending, limit, cursor)
        })
        .await?;
        let mut in_progress: BTreeMap<String, i64> = BTreeMap::new();
        for status in [
            RunStatus::Running,
            RunStatus::Waiting,
            RunStatus::AwaitingApproval,
        ] {
            for (run, _) in self.due_runs(tenant, status, None).await? {
                if run.started_at >= since {
                    *in_progress.entry(run.workflow_id).or_default() += 1;
                }
            }
        }
        let (mut overall_counters, mut overall_running) = (BTreeMap::new(), 0);
        let mut workflows = Vec::new();
        for workflow in self.workflows().all(tenant).await? {
            let partition = table_keys::workflow_day_tally(tenant, &workflow.id, "").pk;
            let days = self
                .store()
                .query(
                    Query::partition(Index::Primary, partition)
                        .sort(SortKey::GreaterOrEqual(first_day.to_string()))
                        .limit(crate::ports::store::MAX_PAGE),
                )
                .await?;
            let mut counters = BTreeMap::new();
            for day in &days.items {
                sum_into(&mut counters, &day.counters);
            }
            sum_into(&mut overall_counters, &counters);
            let outcomes = Outcomes::from_counters(&counters);
            let running = in_progress.get(&workflow.id).copied().unwrap_or(0);
            let approvals: Vec<&Approval> = waiting
                .iter()
                .filter(|a| a.workflow_id == workflow.id)
                .collect();
            overall_running += running;
            workflows.push(WorkflowFigures {
                workflow_id: workflow.id,
                name: workflow.spec.name,
                figures: figures(outcomes, running, &approvals, now),
            });
        }
        let approvals: Vec<&Approval> = waiting.iter().collect();
        Ok(Analytics {
            since,
            overall: figures(
                Outcomes::from_counters(&overall_counters),
                overall_running,
                &approvals,
                now,
            ),
            workflows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_counts_decided_runs_and_duration_completed_ones() {
        let now = Utc::now();
        let outcomes = Outcomes {
            completed: 3,
            failed: 1,
            rejected: 0,
            skipped: 5,
            cancelled: 1,
            duration_ms: 4_500,
        };
        let f = figures(outcomes, 2, &[], now);
        assert_eq!(f.runs, 12);
        assert_eq!(f.success_rate, Some(0.75));
        assert_eq!(f.average_duration_seconds, Some(1.5));
        assert_eq!(f.oldest_approval_age_seconds, None);
        let none = figures(Outcomes::default(), 0, &[], now);
        assert_eq!((none.runs, none.success_rate), (0, None));
    }
}
