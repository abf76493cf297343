//! What people and workflow changes do to runs: retry a failed run, cancel the runs that wait,
//! turn a workflow off (cancelling what waits).

use super::{WorkflowEngine, wake_schedule_name};
use crate::ports::{PutCondition, StoreError, WriteOp};
use crate::tenancy::audit::{self, Actor};
use crate::workflows::run::{ApprovalStatus, WorkflowRun, reasons, status_word};
use crate::workflows::run_status::RunStatus;
use crate::{Error, Result};

impl WorkflowEngine {
    /// Resumes a failed run at the step that failed (audited); earlier steps are not repeated.
    pub async fn retry(&self, tenant: &str, run_id: &str, actor: &Actor) -> Result<WorkflowRun> {
        let (mut run, version) = self
            .read_run(tenant, run_id)
            .await?
            .ok_or_else(|| Error::NotFound("workflow run".into()))?;
        if run.status != RunStatus::Failed {
            return Err(Error::Conflict(format!(
                "run {run_id} is {}; only a failed run can be retried",
                status_word(run.status)
            )));
        }
        let now = self.parts.clock.now();
        let untally = run.tally(tenant, -1);
        run.become_(RunStatus::Running, now)?;
        run.attempts = 0;
        let mut ops = vec![
            WriteOp::Put {
                item: run.to_item(tenant)?,
                condition: PutCondition::VersionEquals(version),
            },
            audit::record(tenant, actor, "workflow_run.retry", run_id, now),
        ];
        ops.extend(untally);
        let written = self.parts.store.transact(ops).await;
        match written {
            Ok(()) => {}
            Err(StoreError::TransactionCancelled { .. }) => {
                return Err(Error::Conflict(
                    "the run changed meanwhile; read it again".into(),
                ));
            }
            Err(other) => return Err(other.into()),
        }
        self.send_advance(tenant, run_id).await;
        Ok(run)
    }

    /// Cancels the runs of a workflow that wait (a delay, an approval, a retry) with `reason`;
    /// returns how many.
    pub async fn cancel_waiting(
        &self,
        tenant: &str,
        workflow_id: &str,
        reason: &str,
    ) -> Result<usize> {
        let mut cancelled = 0;
        for status in [RunStatus::Waiting, RunStatus::AwaitingApproval] {
            for (mut run, version) in self.due_runs(tenant, status, None).await? {
                if run.workflow_id != workflow_id {
                    continue;
                }
                let moved = match run.approval {
                    Some(_) => {
                        self.settle_approval(
                            tenant,
                            &mut run,
                            version,
                            ApprovalStatus::Cancelled,
                            &Actor::System,
                            Some(reason.to_owned()),
                            None,
                        )
                        .await?
                    }
                    None => {
                        let now = self.parts.clock.now();
                        run.become_(RunStatus::Cancelled, now)?;
                        run.reason = Some(reason.to_owned());
                        self.save(tenant, &run, version).await?.is_some()
                    }
                };
                if moved {
                    cancelled += 1;
                    let _ = self
                        .parts
                        .scheduler
                        .delete(&wake_schedule_name(&run.run_id, run.cursor))
                        .await;
                }
            }
        }
        Ok(cancelled)
    }
}

impl WorkflowEngine {
    /// Turns a workflow on or off (flips it when `enabled` is none; audited). Turning it off
    /// cancels its waiting runs, so nothing it started goes on while it is off.
    pub async fn set_enabled(
        &self,
        tenant: &str,
        workflow_id: &str,
        enabled: Option<bool>,
        actor: &Actor,
    ) -> Result<crate::workflows::Workflow> {
        let enabled = match enabled {
            Some(enabled) => enabled,
            None => {
                !self
                    .workflows()
                    .get(tenant, workflow_id)
                    .await?
                    .0
                    .spec
                    .enabled
            }
        };
        let workflow = self
            .workflows()
            .set_enabled(tenant, workflow_id, enabled, actor)
            .await?;
        if !enabled {
            self.cancel_waiting(tenant, workflow_id, reasons::WORKFLOW_DISABLED)
                .await?;
        }
        Ok(workflow)
    }
}
