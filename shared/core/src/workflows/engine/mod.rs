//! The run engine: starts runs when triggers hold (with the duplicate, loop and rate guards),
//! walks each run through its program one step at a time, and moves runs on when a delay ends,
//! an approval is decided, a failed step is retried or the workflow is switched off.
//!
//! Each step's result is written with a conditional write on the run's version before the next
//! step begins, so two workers never both move a run on. A step's side effect carries a key made
//! of the run and the step (record ids, notification dedupe keys, anomaly occurrences, webhook
//! ids), so a step done again after a crash between the effect and the write repeats nothing.

mod approvals;
mod guards;

pub use approvals::Decision;

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use guards::GuardCheck;

use super::actions::{ActionRunner, StepError};
use super::clients::{Client, ClientService};
use super::messages::{Cause, RunMessage};
use super::program::{Next, Program};
use super::run::{
    ApprovalStatus, StepOutcome, StepRecord, WorkflowRun, due_sort, reasons, status_word,
};
use super::run_status::RunStatus;
use super::service::{Workflow, WorkflowService};
use super::simulate::{client_view, snapshot};
use crate::anomaly::AnomalyService;
use crate::cache::TtlCache;
use crate::delivery::outbox::OutboxService;
use crate::json::to_json;
use crate::ports::{
    Cursor, Index, ItemStore, PutCondition, Query, Queue, Schedule, ScheduleExpression,
    ScheduleTarget, Scheduler, SortKey, StoreError, WriteOp,
};
use crate::rate::{Admission, Rate, SharedBucket};
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, ids, keys};

/// Tries of a step that fails for a transient reason before the run halts there.
pub const MAX_ATTEMPTS: u32 = 3;

/// Knobs of the engine, from configuration.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// Runs a tenant may start per minute (token bucket; bursts up to the same number).
    pub runs_per_minute: NonZeroU32,
    /// Runs one workflow may start for one subject in an hour because of workflow effects
    /// before it is paused as a loop.
    pub loop_bound: u32,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            runs_per_minute: NonZeroU32::new(6_000).expect("6000 is not zero"),
            loop_bound: 5,
        }
    }
}

/// What starting a run came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StartOutcome {
    Started {
        run_id: String,
    },
    /// Another trigger for the same subject started a run within the workflow's dedupe window.
    Duplicate {
        run_id: String,
    },
    /// The tenant is over its runs per minute; the run is stored as skipped.
    RateLimited {
        run_id: String,
    },
    /// The workflow kept re-triggering itself and was paused.
    LoopDetected,
    /// The subject was deleted; the run is stored as skipped.
    Skipped {
        run_id: String,
    },
}

/// The trigger that starts a run: what `{{trigger.*}}` shows, and what tells it apart from a
/// redelivery of itself.
#[derive(Debug, Clone)]
pub struct TriggerFire {
    pub data: Value,
    /// Stable per trigger occurrence (an event id, a schedule slot).
    pub key: String,
    pub at: DateTime<Utc>,
    pub caused_by: Option<Cause>,
}

/// A workflow version with its compiled program; versions never change, so they are cached.
type Compiled = Arc<(Workflow, Program)>;

pub struct WorkflowEngine {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    workflows: WorkflowService,
    clients: ClientService,
    anomalies: Arc<AnomalyService>,
    outbox: Arc<OutboxService>,
    queue: Arc<dyn Queue>,
    scheduler: Arc<dyn Scheduler>,
    actions: ActionRunner,
    settings: WorkflowSettings,
    programs: TtlCache<Compiled>,
    /// Each tenant's run starts, shared by every process.
    run_rate: SharedBucket,
}

pub struct EngineParts {
    pub store: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
    pub anomalies: Arc<AnomalyService>,
    pub outbox: Arc<OutboxService>,
    pub queue: Arc<dyn Queue>,
    pub scheduler: Arc<dyn Scheduler>,
    pub actions: ActionRunner,
    pub settings: WorkflowSettings,
}

