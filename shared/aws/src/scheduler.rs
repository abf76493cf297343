//! `Scheduler` on EventBridge Scheduler: schedules in the deployment's group that send their
//! payload to the outbox or workflow queue.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};
use vigil_core::ports::scheduler::{validate, validate_name};
use vigil_core::ports::{
    RequestCounts, Schedule, ScheduleExpression, ScheduleTarget, Scheduler, SchedulerError,
};

use crate::error::{describe, service_code};

const MAX_NAME: usize = 64;
const AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
/// `at()` has whole seconds; an instant with a fraction is kept exactly in the description,
/// so `get` gives back what was stored.
const EXACT_AT: &str = "one-time, exactly at ";

/// The scheduler of the AWS backend.
pub struct EventBridgeScheduler {
    client: Client,
    group: String,
    role_arn: String,
    outbox_arn: String,
    workflows_arn: String,
}

impl EventBridgeScheduler {
    pub fn new(
        client: Client,
        group: impl Into<String>,
        role_arn: impl Into<String>,
        outbox_arn: impl Into<String>,
        workflows_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            outbox_arn: outbox_arn.into(),
            workflows_arn: workflows_arn.into(),
        }
    }

    fn target_arn(&self, target: ScheduleTarget) -> &str {
        match target {
            ScheduleTarget::Outbox => &self.outbox_arn,
            ScheduleTarget::Workflows => &self.workflows_arn,
        }
    }
}

fn invalid(reason: impl Into<String>) -> SchedulerError {
    SchedulerError::Invalid(reason.into())
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// The instant rounded up to a whole second, so a schedule never fires before its time.
fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    let truncated = at.with_nanosecond(0).unwrap_or(at);
    if truncated == at {
        at
    } else {
        truncated + TimeDelta::seconds(1)
    }
}

/// Expression, timezone, completion action and description of a schedule.
struct Timing {
    expression: String,
    timezone: String,
    after_completion: ActionAfterCompletion,
    description: Option<String>,
}

fn timing(expression: &ScheduleExpression) -> Timing {
    match expression {
        ScheduleExpression::At { at } => {
            let fires = whole_second(*at);
            Timing {
                expression: format!("at({})", fires.format(AT_FORMAT)),
                timezone: "UTC".into(),
                after_completion: ActionAfterCompletion::Delete,
                description: (fires != *at).then(|| {
                    format!(
                        "{EXACT_AT}{}",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    )
                }),
            }
        }
        ScheduleExpression::Cron {
            expression,
            timezone,
        } => Timing {
            expression: format!("cron({expression})"),
            timezone: timezone.clone(),
            after_completion: ActionAfterCompletion::None,
            description: None,
        },
    }
}

/// Reads back what [`timing`] wrote.
fn parse_expression(
    expression: &str,
    timezone: Option<&str>,
    description: Option<&str>,
) -> Result<ScheduleExpression, String> {
    if let Some(inner) = expression
        .strip_prefix("at(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        if timezone.is_some_and(|tz| tz != "UTC") {
            return Err(format!("one-time schedule in timezone {timezone:?}"));
        }
        let fires = NaiveDateTime::parse_from_str(inner, AT_FORMAT)
            .map_err(|e| format!("at({inner}): {e}"))?
            .and_utc();
        let exact = description
            .and_then(|d| d.strip_prefix(EXACT_AT))
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| whole_second(*t) == fires);
        return Ok(ScheduleExpression::At {
            at: exact.unwrap_or(fires),
        });
    }
    if let Some(inner) = expression
        .strip_prefix("cron(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return Ok(ScheduleExpression::Cron {
            expression: inner.to_owned(),
            timezone: timezone.unwrap_or("UTC").to_owned(),
        });
    }
    Err(format!("unsupported schedule expression {expression:?}"))
}

fn request_error<E, R>(err: &SdkError<E, R>) -> SchedulerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match service_code(err) {
        Some("ValidationException") => SchedulerError::Invalid(describe(err)),
        _ => SchedulerError::Unavailable(describe(err)),
    }
}

fn is_code<E, R>(err: &SdkError<E, R>, code: &str) -> bool
where
    E: ProvideErrorMetadata,
{
    service_code(err) == Some(code)
}

