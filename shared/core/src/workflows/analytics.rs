//! Workflow analytics: runs, success rate, average duration and approvals waiting, per
//! workflow and overall, over a window.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::engine::WorkflowEngine;
use super::run::{Approval, ApprovalStatus, WorkflowRun};
use super::run_status::RunStatus;
use crate::Result;
use crate::ports::store::{MAX_PAGE, MAX_PAGES_PER_LIST, all_pages};

/// Runs of one workflow analytics read at most.
pub const MAX_RUNS_READ: usize = MAX_PAGES_PER_LIST * MAX_PAGE as usize;

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunFigures {
    pub runs: usize,
    pub completed: usize,
    pub failed: usize,
    pub rejected: usize,
    pub skipped: usize,
    pub cancelled: usize,
    /// Running, waiting or awaiting an approval.
    pub in_progress: usize,
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
    /// The workflow started more runs in the window than analytics read ([`MAX_RUNS_READ`]):
    /// its figures cover the newest of them.
    pub truncated: bool,
    #[serde(flatten)]
    pub figures: RunFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Analytics {
    pub since: DateTime<Utc>,
    /// Some workflow's figures cover only its newest runs (see `workflows[].truncated`).
    pub truncated: bool,
    pub overall: RunFigures,
    pub workflows: Vec<WorkflowFigures>,
}

/// The figures of some runs and the approvals waiting among them.
pub fn figures(runs: &[&WorkflowRun], waiting: &[&Approval], now: DateTime<Utc>) -> RunFigures {
    let count = |status: RunStatus| runs.iter().filter(|r| r.status == status).count();
    let completed = count(RunStatus::Completed);
    let failed = count(RunStatus::Failed);
    let rejected = count(RunStatus::Rejected);
    let decided = completed + failed + rejected;
    let durations: Vec<f64> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Completed)
        .filter_map(|r| {
            r.finished_at
                .map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    RunFigures {
        runs: runs.len(),
        completed,
        failed,
        rejected,
        skipped: count(RunStatus::Skipped),
        cancelled: count(RunStatus::Cancelled),
        in_progress: count(RunStatus::Running)
            + count(RunStatus::Waiting)
            + count(RunStatus::AwaitingApproval),
        success_rate: (decided > 0).then(|| completed as f64 / decided as f64),
        average_duration_seconds: (!durations.is_empty())
            .then(|| durations.iter().sum::<f64>() / durations.len() as f64),
        approvals_waiting: waiting.len(),
        oldest_approval_age_seconds: waiting
            .iter()
            .map(|a| (now - a.requested_at).num_seconds())
            .max(),
    }
}

impl WorkflowEngine {
    /// Figures of the runs started since `since`, per workflow and overall.
    pub async fn analytics(&self, tenant: &str, since: DateTime<Utc>) -> Result<Analytics> {
        let now = self.clock().now();
        let waiting = all_pages(|limit, cursor| {
            self.approvals(tenant, ApprovalStatus::Pending, limit, cursor)
        })
        .await?;
        let mut all_runs = Vec::new();
        let mut per_workflow = Vec::new();
        for workflow in self.workflows().all(tenant).await? {
            let runs = all_pages(|limit, cursor| {
                self.list_runs(tenant, &workflow.id, None, Some(since), limit, cursor)
            })
            .await?;
            per_workflow.push((workflow, runs.len()));
            all_runs.extend(runs);
        }
        let mut offset = 0;
        let mut workflows = Vec::new();
        for (workflow, count) in per_workflow {
            let runs: Vec<&WorkflowRun> = all_runs[offset..offset + count].iter().collect();
            offset += count;
            let approvals: Vec<&Approval> = waiting
                .iter()
                .filter(|a| a.workflow_id == workflow.id)
                .collect();
            workflows.push(WorkflowFigures {
                workflow_id: workflow.id,
                name: workflow.spec.name,
                truncated: count >= MAX_RUNS_READ,
                figures: figures(&runs, &approvals, now),
            });
        }
        let runs: Vec<&WorkflowRun> = all_runs.iter().collect();
        let approvals: Vec<&Approval> = waiting.iter().collect();
        Ok(Analytics {
            since,
            truncated: workflows.iter().any(|w| w.truncated),
            overall: figures(&runs, &approvals, now),
            workflows,
        })
    }
}
