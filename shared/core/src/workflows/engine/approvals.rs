//! Approvals: a run's approval step asks, people decide once, and the time-out rejects.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::walk::instruction_path;
use super::{WorkflowEngine, written_at};
use crate::delivery::notification::{NewNotification, NotificationType};
use crate::ports::{Cursor, Index, Item, PutCondition, Query, StoreError, WriteOp};
use crate::severity::Severity;
use crate::tenancy::Role;
use crate::tenancy::audit::{self, Actor};
use crate::workflows::run::{
    Approval, ApprovalStatus, PendingApproval, StepOutcome, StepRecord, WorkflowRun, reasons,
    status_word,
};
use crate::workflows::run_status::RunStatus;
use crate::{Error, Result, ids, table_keys};

/// A decision on an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl WorkflowEngine {
    pub(super) async fn request_approval(
        &self,
        tenant: &str,
        mut run: WorkflowRun,
        version: u64,
        approvers: Role,
        timeout_minutes: u32,
        path: &str,
    ) -> Result<()> {
        let now = self.parts.clock.now();
        let id = ids::stable_id("apr", &[tenant, &run.run_id, &run.cursor.to_string()]);
        let expires_at = now + Duration::minutes(i64::from(timeout_minutes));
        let approval = Approval {
            id: id.clone(),
            run_id: run.run_id.clone(),
            workflow_id: run.workflow_id.clone(),
            step: path.to_owned(),
            subject: run.subject.clone(),
            approvers,
            status: ApprovalStatus::Pending,
            requested_at: now,
            expires_at,
            decided_at: None,
            decided_by: None,
            reason: None,
        };
        run.become_(RunStatus::AwaitingApproval, now)?;
        run.approval = Some(PendingApproval {
            id: id.clone(),
            approvers,
            expires_at,
        });
        let written = self
            .parts
            .store
            .transact(vec![
                WriteOp::Put {
                    item: run.to_item(tenant)?,
                    condition: written_at(version),
                },
                WriteOp::Put {
                    item: approval.to_item(tenant)?,
                    condition: PutCondition::Absent,
                },
            ])
            .await;
        match written {
            Ok(()) => {}
            Err(StoreError::TransactionCancelled { .. }) => return Ok(()),
            Err(other) => return Err(other.into()),
        }
        self.parts
            .outbox
            .emit(tenant, approval_requested(&run, &approval))
            .await?;
        Ok(())
    }

    // ---- people and the clock moving runs on -------------------------------------------------

    /// Approves or rejects a run's pending approval (once: a second decision is a conflict).
    pub async fn decide(
        &self,
        tenant: &str,
        run_id: &str,
        decision: Decision,
        actor: &Actor,
        role: Role,
        reason: Option<String>,
    ) -> Result<WorkflowRun> {
        let (mut run, version) = self
            .read_run(tenant, run_id)
            .await?
            .ok_or_else(|| Error::NotFound("workflow run".into()))?;
        let Some(pending) = run.approval.clone() else {
            return Err(Error::Conflict(format!(
                "run {run_id} is {} and waits for no approval (an approval is decided once)",
                status_word(run.status)
            )));
        };
        if self.parts.clock.now() >= pending.expires_at {
            return Err(Error::Conflict(format!(
                "the approval expired at {}; the run will be rejected",
                pending.expires_at.to_rfc3339()
            )));
        }
        if !role.at_least(pending.approvers) {
            return Err(Error::Forbidden(format!(
                "this approval needs the {} role",
                pending.approvers.as_str()
            )));
        }
        if decision == Decision::Reject
            && reason
                .as_deref()
                .is_none_or(|r| r.chars().all(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::invalid(
                "reason_required",
                "a rejection needs a reason",
            ));
        }
        let status = match decision {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
        };
        let action = match decision {
            Decision::Approve => "workflow_run.approve",
            Decision::Reject => "workflow_run.reject",
        };
        let moved = self
            .settle_approval(
                tenant,
                &mut run,
                version,
                status,
                actor,
                reason,
                Some(action),
            )
            .await?;
        if !moved {
            return Err(Error::Conflict(
                "the approval was decided meanwhile (an approval is decided once)".into(),
            ));
        }
        if decision == Decision::Approve {
            self.send_advance(tenant, run_id).await;
        }
        Ok(run)
    }

    /// Writes the outcome of the run's pending approval and moves the run on (approved) or ends
    /// it. False when somebody decided first.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn settle_approval(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        status: ApprovalStatus,
        actor: &Actor,
        reason: Option<String>,
        audit_action: Option<&str>,
    ) -> Result<bool> {
        let Some(pending) = run.approval.clone() else {
            return Ok(false);
        };
        let now = self.parts.clock.now();
        let Some(item) = self
            .parts
            .store
            .get(&table_keys::approval(tenant, &pending.id))
            .await?
        else {
            return Err(Error::Internal(format!(
                "approval {} is missing",
                pending.id
            )));
        };
        let mut approval: Approval = item.parse()?;
        if approval.status != ApprovalStatus::Pending {
            return Ok(false);
        }
        approval.status = status;
        approval.decided_at = Some(now);
        approval.decided_by = Some(actor.clone());
        approval.reason = reason.clone();
        let program = self.program(tenant, &run.workflow_id, run.version).await?;
        let path = instruction_path(&program, run.cursor);
        run.steps.push(StepRecord {
            pc: run.cursor,
            path,
            kind: "approval".into(),
            outcome: approval_outcome(status),
            detail: json!({"approval_id": approval.id, "decided_by": actor, "reason": reason}),
            error: None,
            attempts: 1,
            at: now,
        });
        move_on_after_approval(run, status, reason, now)?;
        let mut ops = vec![
            WriteOp::Put {
                item: approval.to_item(tenant)?,
                condition: PutCondition::VersionEquals(item.version),
            },
            // The pending list entry goes; the approval's own item carries its new list key.
            WriteOp::Put {
                item: run.to_item(tenant)?,
                condition: PutCondition::VersionEquals(version),
            },
        ];
        ops.extend(run.tally(tenant, 1));
        if let Some(action) = audit_action {
            ops.push(audit::record(tenant, actor, action, &run.run_id, now));
        }
        match self.parts.store.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCancelled { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Rejects the approvals past their time-out, with a notification for each.
    pub async fn expire_approvals(&self, tenant: &str) -> Result<usize> {
        let now = self.parts.clock.now();
        let mut expired = 0;
        for (mut run, version) in self
            .due_runs(tenant, RunStatus::AwaitingApproval, Some(now))
            .await?
        {
            let Some(pending) = run.approval.clone() else {
                continue;
            };
            let moved = self
                .settle_approval(
                    tenant,
                    &mut run,
                    version,
                    ApprovalStatus::Expired,
                    &Actor::System,
                    Some("nobody decided in time".into()),
                    None,
                )
                .await?;
            if !moved {
                continue;
            }
            expired += 1;
            self.parts
                .outbox
                .emit(
                    tenant,
                    NewNotification {
                        kind: NotificationType::WorkflowNotification,
                        severity: Severity::Sev3,
                        title: format!("Approval timed out: {}", run.workflow_name),
                        summary: format!(
                            "Nobody approved run {} for {} in time; the run was rejected.",
                            run.run_id, run.subject
                        ),
                        link_ref: Some(format!("approval:{}", pending.id)),
                        dedupe_key: format!("approval-expired:{}", pending.id),
                        payload: json!({"approval_id": pending.id, "run_id": run.run_id,
                                        "workflow_id": run.workflow_id}),
                    },
                )
                .await?;
        }
        Ok(expired)
    }

    /// Approvals in one status, oldest request first.
    pub async fn approvals(
        &self,
        tenant: &str,
        status: ApprovalStatus,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Approval>, Option<Cursor>)> {
        let page = self
            .parts
            .store
            .query(
                Query::partition(
                    Index::Gsi1,
                    table_keys::approval_list(tenant, status.as_str(), "").pk,
                )
                .limit(limit)
                .after(cursor),
            )
            .await?;
        let approvals = page
            .items
            .iter()
            .map(Item::parse::<Approval>)
            .filter(|a| a.as_ref().map_or(true, |a| a.status == status))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((approvals, page.next_cursor))
    }
}

/// The timeline entry's outcome of an approval settled with `status`.
fn approval_outcome(status: ApprovalStatus) -> StepOutcome {
    match status {
        ApprovalStatus::Approved => StepOutcome::Approved,
        ApprovalStatus::Expired => StepOutcome::TimedOut,
        ApprovalStatus::Pending | ApprovalStatus::Rejected | ApprovalStatus::Cancelled => {
            StepOutcome::Rejected
        }
    }
}

/// The run past its settled approval: on to the next step when approved, ended otherwise.
fn move_on_after_approval(
    run: &mut WorkflowRun,
    status: ApprovalStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    match status {
        ApprovalStatus::Approved => {
            run.become_(RunStatus::Running, now)?;
            run.cursor += 1;
        }
        ApprovalStatus::Cancelled => {
            run.become_(RunStatus::Cancelled, now)?;
            run.reason = reason;
        }
        _ => {
            run.become_(RunStatus::Rejected, now)?;
            run.reason = match status {
                ApprovalStatus::Expired => Some(reasons::APPROVAL_TIMED_OUT.into()),
                _ => reason,
            };
        }
    }
    Ok(())
}

/// The notification asking the approvers to decide.
fn approval_requested(run: &WorkflowRun, approval: &Approval) -> NewNotification {
    let subject = run
        .snapshot
        .pointer("/client/name")
        .and_then(Value::as_str)
        .unwrap_or(&run.subject);
    let id = &approval.id;
    NewNotification {
        kind: NotificationType::ApprovalRequested,
        severity: Severity::Sev3,
        title: format!("Approval needed: {} for {subject}", run.workflow_name),
        summary: format!(
            "Run {} waits for a {} to approve or reject it before {}.",
            run.run_id,
            approval.approvers.as_str(),
            approval.expires_at.to_rfc3339()
        ),
        link_ref: Some(format!("approval:{id}")),
        dedupe_key: format!("approval:{id}"),
        payload: json!({"approval_id": id, "run_id": run.run_id,
                        "workflow_id": run.workflow_id, "step": approval.step,
                        "expires_at": approval.expires_at}),
    }
}