fn build_error(e: impl std::fmt::Display) -> SchedulerError {
    invalid(e.to_string())
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    async fn upsert(&self, schedule: &Schedule) -> Result<(), SchedulerError> {
        validate(schedule)?;
        let timing = timing(&schedule.expression);
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(build_error)?;
        let target = Target::builder()
            .arn(self.target_arn(schedule.target))
            .role_arn(&self.role_arn)
            .set_input((!schedule.payload.is_empty()).then(|| schedule.payload.clone()))
            .build()
            .map_err(build_error)?;
        // Most schedules are new (one per approval or delayed step): create first.
        let created = self
            .client
            .create_schedule()
            .name(&schedule.name)
            .group_name(&self.group)
            .schedule_expression(&timing.expression)
            .schedule_expression_timezone(&timing.timezone)
            .flexible_time_window(window.clone())
            .target(target.clone())
            .action_after_completion(timing.after_completion.clone())
            .state(ScheduleState::Enabled)
            .set_description(timing.description.clone())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) if is_code(&err, "ConflictException") => self
                .client
                .update_schedule()
                .name(&schedule.name)
                .group_name(&self.group)
                .schedule_expression(&timing.expression)
                .schedule_expression_timezone(&timing.timezone)
                .flexible_time_window(window)
                .target(target)
                .action_after_completion(timing.after_completion)
                .state(ScheduleState::Enabled)
                .set_description(timing.description)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| request_error(&e)),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Schedule>, SchedulerError> {
        validate_name(name)?;
        let output = match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if is_code(&err, "ResourceNotFoundException") => return Ok(None),
            Err(err) => return Err(request_error(&err)),
        };
        let unreadable =
            |problem: String| SchedulerError::Unavailable(format!("schedule {name}: {problem}"));
        let expression = parse_expression(
            output.schedule_expression().unwrap_or_default(),
            output.schedule_expression_timezone(),
            output.description(),
        )
        .map_err(unreadable)?;
        let target = output
            .target
            .ok_or_else(|| unreadable("no target".into()))?;
        let kind = if target.arn == self.outbox_arn {
            ScheduleTarget::Outbox
        } else if target.arn == self.workflows_arn {
            ScheduleTarget::Workflows
        } else {
            return Err(unreadable(format!("unknown target {}", target.arn)));
        };
        Ok(Some(Schedule {
            name: output.name.unwrap_or_else(|| name.to_owned()),
            expression,
            target: kind,
            payload: target.input.unwrap_or_default(),
        }))
    }

    async fn delete(&self, name: &str) -> Result<(), SchedulerError> {
        validate_name(name)?;
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_code(&err, "ResourceNotFoundException") => Ok(()),
            Err(err) => Err(request_error(&err)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SchedulerError> {
        // No valid name starts with a character names may not hold.
        if prefix.len() > MAX_NAME || !prefix.bytes().all(is_name_char) {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .list_schedules()
                .group_name(&self.group)
                .set_name_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| request_error(&e))?;
            names.extend(
                output
                    .schedules
                    .into_iter()
                    .filter_map(|s| s.name)
                    .filter(|name| name.starts_with(prefix)),
            );
            token = output.next_token;
            if token.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Scheduler calls are none of the counted kinds.
    fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn round_trip(expression: &ScheduleExpression) -> ScheduleExpression {
        let t = timing(expression);
        parse_expression(&t.expression, Some(&t.timezone), t.description.as_deref()).unwrap()
    }

    #[test]
    fn a_one_time_schedule_is_an_at_expression_deleted_after_it_fires() {
        // GIVEN a whole-second instant
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 5).unwrap();

        // WHEN it is written as a schedule
        let t = timing(&ScheduleExpression::At { at });

        // THEN it fires at that second in UTC, once, and reads back equal
        assert_eq!(t.expression, "at(2026-03-01T12:30:05)");
        assert_eq!(t.timezone, "UTC");
        assert_eq!(t.after_completion, ActionAfterCompletion::Delete);
        assert_eq!(t.description, None);
        assert_eq!(
            round_trip(&ScheduleExpression::At { at }),
            ScheduleExpression::At { at }
        );
    }

    #[test]
    fn a_part_second_instant_fires_the_next_second_and_reads_back_exactly() {
        let at =
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 5).unwrap() + TimeDelta::milliseconds(250);
        let t = timing(&ScheduleExpression::At { at });
        assert_eq!(t.expression, "at(2026-03-01T12:30:06)");
        assert_eq!(
            round_trip(&ScheduleExpression::At { at }),
            ScheduleExpression::At { at }
        );
        // A description that does not match the expression (edited by hand) is ignored.
        let stale = parse_expression(
            "at(2026-03-01T13:00:00)",
            Some("UTC"),
            t.description.as_deref(),
        )
        .unwrap();
        assert_eq!(
            stale,
            ScheduleExpression::At {
                at: Utc.with_ymd_and_hms(2026, 3, 1, 13, 0, 0).unwrap()
            }
        );
    }

    #[test]
    fn a_cron_schedule_keeps_its_fields_and_timezone() {
        let cron = ScheduleExpression::Cron {
            expression: "0 9 ? * MON *".into(),
            timezone: "Europe/Paris".into(),
        };
        let t = timing(&cron);
        assert_eq!(t.expression, "cron(0 9 ? * MON *)");
        assert_eq!(t.timezone, "Europe/Paris");
        assert_eq!(t.after_completion, ActionAfterCompletion::None);
        assert_eq!(round_trip(&cron), cron);
        assert!(parse_expression("rate(5 minutes)", None, None).is_err());
    }

    #[test]
    fn names_and_cron_shapes_are_checked_before_sending() {
        let schedule = |name: &str, expression: &str| Schedule {
            name: name.into(),
            expression: ScheduleExpression::Cron {
                expression: expression.into(),
                timezone: "UTC".into(),
            },
            target: ScheduleTarget::Workflows,
            payload: "{}".into(),
        };
        assert!(validate(&schedule("wf.run-1_a", "* * * * ? *")).is_ok());
        assert!(validate(&schedule("has space", "* * * * ? *")).is_err());
        assert!(validate(&schedule(&"x".repeat(65), "* * * * ? *")).is_err());
        assert!(validate(&schedule("", "* * * * ? *")).is_err());
        assert!(validate(&schedule("a", "* * * * *")).is_err());
        assert!(validate(&schedule("a", "0 9 * * MON *")).is_err());
    }
}
