//! The scheduler port: named one-time and cron schedules that put a payload on a queue.
//! In AWS this is EventBridge Scheduler (a schedule group per deployment); locally the embedded
//! scheduler fires due schedules from `vigil serve`.

use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
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

/// Longest schedule name.
pub const MAX_NAME: usize = 64;

fn invalid(reason: impl Into<String>) -> SchedulerError {
    SchedulerError::Invalid(reason.into())
}

/// Parses EventBridge cron fields (`minutes hours day-of-month month day-of-week year`).
pub fn parse_cron(expression: &str) -> Result<Cron, SchedulerError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
        return Err(invalid(format!(
            "cron {expression:?} must have 6 fields: minutes hours day-of-month month day-of-week year"
        )));
    };
    // EventBridge: exactly one of the day fields is `?`.
    if (day_of_month == "?") == (day_of_week == "?") {
        return Err(invalid(format!(
            "cron {expression:?} must have `?` in exactly one of day-of-month and day-of-week"
        )));
    }
    // EventBridge numbers weekdays 1 (SUN) to 7 (SAT), as Quartz does.
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&format!(
            "0 {minutes} {hours} {day_of_month} {month} {day_of_week} {year}"
        ))
        .map_err(|e| invalid(format!("cron {expression:?}: {e}")))
}

pub fn parse_timezone(name: &str) -> Result<Tz, SchedulerError> {
    Tz::from_str(name).map_err(|_| invalid(format!("unknown timezone {name:?}")))
}

/// The first occurrence of a cron expression (read in `timezone`) strictly after `after`;
/// None when it never occurs again.
pub fn next_fire(
    expression: &str,
    timezone: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, SchedulerError> {
    let cron = parse_cron(expression)?;
    let tz = parse_timezone(timezone)?;
    Ok(cron
        .find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|next| next.with_timezone(&Utc)))
}

/// Schedule names: `[A-Za-z0-9_.-]{1,64}`.
pub fn validate_name(name: &str) -> Result<(), SchedulerError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if well_formed {
        Ok(())
    } else {
        Err(invalid(format!(
            "schedule name {name:?} must match [A-Za-z0-9_.-]{{1,64}}"
        )))
    }
}

/// Checks what every scheduler refuses: the name, the payload size, the cron expression and
/// its timezone. Adapters call it before they store anything.
pub fn validate(schedule: &Schedule) -> Result<(), SchedulerError> {
    validate_name(&schedule.name)?;
    if schedule.payload.len() > super::queue::MAX_MESSAGE_BYTES {
        return Err(invalid("the payload is larger than 256 KiB"));
    }
    if let ScheduleExpression::Cron {
        expression,
        timezone,
    } = &schedule.expression
    {
        parse_cron(expression)?;
        parse_timezone(timezone)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_five_minutes_fires_on_the_next_multiple_of_five() {
        let next = next_fire("0/5 * * * ? *", "UTC", at("2026-11-22T10:02:30Z"))
            .unwrap()
            .unwrap();
        assert_eq!(next, at("2026-11-22T10:05:00Z"));
    }

    #[test]
    fn weekly_on_monday_at_nine() {
        // 2026-11-22 is a Sunday.
        let next = next_fire("0 9 ? * MON *", "UTC", at("2026-11-22T10:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(next, at("2026-11-23T09:00:00Z"));
    }

    #[test]
    fn bad_fields_and_timezones_are_invalid() {
        for (expression, tz) in [
            ("0 25 ? * MON *", "UTC"),
            ("0 9 * * * *", "UTC"),
            ("0 9 ? *", "UTC"),
            ("0 9 ? * MON *", "Mars/Olympus_Mons"),
        ] {
            assert!(
                matches!(
                    next_fire(expression, tz, Utc::now()),
                    Err(SchedulerError::Invalid(_))
                ),
                "{expression} {tz}"
            );
        }
    }
}
