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
mod interventions;
mod queries;
mod start;
mod timers;
mod walk;

pub use approvals::Decision;

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::actions::ActionRunner;
use super::clients::ClientService;
use super::messages::Cause;
use super::program::Program;
use super::service::WorkflowService;
use crate::anomaly::AnomalyService;
use crate::cache::TtlCache;
use crate::delivery::outbox::OutboxService;
use crate::ports::{ItemStore, PutCondition, Queue, Scheduler};
use crate::rate::{Rate, SharedBucket};
use crate::{Clock, Result, table_keys};

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

pub struct WorkflowEngine {
    parts: EngineParts,
    workflows: WorkflowService,
    clients: ClientService,
    /// Each workflow version's compiled program; versions never change, so they are cached.
    programs: TtlCache<Arc<Program>>,
    /// Each tenant's run starts, shared by every process.
    run_rate: SharedBucket,
}

/// What a workflow engine is made of; the services it derives from them are its own.
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
        let store = &parts.store;
        let clock = &parts.clock;
        Self {
            workflows: WorkflowService::new(
                store.clone(),
                clock.clone(),
                parts.actions.egress.clone(),
            ),
            clients: ClientService::new(store.clone(), clock.clone()),
            programs: TtlCache::new(
                clock.clone(),
                std::time::Duration::from_secs(24 * 3600),
                10_000,
            ),
            run_rate: SharedBucket::new(
                store.clone(),
                Rate::per_minute(parts.settings.runs_per_minute),
                table_keys::workflow_rate,
            ),
            parts,
        }
    }

    /// The compiled program of a workflow version.
    async fn program(&self, tenant: &str, workflow_id: &str, version: u32) -> Result<Arc<Program>> {
        let key = format!("{tenant}/{workflow_id}/{version}");
        if let Some(hit) = self.programs.get(&key) {
            return Ok(hit);
        }
        let workflow = self.workflows.version(tenant, workflow_id, version).await?;
        let program = Arc::new(Program::of(&workflow.spec));
        self.programs.put(key, program.clone());
        Ok(program)
    }

    pub fn workflows(&self) -> &WorkflowService {
        &self.workflows
    }

    pub fn clients(&self) -> &ClientService {
        &self.clients
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.parts.clock
    }

    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.parts.store
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