impl WorkflowEngine {
    pub fn new(parts: EngineParts) -> Self {
        let EngineParts {
            store,
            clock,
            anomalies,
            outbox,
            queue,
            scheduler,
            actions,
            settings,
        } = parts;
        Self {
            workflows: WorkflowService::new(store.clone(), clock.clone(), actions.egress.clone()),
            clients: ClientService::new(store.clone(), clock.clone()),
            programs: TtlCache::new(
                clock.clone(),
                std::time::Duration::from_secs(24 * 3600),
                10_000,
            ),
            run_rate: SharedBucket::new(
                store.clone(),
                Rate::per_minute(settings.runs_per_minute),
                keys::workflow_rate,
            ),
            store,
            clock,
            anomalies,
            outbox,
            queue,
            scheduler,
            actions,
            settings,
        }
    }

    async fn compiled(&self, tenant: &str, workflow_id: &str, version: u32) -> Result<Compiled> {
        let key = format!("{tenant}/{workflow_id}/{version}");
        if let Some(hit) = self.programs.get(&key) {
            return Ok(hit);
        }
        let workflow = self.workflows.version(tenant, workflow_id, version).await?;
        let program = Program::of(&workflow.spec);
        let compiled = Arc::new((workflow, program));
        self.programs.put(key, compiled.clone());
        Ok(compiled)
    }

