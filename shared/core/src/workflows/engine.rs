//! The run engine: starts runs when triggers hold (with the duplicate, loop and rate guards),
//! walks each run through its program one step at a time, and moves runs on when a delay ends,
//! an approval is decided, a failed step is retried or the workflow is switched off.
//!
//! Each step's result is written with a conditional write on the run's version before the next
//! step begins, so two workers never both move a run on. A step's side effect carries a key made
//! of the run and the step (record ids, notification dedupe keys, anomaly occurrences, webhook
//! ids), so a step done again after a crash between the effect and the write repeats nothing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::actions::{ActionRunner, StepError};
use super::clients::{Client, ClientService};
use super::messages::{Cause, RunMessage};
use super::program::{Next, Program};
use super::run::{
    Approval, ApprovalStatus, PendingApproval, StepOutcome, StepRecord, WorkflowRun, due_sort,
    reasons, status_word,
};
use super::run_status::RunStatus;
use super::service::{Workflow, WorkflowService};
use super::simulate::{client_view, snapshot};
use crate::anomaly::{AnomalyService, Finding};
use crate::cache::TtlCache;
use crate::delivery::notification::{NewNotification, NotificationType};
use crate::delivery::outbox::OutboxService;
use crate::ports::{
    Cursor, Index, Item, ItemStore, PutCondition, Query, Queue, Schedule, ScheduleExpression,
    ScheduleTarget, Scheduler, SortKey, StoreError, WriteOp,
};
use crate::severity::Severity;
use crate::tenancy::Role;
use crate::tenancy::audit::{self, Actor};
use crate::tenancy::tenants::to_json;
use crate::{Clock, Error, Result, ids, keys};

/// Tries of a step that fails for a transient reason before the run halts there.
pub const MAX_ATTEMPTS: u32 = 3;

/// Knobs of the engine, from configuration.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// Runs a tenant may start per minute (token bucket; bursts up to the same number).
    pub runs_per_minute: u32,
    /// Runs one workflow may start for one subject in an hour because of workflow effects
    /// before it is paused as a loop.
    pub loop_bound: u32,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            runs_per_minute: 6_000,
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

/// A decision on an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Serialize, Deserialize)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// What the dedupe guard says of a trigger.
enum GuardCheck {
    /// A run started for the subject within the window: this one.
    HeldBack(String),
    /// No recent run; claim the guard under this condition.
    Clear(PutCondition),
    /// The very trigger that started the recorded run, delivered again.
    Redelivery,
}

