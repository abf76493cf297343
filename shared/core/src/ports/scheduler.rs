//! The scheduler port: named one-time and cron schedules that put a payload on a queue.
//! In AWS this is EventBridge Scheduler (a schedule group per deployment); locally the embedded
//! scheduler fires due schedules from `vigil serve`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RequestCounts;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleExpression {
    /// Once, at this instant; the schedule is deleted after it fires.
    At { at: DateTime<Utc> },
    /// Repeatedly. `expression` uses the EventBridge cron fields
    /// `minutes hours day-of-month month day-of-week year`, read in `timezone` (IANA name).
    Cron {
        expression: String,
        timezone: String,
    },
}

/// Where a fired schedule's payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleTarget {
    /// The workflow queue (delayed workflow steps, approval time-outs).
    Workflows,
    /// The outbox queue.
    Outbox,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unique within the deployment: letters, digits, `-`, `_`, `.`; at most 64 characters.
    pub name: String,
    pub expression: ScheduleExpression,
    pub target: ScheduleTarget,
    /// Message body delivered to the target.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("invalid schedule: {0}")]
    Invalid(String),
    #[error("scheduler unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Creates the schedule, or replaces the one with the same name.
    async fn upsert(&self, schedule: &Schedule) -> Result<(), SchedulerError>;

    async fn get(&self, name: &str) -> Result<Option<Schedule>, SchedulerError>;

    /// Deleting a missing schedule is not an error.
    async fn delete(&self, name: &str) -> Result<(), SchedulerError>;

    /// Names of the schedules whose name begins with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, SchedulerError>;

    fn request_counts(&self) -> RequestCounts;
}
