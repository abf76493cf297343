//! Walking a run through its program one step at a time: each step kind has its own function,
//! and each returns whether the walk goes on (and at which stored version) or stops there.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{MAX_ATTEMPTS, WorkflowEngine, written_at};
use crate::Result;
use crate::ports::StoreError;
use crate::ports::WriteOp;
use crate::workflows::actions::StepError;
use crate::workflows::definition::{Action, ActionStep};
use crate::workflows::program::{BranchTaken, Instruction, Next, Program};
use crate::workflows::run::{StepOutcome, StepRecord, WorkflowRun, reasons};
use crate::workflows::run_status::RunStatus;

/// Where a walk stands after one step.
enum Walked {
    /// The next step follows; the run is stored at this version.
    On(u64),
    /// The run waits, ended, or another worker moved it on.
    Stopped,
}

impl Walked {
    /// After a write: go on from the new version, or stop where another worker won.
    fn after_save(saved: Option<u64>) -> Self {
        saved.map_or(Walked::Stopped, Walked::On)
    }
}

/// A step of the program and where it stands in the run's timeline.
struct At<'p> {
    pc: usize,
    path: &'p str,
}

impl WorkflowEngine {
    /// Reads a run and goes on with it if it can go on now (a redelivered message, a delay that
    /// ended, a stale running run).
    pub async fn advance(&self, tenant: &str, run_id: &str) -> Result<()> {
        let Some((mut run, version)) = self.read_run(tenant, run_id).await? else {
            return Ok(());
        };
        let now = self.parts.clock.now();
        match run.status {
            RunStatus::Running => self.walk(tenant, run, version).await,
            RunStatus::Waiting => {
                let due = run.resume_at.unwrap_or(now);
                if due > now {
                    // Early (a queue delay is at most 15 minutes): come back when it is due.
                    return self.wake_at(tenant, &run, due).await;
                }
                let delayed = !run.waits_for_retry();
                run.become_(RunStatus::Running, now)?;
                if delayed {
                    let program = self.program(tenant, &run.workflow_id, run.version).await?;
                    if let Some(record) = delay_record(&program, &run, now) {
                        run.steps.push(record);
                    }
                    run.cursor += 1;
                }
                self.walk(tenant, run, version).await
            }
            _ => Ok(()),
        }
    }