    // ---- starting runs -----------------------------------------------------------------------

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
        let now = self.clock.now();
        let run_id = ids::stable_id(
            "wfr",
            &[
                tenant,
                &workflow.id,
                subject,
                &workflow.version.to_string(),
                &fire.key,
            ],
        );
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
        let mut run = WorkflowRun {
            run_id: run_id.clone(),
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
        };
        let deleted = client.is_some_and(|c| c.deleted_at.is_some());
        let limited = !deleted
            && matches!(
                self.run_rate.admit(tenant, now).await?,
                Admission::Refused { .. }
            );
        let outcome = if deleted {
            run.become_(RunStatus::Skipped, now)?;
            run.reason = Some(reasons::SUBJECT_DELETED.into());
            StartOutcome::Skipped {
                run_id: run_id.clone(),
            }
        } else if limited {
            run.become_(RunStatus::Skipped, now)?;
            run.reason = Some(reasons::RATE_LIMITED.into());
            StartOutcome::RateLimited {
                run_id: run_id.clone(),
            }
        } else {
            if let Some(condition) = guard
                && !self
                    .claim_guard(tenant, workflow, subject, &run_id, fire.at, condition)
                    .await?
            {
                return Ok(StartOutcome::Duplicate { run_id });
            }
            StartOutcome::Started {
                run_id: run_id.clone(),
            }
        };
        if matches!(outcome, StartOutcome::Started { .. }) {
            // The same trigger again (a redelivery) finds the run it started and goes on with it.
            // A claimed guard proves the run new, so only the other cases read first.
            if guard.is_none() && self.read_run(tenant, &run_id).await?.is_some() {
                self.advance(tenant, &run_id).await?;
                return Ok(StartOutcome::Duplicate { run_id });
            }
            // The run's first write carries its first step's result (or its wait).
            self.walk(tenant, run, NOT_STORED).await?;
            return Ok(outcome);
        }
        self.save(tenant, &run, NOT_STORED).await?;
        Ok(outcome)
    }

    // ---- walking runs ------------------------------------------------------------------------

    /// Reads a run and goes on with it if it can go on now (a redelivered message, a delay that
    /// ended, a stale running run).
    pub async fn advance(&self, tenant: &str, run_id: &str) -> Result<()> {
        let Some((mut run, version)) = self.read_run(tenant, run_id).await? else {
            return Ok(());
        };
        let now = self.clock.now();
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
                    let compiled = self.compiled(tenant, &run.workflow_id, run.version).await?;
                    if let Some(record) = delay_record(&compiled.1, &run, now) {
                        run.steps.push(record);
                    }
                    run.cursor += 1;
                }
                self.walk(tenant, run, version).await
            }
            _ => Ok(()),
        }
    }

    /// Runs steps from the run's cursor until it must wait or ends. `version` is the stored
    /// version of `run` ([`NOT_STORED`] for a run just started); every write is conditional on
    /// it.
    async fn walk(&self, tenant: &str, mut run: WorkflowRun, mut version: u64) -> Result<()> {
        let compiled = self.compiled(tenant, &run.workflow_id, run.version).await?;
        let program = &compiled.1;
        // A run that resumes after a wait first checks its subject is still there.
        let resuming = run.cursor > 0 || !run.steps.is_empty();
        if resuming
            && let Some(client) = self.clients.find(tenant, &run.subject).await?
            && client.deleted_at.is_some()
        {
            let now = self.clock.now();
            run.become_(RunStatus::Skipped, now)?;
            run.reason = Some(reasons::SUBJECT_DELETED.into());
            self.save(tenant, &run, version).await?;
            return Ok(());
        }
        loop {
            let now = self.clock.now();
            let (branches, next) = program.next(run.cursor, &run.snapshot);
            for branch in branches {
                let pc = branch_pc(program, &branch.path);
                run.steps.push(StepRecord::branch(branch, pc, now));
            }
            match next {
                Next::Finished => {
                    run.become_(RunStatus::Completed, now)?;
                    self.save(tenant, &run, version).await?;
                    return Ok(());
                }
                Next::Delay { pc, minutes, path } => {
                    run.cursor = pc;
                    if minutes == 0 {
                        run.steps.push(delay_done(pc, path, 0, now));
                        run.cursor = pc + 1;
                        continue;
                    }
                    let due = now + Duration::minutes(i64::from(minutes));
                    run.become_(RunStatus::Waiting, now)?;
                    run.resume_at = Some(due);
                    run.attempts = 0;
                    self.save(tenant, &run, version).await?;
                    return self.wake_at(tenant, &run, due).await;
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
                    run.cursor = pc;
                    let attempts = run.attempts + 1;
                    let kind = action_kind(&step.action);
                    let result = self.actions.run(tenant, &run, pc, step).await;
                    let now = self.clock.now();
                    match result {
                        Ok(detail) => {
                            run.steps.push(StepRecord {
                                pc,
                                path: path.to_owned(),
                                kind,
                                outcome: StepOutcome::Done,
                                detail,
                                error: None,
                                attempts,
                                at: now,
                            });
                            run.cursor = pc + 1;
                            run.attempts = 0;
                            run.error = None;
                            run.updated_at = now;
                            // The step's write also ends the run when nothing follows.
                            let (branches, next) = program.next(run.cursor, &run.snapshot);
                            if next == Next::Finished {
                                for branch in branches {
                                    let pc = branch_pc(program, &branch.path);
                                    run.steps.push(StepRecord::branch(branch, pc, now));
                                }
                                run.become_(RunStatus::Completed, now)?;
                                self.save(tenant, &run, version).await?;
                                return Ok(());
                            }
                            version = match self.save(tenant, &run, version).await? {
                                Some(v) => v,
                                None => return Ok(()),
                            };
                        }
                        Err(StepError::SubjectGone) => {
                            run.become_(RunStatus::Skipped, now)?;
                            run.reason = Some(reasons::SUBJECT_DELETED.into());
                            self.save(tenant, &run, version).await?;
                            return Ok(());
                        }
                        Err(StepError::Transient(error)) if attempts < MAX_ATTEMPTS => {
                            // Back off and try the same step again.
                            let due =
                                now + Duration::seconds(30 * i64::from(4_u32.pow(attempts - 1)));
                            run.become_(RunStatus::Waiting, now)?;
                            run.resume_at = Some(due);
                            run.attempts = attempts;
                            run.error = Some(error);
                            self.save(tenant, &run, version).await?;
                            return self.wake_at(tenant, &run, due).await;
                        }
                        Err(StepError::Transient(error) | StepError::Permanent(error)) => {
                            let go_on = step.continue_on_failure;
                            run.steps.push(StepRecord {
                                pc,
                                path: path.to_owned(),
                                kind,
                                outcome: if go_on {
                                    StepOutcome::FailedContinued
                                } else {
                                    StepOutcome::Failed
                                },
                                detail: Value::Null,
                                error: Some(error.clone()),
                                attempts,
                                at: now,
                            });
                            run.error = Some(error);
                            run.attempts = 0;
                            run.updated_at = now;
                            if go_on {
                                run.cursor = pc + 1;
                                version = match self.save(tenant, &run, version).await? {
                                    Some(v) => v,
                                    None => return Ok(()),
                                };
                                continue;
                            }
                            run.become_(RunStatus::Failed, now)?;
                            self.save(tenant, &run, version).await?;
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Writes the run if nobody else moved it since `version`; None when somebody did (their
    /// write wins and this worker stops).
    async fn save(&self, tenant: &str, run: &WorkflowRun, version: u64) -> Result<Option<u64>> {
        let item = run.to_item(tenant)?;
        // A run reaching an outcome moves its workflow's analytics counters in the same write.
        // (Every save starts from a status that is not an outcome: outcomes are final, and a
        // failed run is only moved on by `retry`.)
        let Some(tally) = run.tally(tenant, 1) else {
            return match self.store.put(item, written_at(version)).await {
                Ok(v) => Ok(Some(v)),
                Err(StoreError::VersionConflict | StoreError::AlreadyExists) => {
                    tracing::info!(run_id = %run.run_id, "run moved on elsewhere; stopping here");
                    Ok(None)
                }
                Err(other) => Err(other.into()),
            };
        };
        let written = self
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

    /// Makes sure a waiting run is looked at when `due`: a queue delay up to 15 minutes, a
    /// one-time schedule beyond. (The tick also resumes due runs, should either be lost.)
    async fn wake_at(&self, tenant: &str, run: &WorkflowRun, due: DateTime<Utc>) -> Result<()> {
        let message = to_json(&RunMessage::Advance {
            tenant_id: tenant.to_owned(),
            run_id: run.run_id.clone(),
        })?;
        let wait = (due - self.clock.now()).to_std().unwrap_or_default();
        let sent = if wait <= crate::ports::queue::MAX_DELAY {
            self.queue
                .send(&message, wait)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            let schedule = Schedule {
                name: wake_schedule_name(&run.run_id, run.cursor),
                expression: ScheduleExpression::At { at: due },
                target: ScheduleTarget::Workflows,
                payload: message,
            };
            self.scheduler
                .upsert(&schedule)
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(error) = sent {
            // The run is stored as waiting; the tick picks it up when due.
            tracing::warn!(run_id = %run.run_id, %error, "could not arrange the wake-up; the tick will resume the run");
        }
        Ok(())
    }

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
        let now = self.clock.now();
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
        let written = self.store.transact(ops).await;
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

    /// Asks the executor to go on with a run. If the queue is down the run stays `running` and
    /// the tick takes it up once its lease ends.
    async fn send_advance(&self, tenant: &str, run_id: &str) {
        let message = RunMessage::Advance {
            tenant_id: tenant.to_owned(),
            run_id: run_id.to_owned(),
        };
        let sent = match serde_json::to_string(&message) {
            Ok(body) => self
                .queue
                .send(&body, std::time::Duration::ZERO)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = sent {
            tracing::warn!(run_id, %error, "could not queue the run; the tick will take it up");
        }
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
                        let now = self.clock.now();
                        run.become_(RunStatus::Cancelled, now)?;
                        run.reason = Some(reason.to_owned());
                        self.save(tenant, &run, version).await?.is_some()
                    }
                };
                if moved {
                    cancelled += 1;
                    let _ = self
                        .scheduler
                        .delete(&wake_schedule_name(&run.run_id, run.cursor))
                        .await;
                }
            }
        }
        Ok(cancelled)
    }

    /// Resumes waiting runs whose time came and takes up running runs whose worker went quiet.
    /// Returns how many it moved on.
    pub async fn resume_due(&self, tenant: &str) -> Result<usize> {
        let now = self.clock.now();
        let mut resumed = 0;
        for status in [RunStatus::Waiting, RunStatus::Running] {
            for (run, _) in self.due_runs(tenant, status, Some(now)).await? {
                self.advance(tenant, &run.run_id).await?;
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Unfinished runs in one status, due by `until` (all of them when None).
    pub(crate) async fn due_runs(
        &self,
        tenant: &str,
        status: RunStatus,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<(WorkflowRun, u64)>> {
        let partition = keys::workflow_runs_due(tenant, status_word(status), "").pk;
        let sort = match until {
            Some(t) => SortKey::LessOrEqual(due_sort(t, "~")),
            None => SortKey::All,
        };
        let mut runs = Vec::new();
        let mut cursor = None;
        for _ in 0..crate::ports::store::MAX_PAGES_PER_LIST {
            let page = self
                .store
                .query(
                    Query::partition(Index::Gsi2, partition.clone())
                        .sort(sort.clone())
                        .limit(crate::ports::store::MAX_PAGE)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let run: WorkflowRun = item.parse()?;
                // The index may lag the item (DynamoDB GSIs are eventually consistent).
                if run.status == status {
                    runs.push((run, item.version));
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(runs)
    }

    // ---- reading runs ------------------------------------------------------------------------

    async fn read_run(&self, tenant: &str, run_id: &str) -> Result<Option<(WorkflowRun, u64)>> {
        if !ids::looks_like("wfr", run_id) {
            return Ok(None);
        }
        Ok(
            match self.store.get(&keys::workflow_run(tenant, run_id)).await? {
                Some(item) => Some((item.parse()?, item.version)),
                None => None,
            },
        )
    }

    pub async fn get_run(&self, tenant: &str, run_id: &str) -> Result<WorkflowRun> {
        self.read_run(tenant, run_id)
            .await?
            .map(|(run, _)| run)
            .ok_or_else(|| Error::NotFound("workflow run".into()))
    }

    /// One workflow's runs, newest first.
    pub async fn list_runs(
        &self,
        tenant: &str,
        workflow_id: &str,
        status: Option<RunStatus>,
        since: Option<DateTime<Utc>>,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<WorkflowRun>, Option<Cursor>)> {
        let partition = keys::workflow_run_list(tenant, workflow_id, "").pk;
        let sort = match since {
            Some(t) => SortKey::GreaterOrEqual(t.timestamp_millis().to_string()),
            None => SortKey::All,
        };
        let query = Query::partition(Index::Gsi1, partition)
            .sort(sort)
            .descending();
        let (items, next) = crate::ports::query_filtered(
            self.store.as_ref(),
            query,
            limit,
            cursor,
            |run: &WorkflowRun| status.is_none_or(|s| s == run.status),
        )
        .await?;
        Ok((items, next))
    }

    pub fn workflows(&self) -> &WorkflowService {
        &self.workflows
    }

    pub fn clients(&self) -> &ClientService {
        &self.clients
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }
}

/// The version of a run not stored yet: its first write is conditional on its absence.
const NOT_STORED: u64 = 0;

/// The condition of a run's write when it was last seen at `version`.
fn written_at(version: u64) -> PutCondition {
    if version == NOT_STORED {
        PutCondition::Absent
    } else {
        PutCondition::VersionEquals(version)
    }
}

/// The one-time schedule that wakes a run waiting at `pc` (EventBridge names ≤ 64 characters).
fn wake_schedule_name(run_id: &str, pc: usize) -> String {
    format!("{run_id}-{pc}")
}

fn action_kind(action: &super::definition::Action) -> String {
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
        Some(super::program::Instruction::Delay { minutes, path }) => {
            Some(delay_done(run.cursor, path, *minutes, now))
        }
        _ => None,
    }
}

fn instruction_path(program: &Program, pc: usize) -> String {
    use super::program::Instruction;
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
    use super::program::Instruction;
    program
        .instructions
        .iter()
        .position(|i| matches!(i, Instruction::Branch { path: p, .. } if p == path))
        .unwrap_or_default()
}
