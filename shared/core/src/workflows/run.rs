//! A workflow run as stored: where it stands in its program, the snapshot it renders from, and
//! the timeline of what each step did. Approval requests are stored beside it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::messages::Cause;
use super::program::BranchTaken;
use super::run_status::RunStatus;
use crate::json::to_json;
use crate::ports::{Item, WriteOp};
use crate::tenancy::Role;
use crate::tenancy::audit::Actor;
use crate::{Error, Result, table_keys};

/// How long a running run may go without a write before the tick takes it up again (its
/// worker is presumed gone).
pub const RUNNING_LEASE: Duration = Duration::minutes(5);

/// Why a run ended without completing, in words a person reads in the timeline.
pub mod reasons {
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const SUBJECT_DELETED: &str = "subject_deleted";
    pub const WORKFLOW_DISABLED: &str = "workflow_disabled";
    pub const WORKFLOW_DELETED: &str = "workflow_deleted";
    pub const APPROVAL_TIMED_OUT: &str = "approval_timed_out";
    pub const WORKFLOW_PAUSED_LOOP: &str = "workflow_paused_loop";
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Done,
    Failed,
    /// Failed, and the step said to go on.
    FailedContinued,
    /// A branch: its condition held (`then`) or not (`else`).
    Then,
    Else,
    /// A delay that ended.
    Delayed,
    Approved,
    Rejected,
    TimedOut,
}

/// One entry of a run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    /// The step's position in the program.
    pub pc: usize,
    /// The step's JSON path in the workflow (`$.steps[1].then[0]`).
    pub path: String,
    /// `create_task`, `http_request`, … or `if`, `delay`, `approval`.
    pub kind: String,
    pub outcome: StepOutcome,
    /// What the step did: the rendered action and what it made (ids, HTTP status).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    #[schema(value_type = Object)]
    pub detail: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tries it took (automatic retries of transient failures included).
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

impl StepRecord {
    pub fn branch(branch: BranchTaken, pc: usize, at: DateTime<Utc>) -> Self {
        StepRecord {
            pc,
            path: branch.path,
            kind: "if".into(),
            outcome: if branch.condition_held {
                StepOutcome::Then
            } else {
                StepOutcome::Else
            },
            detail: Value::Null,
            error: None,
            attempts: 1,
            at,
        }
    }
}

/// A pending approval of a run, as the run keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingApproval {
    pub id: String,
    pub approvers: Role,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowRun {
    pub run_id: String,
    pub workflow_id: String,
    /// The workflow version the run started on and keeps.
    pub version: u32,
    pub workflow_name: String,
    /// The client (or, for anomaly triggers, the anomaly's subject) the run is about.
    pub subject: String,
    /// What the run renders and decides from, taken when it started.
    #[schema(value_type = Object)]
    pub snapshot: Value,
    /// The next step of the program to do.
    pub cursor: usize,
    pub status: RunStatus,
    pub steps: Vec<StepRecord>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// When a waiting run goes on (a delay's end, or the next try of a failed action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<PendingApproval>,
    /// Tries so far of the step at `cursor`.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the run was skipped, cancelled or rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The run whose effect started this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Cause>,
}

impl WorkflowRun {
    /// Moves to `next`, refusing a move the state table does not allow.
    pub fn become_(&mut self, next: RunStatus, at: DateTime<Utc>) -> Result<()> {
        if !self.status.can_become(next) {
            return Err(Error::Conflict(format!(
                "run {} is {:?} and cannot become {:?}",
                self.run_id, self.status, next
            )));
        }
        self.status = next;
        self.updated_at = at;
        if next.is_final() {
            self.finished_at = Some(at);
            self.resume_at = None;
        }
        if next != RunStatus::AwaitingApproval {
            self.approval = None;
        }
        if next != RunStatus::Waiting {
            self.resume_at = None;
        }
        Ok(())
    }

    /// Whether a waiting run waits to try a failed step again (rather than for a delay).
    pub fn waits_for_retry(&self) -> bool {
        self.status == RunStatus::Waiting && self.attempts > 0
    }