    /// Writes the run if nobody else moved it since `version`; None when somebody did (their
    /// write wins and this worker stops).
    pub(super) async fn save(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        version: u64,
    ) -> Result<Option<u64>> {
        let item = run.to_item(tenant)?;
        // A run reaching an outcome moves its workflow's analytics counters in the same write.
        // (Every save starts from a status that is not an outcome: outcomes are final, and a
        // failed run is only moved on by `retry`.)
        let Some(tally) = run.tally(tenant, 1) else {
            return match self.parts.store.put(item, written_at(version)).await {
                Ok(v) => Ok(Some(v)),
                Err(StoreError::VersionConflict | StoreError::AlreadyExists) => {
                    tracing::info!(run_id = %run.run_id, "run moved on elsewhere; stopping here");
                    Ok(None)
                }
                Err(other) => Err(other.into()),
            };
        };
        let written = self
            .parts
            .store
            .transact(vec![
                WriteOp::Put {
                    item,
                    condition: written_at(version),
                },
                tally,
            ])
            .await;
        match written {
            // The run's final write: nobody moves it on, so its version is not needed again.
            Ok(()) => Ok(Some(version + 1)),
            Err(StoreError::TransactionCancelled { .. }) => {
                tracing::info!(run_id = %run.run_id, "run moved on elsewhere; stopping here");
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Runs steps from the run's cursor until it must wait or ends. `version` is the stored
    /// version of `run` ([`NOT_STORED`] for a run just started); every write is conditional on
    /// it.
    pub(super) async fn walk(
        &self,
        tenant: &str,
        mut run: WorkflowRun,
        mut version: u64,
    ) -> Result<()> {
        let program = self.program(tenant, &run.workflow_id, run.version).await?;
        if self.subject_gone_on_resume(tenant, &run).await? {
            let now = self.parts.clock.now();
            return self
                .skip_deleted_subject(tenant, &mut run, version, now)
                .await;
        }
        loop {
            let now = self.parts.clock.now();
            let (branches, next) = program.next(run.cursor, &run.snapshot);
            record_branches(&program, &mut run, branches, now);
            let walked = match next {
                Next::Finished => {
                    self.end(tenant, &mut run, version, RunStatus::Completed, now)
                        .await?;
                    Walked::Stopped
                }
                Next::Delay { pc, minutes, path } => {
                    let at = At { pc, path };
                    self.delay(tenant, &mut run, version, at, minutes, now)
                        .await?
                }
                Next::Approval {
                    pc,
                    approvers,
                    timeout_minutes,
                    path,
                } => {
                    run.cursor = pc;
                    return self
                        .request_approval(tenant, run, version, approvers, timeout_minutes, path)
                        .await;
                }
                Next::Act { pc, step, path } => {
                    let at = At { pc, path };
                    self.act(tenant, &program, &mut run, version, at, step)
                        .await?
                }
            };
            match walked {
                Walked::On(stored) => version = stored,
                Walked::Stopped => return Ok(()),
            }
        }
    }

    /// Whether a run that resumes after a wait lost its subject meanwhile.
    async fn subject_gone_on_resume(&self, tenant: &str, run: &WorkflowRun) -> Result<bool> {
        let resuming = run.cursor > 0 || !run.steps.is_empty();
        if !resuming {
            return Ok(false);
        }
        Ok(self
            .clients
            .find(tenant, &run.subject)
            .await?
            .is_some_and(|client| client.deleted_at.is_some()))
    }

    /// Ends the run as skipped: its subject was deleted.
    async fn skip_deleted_subject(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        run.reason = Some(reasons::SUBJECT_DELETED.into());
        self.end(tenant, run, version, RunStatus::Skipped, now)
            .await
    }

    /// Ends the run in `status` with its last write.
    async fn end(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        status: RunStatus,
        now: DateTime<Utc>,
    ) -> Result<()> {
        run.become_(status, now)?;
        self.save(tenant, run, version).await?;
        Ok(())
    }

    /// A delay step: a zero delay is passed at once; any other makes the run wait.
    async fn delay(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        at: At<'_>,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<Walked> {
        run.cursor = at.pc;
        if minutes == 0 {
            run.steps.push(delay_done(at.pc, at.path, 0, now));
            run.cursor = at.pc + 1;
            return Ok(Walked::On(version));
        }
        let due = now + Duration::minutes(i64::from(minutes));
        run.attempts = 0;
        self.wait_until(tenant, run, version, due, now).await
    }

    /// Stores the run as waiting until `due` and arranges its wake-up.
    async fn wait_until(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Walked> {
        run.become_(RunStatus::Waiting, now)?;
        run.resume_at = Some(due);
        self.save(tenant, run, version).await?;
        self.wake_at(tenant, run, due).await?;
        Ok(Walked::Stopped)
    }

    /// An action step: runs it, then records what came of it.
    async fn act(
        &self,
        tenant: &str,
        program: &Program,
        run: &mut WorkflowRun,
        version: u64,
        at: At<'_>,
        step: &ActionStep,
    ) -> Result<Walked> {
        run.cursor = at.pc;
        let attempts = run.attempts + 1;
        let result = self.parts.actions.run(tenant, run, at.pc, step).await;
        let now = self.parts.clock.now();
        let record = |outcome, detail, error| StepRecord {
            pc: at.pc,
            path: at.path.to_owned(),
            kind: action_kind(&step.action),
            outcome,
            detail,
            error,
            attempts,
            at: now,
        };
        match result {
            Ok(detail) => {
                let done = record(StepOutcome::Done, detail, None);
                self.step_done(tenant, program, run, version, done, now)
                    .await
            }
            Err(StepError::SubjectGone) => {
                self.skip_deleted_subject(tenant, run, version, now).await?;
                Ok(Walked::Stopped)
            }
            Err(StepError::Transient(error)) if attempts < MAX_ATTEMPTS => {
                // Back off and try the same step again.
                let due = now + Duration::seconds(30 * i64::from(4_u32.pow(attempts - 1)));
                run.attempts = attempts;
                run.error = Some(error);
                self.wait_until(tenant, run, version, due, now).await
            }
            Err(StepError::Transient(error) | StepError::Permanent(error)) => {
                let go_on = step.continue_on_failure;
                let outcome = if go_on {
                    StepOutcome::FailedContinued
                } else {
                    StepOutcome::Failed
                };
                let failed = record(outcome, Value::Null, Some(error));
                self.step_failed(tenant, run, version, failed, go_on, now)
                    .await
            }
        }
    }

    /// Records a step that was done; the step's write also ends the run when nothing follows.
    async fn step_done(
        &self,
        tenant: &str,
        program: &Program,
        run: &mut WorkflowRun,
        version: u64,
        record: StepRecord,
        now: DateTime<Utc>,
    ) -> Result<Walked> {
        run.cursor = record.pc + 1;
        run.steps.push(record);
        run.attempts = 0;
        run.error = None;
        run.updated_at = now;
        let (branches, next) = program.next(run.cursor, &run.snapshot);
        if next == Next::Finished {
            record_branches(program, run, branches, now);
            self.end(tenant, run, version, RunStatus::Completed, now)
                .await?;
            return Ok(Walked::Stopped);
        }
        Ok(Walked::after_save(self.save(tenant, run, version).await?))
    }

    /// Records a step that failed for good: the run goes on past it when the step says so, and
    /// fails there otherwise.
    async fn step_failed(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        record: StepRecord,
        go_on: bool,
        now: DateTime<Utc>,
    ) -> Result<Walked> {
        let pc = record.pc;
        run.error = record.error.clone();
        run.steps.push(record);
        run.attempts = 0;
        run.updated_at = now;
        if go_on {
            run.cursor = pc + 1;
            return Ok(Walked::after_save(self.save(tenant, run, version).await?));
        }
        self.end(tenant, run, version, RunStatus::Failed, now)
            .await?;
        Ok(Walked::Stopped)
    }
}

/// The timeline entries of the branches taken on the way to the next step.
fn record_branches(
    program: &Program,
    run: &mut WorkflowRun,
    branches: Vec<BranchTaken>,
    now: DateTime<Utc>,
) {
    for branch in branches {
        let pc = branch_pc(program, &branch.path);
        run.steps.push(StepRecord::branch(branch, pc, now));
    }
}

fn action_kind(action: &Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "action".into())
}

fn delay_done(pc: usize, path: &str, minutes: u32, at: DateTime<Utc>) -> StepRecord {
    StepRecord {
        pc,
        path: path.to_owned(),
        kind: "delay".into(),
        outcome: StepOutcome::Delayed,
        detail: json!({"minutes": minutes}),
        error: None,
        attempts: 1,
        at,
    }
}

/// The timeline entry of the delay a waiting run is at, once it ended.
fn delay_record(program: &Program, run: &WorkflowRun, now: DateTime<Utc>) -> Option<StepRecord> {
    match program.instructions.get(run.cursor) {
        Some(Instruction::Delay { minutes, path }) => {
            Some(delay_done(run.cursor, path, *minutes, now))
        }
        _ => None,
    }
}

pub(super) fn instruction_path(program: &Program, pc: usize) -> String {
    match program.instructions.get(pc) {
        Some(
            Instruction::Act { path, .. }
            | Instruction::Branch { path, .. }
            | Instruction::Delay { path, .. }
            | Instruction::Approval { path, .. },
        ) => path.clone(),
        _ => String::new(),
    }
}

fn branch_pc(program: &Program, path: &str) -> usize {
    program
        .instructions
        .iter()
        .position(|i| matches!(i, Instruction::Branch { path: p, .. } if p == path))
        .unwrap_or_default()
}
