//! Starting runs: the run's stable id, the dedupe, loop and rate guards, and the first walk.

use chrono::{DateTime, Utc};

use super::guards::GuardCheck;
use super::{NOT_STORED, StartOutcome, TriggerFire, WorkflowEngine};
use crate::Result;
use crate::ids;
use crate::ports::PutCondition;
use crate::rate::Admission;
use crate::workflows::clients::Client;
use crate::workflows::run::{WorkflowRun, reasons};
use crate::workflows::run_status::RunStatus;
use crate::workflows::service::Workflow;
use crate::workflows::simulate::{client_view, snapshot};

/// Why a run is stored as skipped instead of started.
#[derive(Debug, Clone, Copy)]
enum HeldBack {
    SubjectDeleted,
    RateLimited,
}

impl HeldBack {
    fn reason(self) -> &'static str {
        match self {
            HeldBack::SubjectDeleted => reasons::SUBJECT_DELETED,
            HeldBack::RateLimited => reasons::RATE_LIMITED,
        }
    }

    fn outcome(self, run_id: String) -> StartOutcome {
        match self {
            HeldBack::SubjectDeleted => StartOutcome::Skipped { run_id },
            HeldBack::RateLimited => StartOutcome::RateLimited { run_id },
        }
    }
}

impl WorkflowEngine {
    /// Starts a run of `workflow` for `subject`, unless a guard holds it back; then walks it as
    /// far as it goes without waiting.
    pub async fn start(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        client: Option<&Client>,
        fire: TriggerFire,
    ) -> Result<StartOutcome> {
        let now = self.parts.clock.now();
        let run_id = run_id_of(tenant, workflow, subject, &fire.key);
        let guard = if workflow.spec.dedupe_minutes > 0 {
            match self
                .check_guard(tenant, workflow, subject, &run_id, fire.at)
                .await?
            {
                GuardCheck::HeldBack(other) => {
                    return Ok(StartOutcome::Duplicate { run_id: other });
                }
                GuardCheck::Clear(condition) => Some(condition),
                GuardCheck::Redelivery => None,
            }
        } else {
            None
        };
        if let Some(cause) = &fire.caused_by
            && self.loops(tenant, workflow, subject, cause, now).await?
        {
            return Ok(StartOutcome::LoopDetected);
        }
        let fired_at = fire.at;
        let mut run = new_run(&run_id, workflow, subject, client, fire, now);
        if let Some(held_back) = self.held_back(tenant, client, now).await? {
            run.become_(RunStatus::Skipped, now)?;
            run.reason = Some(held_back.reason().into());
            self.save(tenant, &run, NOT_STORED).await?;
            return Ok(held_back.outcome(run_id));
        }
        self.start_admitted(tenant, workflow, run, guard, fired_at)
            .await
    }

    /// Whether the run is stored as skipped: its subject is deleted, or the tenant is over its
    /// run rate (a deleted subject's run takes no token).
    async fn held_back(
        &self,
        tenant: &str,
        client: Option<&Client>,
        now: DateTime<Utc>,
    ) -> Result<Option<HeldBack>> {
        if client.is_some_and(|c| c.deleted_at.is_some()) {
            return Ok(Some(HeldBack::SubjectDeleted));
        }
        Ok(matches!(
            self.run_rate.admit(tenant, now).await?,
            Admission::Refused { .. }
        )
        .then_some(HeldBack::RateLimited))
    }

    /// Claims the dedupe guard (when the workflow has one) and walks the new run.
    async fn start_admitted(
        &self,
        tenant: &str,
        workflow: &Workflow,
        run: WorkflowRun,
        guard: Option<PutCondition>,
        fired_at: DateTime<Utc>,
    ) -> Result<StartOutcome> {
        let run_id = run.run_id.clone();
        if let Some(condition) = guard
            && !self
                .claim_guard(tenant, workflow, &run.subject, &run_id, fired_at, condition)
                .await?
        {
            return Ok(StartOutcome::Duplicate { run_id });
        }
        // The same trigger again (a redelivery) finds the run it started and goes on with it.
        // A claimed guard proves the run new, so only the other cases read first.
        if guard.is_none() && self.read_run(tenant, &run_id).await?.is_some() {
            self.advance(tenant, &run_id).await?;
            return Ok(StartOutcome::Duplicate { run_id });
        }
        // The run's first write carries its first step's result (or its wait).
        self.walk(tenant, run, NOT_STORED).await?;
        Ok(StartOutcome::Started { run_id })
    }
}

/// A run's id: the same trigger occurrence of the same workflow version for the same subject is
/// always the same run.
fn run_id_of(tenant: &str, workflow: &Workflow, subject: &str, fire_key: &str) -> String {
    ids::stable_id(
        "wfr",
        &[
            tenant,
            &workflow.id,
            subject,
            &workflow.version.to_string(),
            fire_key,
        ],
    )
}

/// A run at its first step, not stored yet.
fn new_run(
    run_id: &str,
    workflow: &Workflow,
    subject: &str,
    client: Option<&Client>,
    fire: TriggerFire,
    now: DateTime<Utc>,
) -> WorkflowRun {
    WorkflowRun {
        run_id: run_id.to_owned(),
        workflow_id: workflow.id.clone(),
        version: workflow.version,
        workflow_name: workflow.spec.name.clone(),
        subject: subject.to_owned(),
        snapshot: snapshot(&client_view(client, subject), &fire.data, now),
        cursor: 0,
        status: RunStatus::Running,
        steps: Vec::new(),
        started_at: now,
        updated_at: now,
        finished_at: None,
        resume_at: None,
        approval: None,
        attempts: 0,
        error: None,
        reason: None,
        caused_by: fire.caused_by,
    }
}