    /// When the tick should look at the run again; None once it needs nobody.
    fn due_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            RunStatus::Running => Some(self.updated_at + RUNNING_LEASE),
            RunStatus::Waiting => self.resume_at,
            RunStatus::AwaitingApproval => self.approval.as_ref().map(|a| a.expires_at),
            _ => None,
        }
    }

    /// The analytics counters moved by the run having reached its status (`sign` −1 takes it
    /// back, for a failed run retried); none for a status that is not an outcome.
    pub fn tally(&self, tenant: &str, sign: i64) -> Option<WriteOp> {
        let counter = match self.status {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Rejected => "rejected",
            RunStatus::Skipped => "skipped",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Running | RunStatus::Waiting | RunStatus::AwaitingApproval => return None,
        };
        let mut deltas = BTreeMap::from([(counter.to_owned(), sign)]);
        if let (RunStatus::Completed, Some(finished)) = (self.status, self.finished_at) {
            let took = (finished - self.started_at).num_milliseconds();
            deltas.insert("duration_ms".to_owned(), sign * took);
        }
        let day = self.started_at.format("%Y-%m-%d").to_string();
        Some(WriteOp::Add {
            key: table_keys::workflow_day_tally(tenant, &self.workflow_id, &day),
            deltas,
        })
    }

    pub fn to_item(&self, tenant: &str) -> Result<Item> {
        let list_sort = format!("{}#{}", self.started_at.timestamp_millis(), self.run_id);
        let item = Item::new(
            table_keys::workflow_run(tenant, &self.run_id),
            to_json(self)?,
        )
        .with_gsi1(table_keys::workflow_run_list(
            tenant,
            &self.workflow_id,
            &list_sort,
        ));
        Ok(match self.due_at() {
            Some(due) => item.with_gsi2(table_keys::workflow_runs_due(
                tenant,
                status_word(self.status),
                &due_sort(due, &self.run_id),
            )),
            None => item,
        })
    }
}

pub fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Waiting => "waiting",
        RunStatus::AwaitingApproval => "awaiting_approval",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Skipped => "skipped",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Rejected => "rejected",
    }
}

/// Sort key of the due index: times sort as text (fixed-width UTC).
pub fn due_sort(due: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", due.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Nobody decided within the time-out: the run was rejected.
    Expired,
    /// The run was cancelled while it waited.
    Cancelled,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }
}

/// An approval request (`GET /api/v1/approvals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub id: String,
    pub run_id: String,
    pub workflow_id: String,
    /// The approval step's JSON path.
    pub step: String,
    pub subject: String,
    pub approvers: Role,
    pub status: ApprovalStatus,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Approval {
    pub fn to_item(&self, tenant: &str) -> Result<Item> {
        let sort = format!("{}#{}", self.requested_at.timestamp_millis(), self.id);
        Ok(
            Item::new(table_keys::approval(tenant, &self.id), to_json(self)?).with_gsi1(
                table_keys::approval_list(tenant, self.status.as_str(), &sort),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: RunStatus) -> WorkflowRun {
        let at = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        WorkflowRun {
            run_id: "wfr_1".into(),
            workflow_id: "wf_1".into(),
            version: 1,
            workflow_name: "n".into(),
            subject: "c".into(),
            snapshot: Value::Null,
            cursor: 0,
            status,
            steps: Vec::new(),
            started_at: at,
            updated_at: at,
            finished_at: None,
            resume_at: Some(at + Duration::minutes(3)),
            approval: None,
            attempts: 0,
            error: None,
            reason: None,
            caused_by: None,
        }
    }

    #[test]
    fn only_unfinished_runs_are_in_the_due_index_and_moves_follow_the_table() {
        let waiting = run(RunStatus::Waiting);
        let item = waiting.to_item("t").unwrap_or_else(|e| panic!("{e}"));
        let due = item.gsi2.map(|k| (k.pk, k.sk)).unwrap_or_default();
        assert!(due.0.ends_with("#WFDUE#waiting"));
        assert!(due.1.starts_with("2026-05-01T10:03:00.000Z#"));

        let mut done = run(RunStatus::Running);
        assert!(done.become_(RunStatus::Completed, done.updated_at).is_ok());
        assert!(done.to_item("t").is_ok_and(|i| i.gsi2.is_none()));
        assert!(done.finished_at.is_some());
        assert!(done.become_(RunStatus::Running, done.updated_at).is_err());
    }
}
