//! Waking runs: a queue delay or a one-time schedule for a run that waits, and the tick that
//! resumes whatever is due should a wake-up be lost.

use chrono::{DateTime, Utc};

use super::{WorkflowEngine, wake_schedule_name};
use crate::json::to_json;
use crate::ports::{Index, Query, Schedule, ScheduleExpression, ScheduleTarget, SortKey};
use crate::workflows::messages::RunMessage;
use crate::workflows::run::{WorkflowRun, due_sort, status_word};
use crate::workflows::run_status::RunStatus;
use crate::{Result, table_keys};

impl WorkflowEngine {
    /// Makes sure a waiting run is looked at when `due`: a queue delay up to 15 minutes, a
    /// one-time schedule beyond. (The tick also resumes due runs, should either be lost.)
    pub(super) async fn wake_at(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        due: DateTime<Utc>,
    ) -> Result<()> {
        let message = to_json(&RunMessage::Advance {
            tenant_id: tenant.to_owned(),
            run_id: run.run_id.clone(),
        })?;
        let wait = (due - self.parts.clock.now()).to_std().unwrap_or_default();
        let sent = if wait <= crate::ports::queue::MAX_DELAY {
            self.parts
                .queue
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
            self.parts
                .scheduler
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

    /// Resumes waiting runs whose time came and takes up running runs whose worker went quiet.
    /// Returns how many it moved on.
    pub async fn resume_due(&self, tenant: &str) -> Result<usize> {
        let now = self.parts.clock.now();
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
        let partition = table_keys::workflow_runs_due(tenant, status_word(status), "").pk;
        let sort = match until {
            Some(t) => SortKey::LessOrEqual(due_sort(t, "~")),
            None => SortKey::All,
        };
        let mut runs = Vec::new();
        let mut cursor = None;
        for _ in 0..crate::ports::store::MAX_PAGES_PER_LIST {
            let page = self
                .parts
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

    /// Asks the executor to go on with a run. If the queue is down the run stays `running` and
    /// the tick takes it up once its lease ends.
    pub(super) async fn send_advance(&self, tenant: &str, run_id: &str) {
        let message = RunMessage::Advance {
            tenant_id: tenant.to_owned(),
            run_id: run_id.to_owned(),
        };
        let sent = match serde_json::to_string(&message) {
            Ok(body) => self
                .parts
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
}