/// Run-start tokens taken from a tenant's bucket for this process.
#[derive(Debug)]
struct Reservation {
    tokens: u32,
    until: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Guard {
    run_id: String,
    started_at: DateTime<Utc>,
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
    /// Tokens this process reserved from each tenant's bucket and has not used yet.
    reservations: tokio::sync::Mutex<HashMap<String, Reservation>>,
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
            workflows: WorkflowService::new(store.clone(), clock.clone()),
            clients: ClientService::new(store.clone(), clock.clone()),
            programs: TtlCache::new(
                clock.clone(),
                std::time::Duration::from_secs(24 * 3600),
                10_000,
            ),
            reservations: tokio::sync::Mutex::new(HashMap::new()),
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
        let limited = !deleted && !self.take_token(tenant, now).await?;
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
        match self
            .store
            .put(run.to_item(tenant)?, PutCondition::Absent)
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists) => Ok(outcome),
            Err(other) => Err(other.into()),
        }
    }

    /// Whether a trigger falls within the dedupe window of the subject's last run. A
    /// redelivered trigger (same run id) is let through.
    async fn check_guard(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        run_id: &str,
        at: DateTime<Utc>,
    ) -> Result<GuardCheck> {
        let key = keys::workflow_guard(tenant, &workflow.id, subject);
        let window = Duration::minutes(i64::from(workflow.spec.dedupe_minutes));
        Ok(match self.store.get(&key).await? {
            Some(item) => {
                let last: Guard = item.parse()?;
                if last.run_id == run_id {
                    GuardCheck::Redelivery
                } else if (at - last.started_at).abs() < window {
                    GuardCheck::HeldBack(last.run_id)
                } else {
                    GuardCheck::Clear(PutCondition::VersionEquals(item.version))
                }
            }
            None => GuardCheck::Clear(PutCondition::Absent),
        })
    }

    /// Records the run as the subject's last; false when another trigger claimed it first.
    async fn claim_guard(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        run_id: &str,
        at: DateTime<Utc>,
        condition: PutCondition,
    ) -> Result<bool> {
        let window = Duration::minutes(i64::from(workflow.spec.dedupe_minutes));
        let guard = Guard {
            run_id: run_id.to_owned(),
            started_at: at,
        };
        let item = Item::new(
            keys::workflow_guard(tenant, &workflow.id, subject),
            to_json(&guard)?,
        )
        .with_expiry((at + window + Duration::hours(1)).timestamp());
        match self.store.put(item, condition).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Counts starts caused by workflow effects per (workflow, subject, hour); past the bound,
    /// pauses the workflow and raises an alert. True when the start must not happen.
    async fn loops(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let hour = now.format("%Y-%m-%dT%H").to_string();
        let key = keys::workflow_loop_count(tenant, &workflow.id, subject, &hour);
        let counters = self
            .store
            .add(&key, &[("starts".to_owned(), 1)].into_iter().collect())
            .await?;
        let starts = counters.get("starts").copied().unwrap_or(0);
        if starts <= i64::from(self.settings.loop_bound) {
            return Ok(false);
        }
        tracing::warn!(tenant, workflow_id = %workflow.id, subject, starts, "workflow loop; pausing it");
        match self
            .workflows
            .set_enabled(tenant, &workflow.id, false, &Actor::System)
            .await
        {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
        self.cancel_waiting(tenant, &workflow.id, reasons::WORKFLOW_PAUSED_LOOP)
            .await?;
        let hour_start = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        self.anomalies
            .open(
                tenant,
                Finding {
                    rule: "workflow_loop".into(),
                    severity: Severity::Sev2,
                    title: format!(
                        "Workflow \"{}\" kept re-triggering itself for {subject}; it was paused",
                        workflow.spec.name
                    ),
                    subject: workflow.id.clone(),
                    occurrence: Some(subject.to_owned()),
                    window_start: hour_start,
                    window_end: hour_start + Duration::hours(1),
                    evidence: json!({
                        "workflow_id": workflow.id,
                        "subject": subject,
                        "starts_this_hour": starts,
                        "bound": self.settings.loop_bound,
                        "last_cause": cause,
                    }),
                    demo: false,
                },
            )
            .await?;
        Ok(true)
    }

    /// Takes one token from the tenant's bucket; false when it is empty. Tokens are reserved
    /// from the stored bucket a tenth of a second's worth at a time (at least one), so busy
    /// tenants pay one conditional write per reservation rather than per run; a reservation
    /// unused within a second lapses.
    async fn take_token(&self, tenant: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut local = self.reservations.lock().await;
        if let Some(reserved) = local.get_mut(tenant)
            && reserved.tokens > 0
            && now < reserved.until
        {
            reserved.tokens -= 1;
            return Ok(true);
        }
        let batch = (self.settings.runs_per_minute / 600).max(1);
        let got = self.reserve(tenant, now, batch).await?;
        if got == 0 {
            return Ok(false);
        }
        local.insert(
            tenant.to_owned(),
            Reservation {
                tokens: got - 1,
                until: now + Duration::seconds(1),
            },
        );
        Ok(true)
    }

    /// Takes up to `wanted` tokens from the tenant's stored bucket (refilled at the tenant's
    /// rate, holding at most a minute's worth); returns how many it took.
    async fn reserve(&self, tenant: &str, now: DateTime<Utc>, wanted: u32) -> Result<u32> {
        let rate = f64::from(self.settings.runs_per_minute.max(1));
        let key = keys::workflow_rate(tenant);
        for _ in 0..8 {
            let (bucket, condition) = match self.store.get(&key).await? {
                Some(item) => (
                    item.parse::<Bucket>()?,
                    PutCondition::VersionEquals(item.version),
                ),
                None => (
                    Bucket {
                        tokens: rate,
                        at: now,
                    },
                    PutCondition::Absent,
                ),
            };
            let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 60_000.0;
            let tokens = (bucket.tokens + elapsed * rate).min(rate);
            let got = tokens.floor().min(f64::from(wanted)).max(0.0);
            if got < 1.0 {
                return Ok(0);
            }
            let next = Bucket {
                tokens: tokens - got,
                at: now.max(bucket.at),
            };
            match self
                .store
                .put(Item::new(key.clone(), to_json(&next)?), condition)
                .await
            {
                Ok(_) => return Ok(got as u32),
                Err(StoreError::AlreadyExists | StoreError::VersionConflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Unavailable(
            "the run rate bucket is too busy; try again".into(),
        ))
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
                let delayed = !self.is_retry_wait(&run);
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

    /// A waiting run waits for a retry (not a delay) when it holds a failure to try again.
    fn is_retry_wait(&self, run: &WorkflowRun) -> bool {
        run.attempts > 0
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
        match self
            .store
            .put(run.to_item(tenant)?, written_at(version))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::VersionConflict | StoreError::AlreadyExists) => {
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

    async fn request_approval(
        &self,
        tenant: &str,
        mut run: WorkflowRun,
        version: u64,
        approvers: Role,
        timeout_minutes: u32,
        path: &str,
    ) -> Result<()> {
        let now = self.clock.now();
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
        let subject = run
            .snapshot
            .pointer("/client/name")
            .and_then(Value::as_str)
            .unwrap_or(&run.subject)
            .to_owned();
        self.outbox
            .emit(
                tenant,
                NewNotification {
                    kind: NotificationType::ApprovalRequested,
                    severity: Severity::Sev3,
                    title: format!("Approval needed: {} for {subject}", run.workflow_name),
                    summary: format!(
                        "Run {} waits for a {} to approve or reject it before {}.",
                        run.run_id,
                        approvers.as_str(),
                        expires_at.to_rfc3339()
                    ),
                    link_ref: Some(format!("approval:{id}")),
                    dedupe_key: format!("approval:{id}"),
                    payload: json!({"approval_id": id, "run_id": run.run_id,
                                    "workflow_id": run.workflow_id, "step": path,
                                    "expires_at": expires_at}),
                },
            )
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
        if self.clock.now() >= pending.expires_at {
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
        if decision == Decision::Reject && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::invalid(
                "reason_required",
                "a rejection needs a reason",
            ));
        }
        let (status, outcome) = match decision {
            Decision::Approve => (ApprovalStatus::Approved, StepOutcome::Approved),
            Decision::Reject => (ApprovalStatus::Rejected, StepOutcome::Rejected),
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
                &pending,
                status,
                outcome,
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

    /// Writes an approval's outcome and moves its run on (approved) or ends it. False when
    /// somebody decided first.
    #[allow(clippy::too_many_arguments)]
    async fn settle_approval(
        &self,
        tenant: &str,
        run: &mut WorkflowRun,
        version: u64,
        pending: &PendingApproval,
        status: ApprovalStatus,
        outcome: StepOutcome,
        actor: &Actor,
        reason: Option<String>,
        audit_action: Option<&str>,
    ) -> Result<bool> {
        let now = self.clock.now();
        let Some(item) = self.store.get(&keys::approval(tenant, &pending.id)).await? else {
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
        let compiled = self.compiled(tenant, &run.workflow_id, run.version).await?;
        let path = instruction_path(&compiled.1, run.cursor);
        run.steps.push(StepRecord {
            pc: run.cursor,
            path,
            kind: "approval".into(),
            outcome,
            detail: json!({"approval_id": approval.id, "decided_by": actor, "reason": reason}),
            error: None,
            attempts: 1,
            at: now,
        });
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
        if let Some(action) = audit_action {
            ops.push(audit::record(tenant, actor, action, &run.run_id, now));
        }
        match self.store.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::TransactionCancelled { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
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
        run.become_(RunStatus::Running, now)?;
        run.attempts = 0;
        let written = self
            .store
            .transact(vec![
                WriteOp::Put {
                    item: run.to_item(tenant)?,
                    condition: PutCondition::VersionEquals(version),
                },
                audit::record(tenant, actor, "workflow_run.retry", run_id, now),
            ])
            .await;
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
                let moved = match run.approval.clone() {
                    Some(pending) => {
                        self.settle_approval(
                            tenant,
                            &mut run,
                            version,
                            &pending,
                            ApprovalStatus::Cancelled,
                            StepOutcome::Rejected,
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

    /// Rejects the approvals past their time-out, with a notification for each.
    pub async fn expire_approvals(&self, tenant: &str) -> Result<usize> {
        let now = self.clock.now();
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
                    &pending,
                    ApprovalStatus::Expired,
                    StepOutcome::TimedOut,
                    &Actor::System,
                    Some("nobody decided in time".into()),
                    None,
                )
                .await?;
            if !moved {
                continue;
            }
            expired += 1;
            self.outbox
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

    /// Unfinished runs in one status, due by `until` (all of them when None).
    async fn due_runs(
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

    /// Approvals in one status, oldest request first.
    pub async fn approvals(
        &self,
        tenant: &str,
        status: ApprovalStatus,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Approval>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(
                    Index::Gsi1,
                    keys::approval_list(tenant, status.as_str(), "").pk,
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
