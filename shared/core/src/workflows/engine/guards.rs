//! The guards a run start passes: the dedupe window and loop detection (the tenant's run rate is
//! a [`crate::rate::SharedBucket`]).

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::WorkflowEngine;
use crate::anomaly::Finding;
use crate::json::to_json;
use crate::ports::{Item, PutCondition, StoreError};
use crate::severity::Severity;
use crate::tenancy::audit::Actor;
use crate::workflows::messages::Cause;
use crate::workflows::run::reasons;
use crate::workflows::service::Workflow;
use crate::{Error, Result, table_keys};

/// What the dedupe guard says of a trigger.
pub(super) enum GuardCheck {
    /// A run started for the subject within the window: this one.
    HeldBack(String),
    /// No recent run; claim the guard under this condition.
    Clear(PutCondition),
    /// The very trigger that started the recorded run, delivered again.
    Redelivery,
}

#[derive(Debug, Serialize, Deserialize)]
struct Guard {
    run_id: String,
    started_at: DateTime<Utc>,
}

impl WorkflowEngine {
    /// Whether a trigger falls within the dedupe window of the subject's last run. A
    /// redelivered trigger (same run id) is let through.
    pub(super) async fn check_guard(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        run_id: &str,
        at: DateTime<Utc>,
    ) -> Result<GuardCheck> {
        let key = table_keys::workflow_guard(tenant, &workflow.id, subject);
        let window = Duration::minutes(i64::from(workflow.spec.dedupe_minutes));
        Ok(match self.parts.store.get(&key).await? {
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
    pub(super) async fn claim_guard(
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
            table_keys::workflow_guard(tenant, &workflow.id, subject),
            to_json(&guard)?,
        )
        .with_expiry((at + window + Duration::hours(1)).timestamp());
        match self.parts.store.put(item, condition).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Counts starts caused by workflow effects per (workflow, subject, hour); past the bound,
    /// pauses the workflow and raises an alert. True when the start must not happen.
    pub(super) async fn loops(
        &self,
        tenant: &str,
        workflow: &Workflow,
        subject: &str,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let hour = now.format("%Y-%m-%dT%H").to_string();
        let key = table_keys::workflow_loop_count(tenant, &workflow.id, subject, &hour);
        let counters = self
            .parts
            .store
            .add(&key, &[("starts".to_owned(), 1)].into_iter().collect())
            .await?;
        let starts = counters.get("starts").copied().unwrap_or(0);
        if starts <= i64::from(self.parts.settings.loop_bound) {
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
        self.parts
            .anomalies
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
                        "bound": self.parts.settings.loop_bound,
                        "last_cause": cause,
                    }),
                    demo: false,
                },
            )
            .await?;
        Ok(true)
    }
}
