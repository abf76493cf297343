//! `Scheduler` on SQLite: schedules are rows; `vigil serve` calls [`SqliteScheduler::fire_due`]
//! on a timer, which puts each due schedule's payload on its target queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Notify;
use vigil_core::ports::scheduler::{parse_cron, parse_timezone, validate, validate_name};
use vigil_core::ports::{
    RequestCounter, RequestCounts, Schedule, ScheduleExpression, ScheduleTarget, Scheduler,
    SchedulerError,
};

use crate::db::Database;
use crate::queue::insert_message;

/// A queue a schedule can target, and how to wake its local consumers.
#[derive(Clone)]
pub(crate) struct TargetQueue {
    pub(crate) name: String,
    pub(crate) notify: Arc<Notify>,
}

/// The scheduler of the embedded backend.
pub struct SqliteScheduler {
    db: Arc<Database>,
    group: String,
    outbox: TargetQueue,
    workflows: TargetQueue,
    counter: RequestCounter,
}

fn unavailable(e: rusqlite::Error) -> SchedulerError {
    SchedulerError::Unavailable(e.to_string())
}

fn invalid(reason: impl Into<String>) -> SchedulerError {
    SchedulerError::Invalid(reason.into())
}

fn target_name(target: ScheduleTarget) -> &'static str {
    match target {
        ScheduleTarget::Workflows => "workflows",
        ScheduleTarget::Outbox => "outbox",
    }
}

fn parse_target(text: &str) -> Result<ScheduleTarget, SchedulerError> {
    match text {
        "workflows" => Ok(ScheduleTarget::Workflows),
        "outbox" => Ok(ScheduleTarget::Outbox),
        other => Err(SchedulerError::Unavailable(format!(
            "stored schedule has target {other:?}"
        ))),
    }
}

/// Whether a cron schedule has an occurrence to fire at `now`. Occurrences up to `checked_until`
/// were dealt with; a schedule never checked counts from its creation, or from `now` when the
/// caller's clock is behind that (a test clock in the past).
fn cron_due(
    cron: &Cron,
    timezone: Tz,
    created_at: i64,
    checked_until: Option<i64>,
    now: i64,
) -> bool {
    let (start, inclusive) = match checked_until {
        Some(checked) => (checked, false),
        None => (created_at.min(now), true),
    };
    if start > now {
        return false;
    }
    let Some(start) = DateTime::from_timestamp(start, 0) else {
        return false;
    };
    cron.find_next_occurrence(&start.with_timezone(&timezone), inclusive)
        .is_ok_and(|next| next.timestamp() <= now)
}

struct Stored {
    name: String,
    expression: ScheduleExpression,
    target: ScheduleTarget,
    payload: String,
    created_at: i64,
    checked_until: Option<i64>,
}

fn stored_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, i64, Option<i64>)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(
    (name, expression, target, payload, created_at, checked_until): (
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
    ),
) -> Result<Stored, SchedulerError> {
    let expression = serde_json::from_str(&expression).map_err(|e| {
        SchedulerError::Unavailable(format!("stored schedule {name} is not readable: {e}"))
    })?;
    Ok(Stored {
        target: parse_target(&target)?,
        name,
        expression,
        payload,
        created_at,
        checked_until,
    })
}

const SELECT: &str = "SELECT name, expression, target, payload, created_at, checked_until \
                      FROM schedules WHERE grp = ?1";

impl SqliteScheduler {
    pub(crate) fn new(
        db: Arc<Database>,
        group: String,
        outbox: TargetQueue,
        workflows: TargetQueue,
    ) -> Self {
        Self {
            db,
            group,
            outbox,
            workflows,
            counter: RequestCounter::default(),
        }
    }

    fn target(&self, target: ScheduleTarget) -> &TargetQueue {
        match target {
            ScheduleTarget::Workflows => &self.workflows,
            ScheduleTarget::Outbox => &self.outbox,
        }
    }

    /// Sends every due schedule's payload to its target queue: `At` schedules once (then
    /// deleted), `Cron` schedules (EventBridge cron fields, read in their IANA timezone) once per
    /// due occurrence since the last firing (at most one catch-up firing per schedule per call).
    /// Returns the names fired.
    pub async fn fire_due(&self, now: DateTime<Utc>) -> Result<Vec<String>, SchedulerError> {
        let group = self.group.clone();
        let (outbox, workflows) = (self.outbox.name.clone(), self.workflows.name.clone());
        let fired = self
            .db
            .write(move |conn| fire(conn, &group, &outbox, &workflows, now))
            .await?;
        for target in [ScheduleTarget::Outbox, ScheduleTarget::Workflows] {
            if fired.iter().any(|(_, t)| *t == target) {
                self.target(target).notify.notify_one();
            }
        }
        Ok(fired.into_iter().map(|(name, _)| name).collect())
    }
}

fn fire(
    conn: &Connection,
    group: &str,
    outbox: &str,
    workflows: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, ScheduleTarget)>, SchedulerError> {
    let now_s = now.timestamp();
    let rows = conn
        .prepare_cached(&format!("{SELECT} ORDER BY name"))
        .and_then(|mut s| {
            s.query_map(params![group], stored_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(unavailable)?;
    let mut fired = Vec::new();
    for row in rows {
        let schedule = match decode(row) {
            Ok(schedule) => schedule,
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable schedule");
                continue;
            }
        };
        let due = match &schedule.expression {
            ScheduleExpression::At { at } => *at <= now,
            ScheduleExpression::Cron {
                expression,
                timezone,
            } => {
                // Validated on upsert; a row that no longer parses is skipped, not fatal.
                let (Ok(cron), Ok(tz)) = (parse_cron(expression), parse_timezone(timezone)) else {
                    continue;
                };
                let due = cron_due(
                    &cron,
                    tz,
                    schedule.created_at,
                    schedule.checked_until,
                    now_s,
                );
                if due || schedule.checked_until.is_none() {
                    let checked = schedule.checked_until.map_or(now_s, |c| c.max(now_s));
                    conn.prepare_cached(
                        "UPDATE schedules SET checked_until = ?3 WHERE grp = ?1 AND name = ?2",
                    )
                    .and_then(|mut s| s.execute(params![group, schedule.name, checked]))
                    .map_err(unavailable)?;
                }
                due
            }
        };
        if !due {
            continue;
        }
        if matches!(schedule.expression, ScheduleExpression::At { .. }) {
            conn.prepare_cached("DELETE FROM schedules WHERE grp = ?1 AND name = ?2")
                .and_then(|mut s| s.execute(params![group, schedule.name]))
                .map_err(unavailable)?;
        }
        let queue = match schedule.target {
            ScheduleTarget::Outbox => outbox,
            ScheduleTarget::Workflows => workflows,
        };
        insert_message(conn, queue, &schedule.payload, Duration::ZERO).map_err(unavailable)?;
        fired.push((schedule.name, schedule.target));
    }
    Ok(fired)
}

#[async_trait]
impl Scheduler for SqliteScheduler {
    async fn upsert(&self, schedule: &Schedule) -> Result<(), SchedulerError> {
        validate(schedule)?;
        let expression =
            serde_json::to_string(&schedule.expression).map_err(|e| invalid(e.to_string()))?;
        let (group, name, payload) = (
            self.group.clone(),
            schedule.name.clone(),
            schedule.payload.clone(),
        );
        let target = target_name(schedule.target);
        // A replaced schedule starts counting its occurrences afresh, as EventBridge does.
        let created_at = Utc::now().timestamp();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO schedules (grp, name, expression, target, payload, created_at, \
                     checked_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL) \
                     ON CONFLICT (grp, name) DO UPDATE SET expression = excluded.expression, \
                     target = excluded.target, payload = excluded.payload, \
                     created_at = excluded.created_at, checked_until = NULL",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        group, name, expression, target, payload, created_at
                    ])
                })
                .map(|_| ())
                .map_err(unavailable)
            })
            .await
    }

    async fn get(&self, name: &str) -> Result<Option<Schedule>, SchedulerError> {
        validate_name(name)?;
        let (group, name) = (self.group.clone(), name.to_owned());
        let row = self
            .db
            .read(move |conn| {
                conn.prepare_cached(&format!("{SELECT} AND name = ?2"))
                    .and_then(|mut s| {
                        s.query_row(params![group, name], stored_from_row)
                            .optional()
                    })
                    .map_err(unavailable)
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored = decode(row)?;
        Ok(Some(Schedule {
            name: stored.name,
            expression: stored.expression,
            target: stored.target,
            payload: stored.payload,
        }))
    }

    async fn delete(&self, name: &str) -> Result<(), SchedulerError> {
        validate_name(name)?;
        let (group, name) = (self.group.clone(), name.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM schedules WHERE grp = ?1 AND name = ?2")
                    .and_then(|mut s| s.execute(params![group, name]))
                    .map(|_| ())
                    .map_err(unavailable)
            })
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SchedulerError> {
        let (group, prefix) = (self.group.clone(), prefix.to_owned());
        self.db
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT name FROM schedules WHERE grp = ?1 \
                     AND substr(name, 1, length(?2)) = ?2 ORDER BY name",
                )
                .and_then(|mut s| {
                    s.query_map(params![group, prefix], |r| r.get(0))?
                        .collect::<Result<_, _>>()
                })
                .map_err(unavailable)
            })
            .await
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use vigil_core::ports::ResourceNames;

    use crate::{EmbeddedBackend, test_routes};

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn cron(name: &str, expression: &str, timezone: &str) -> Schedule {
        Schedule {
            name: name.into(),
            expression: ScheduleExpression::Cron {
                expression: expression.into(),
                timezone: timezone.into(),
            },
            target: ScheduleTarget::Outbox,
            payload: format!(r#"{{"flow":"{name}"}}"#),
        }
    }

    #[test]
    fn eventbridge_rules_are_kept() {
        for cron in ["0/5 * * * ? *", "0 9 ? * MON *", "* * * * ? *"] {
            assert!(parse_cron(cron).is_ok(), "{cron}");
        }
        assert!(parse_cron("0 9 * * * *").is_err(), "both day fields given");
        assert!(
            parse_cron("0 9 ? * ? *").is_err(),
            "neither day field given"
        );
        assert!(parse_cron("0 9 * * ?").is_err(), "five fields");
        assert!(parse_cron("61 9 * * ? *").is_err(), "minute out of range");
    }

    #[test]
    fn weekdays_count_from_sunday_as_one() {
        // 2026-03-02 is a Monday; MON and 2 name the same day.
        let monday = utc(2026, 3, 1, 23, 0);
        for expression in ["0 9 ? * MON *", "0 9 ? * 2 *"] {
            let next = parse_cron(expression)
                .unwrap()
                .find_next_occurrence(&monday, false)
                .unwrap();
            assert_eq!(next, utc(2026, 3, 2, 9, 0), "{expression}");
        }
    }

    #[tokio::test]
    async fn an_at_schedule_fires_once_when_due_and_is_deleted() {
        // GIVEN a one-time schedule for noon
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
        let scheduler = backend.scheduler();
        let schedule = Schedule {
            name: "approval-timeout.a1".into(),
            expression: ScheduleExpression::At {
                at: utc(2026, 5, 1, 12, 0),
            },
            target: ScheduleTarget::Workflows,
            payload: "expire a1".into(),
        };
        scheduler.upsert(&schedule).await.unwrap();

        // WHEN the scheduler runs before, at and after noon
        let before = scheduler.fire_due(utc(2026, 5, 1, 11, 59)).await.unwrap();
        let at = scheduler.fire_due(utc(2026, 5, 1, 12, 0)).await.unwrap();
        let after = scheduler.fire_due(utc(2026, 5, 1, 12, 1)).await.unwrap();

        // THEN it fires exactly once, onto the workflow queue, and is gone
        assert!(before.is_empty());
        assert_eq!(at, vec!["approval-timeout.a1".to_string()]);
        assert!(after.is_empty());
        assert_eq!(scheduler.get("approval-timeout.a1").await.unwrap(), None);
        let got = backend
            .ports()
            .workflow_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "expire a1");
    }

    #[tokio::test]
    async fn a_cron_schedule_fires_in_its_timezone_once_per_occurrence() {
        // GIVEN a daily 09:00 schedule in Paris (UTC+1 in winter) and a clock behind its creation
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
        let scheduler = backend.scheduler();
        scheduler
            .upsert(&cron("daily", "0 9 * * ? *", "Europe/Paris"))
            .await
            .unwrap();
        let first_check = scheduler.fire_due(utc(2021, 1, 5, 7, 0)).await.unwrap();

        // WHEN the clock passes 09:00 Paris (08:00 UTC), then again within the same day
        let at_eight_utc = scheduler.fire_due(utc(2021, 1, 5, 8, 0)).await.unwrap();
        let later = scheduler.fire_due(utc(2021, 1, 5, 8, 30)).await.unwrap();
        // ... and after three missed days
        let catch_up = scheduler.fire_due(utc(2021, 1, 9, 10, 0)).await.unwrap();
        let after_catch_up = scheduler.fire_due(utc(2021, 1, 9, 10, 1)).await.unwrap();

        // THEN it fires at 08:00 UTC, not again that day, and once for the missed days
        assert!(first_check.is_empty());
        assert_eq!(at_eight_utc, vec!["daily".to_string()]);
        assert!(later.is_empty());
        assert_eq!(catch_up, vec!["daily".to_string()]);
        assert!(after_catch_up.is_empty());
        assert_eq!(backend.ports().outbox.depth().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_new_cron_schedule_counts_occurrences_from_its_creation() {
        // GIVEN an every-minute schedule created now
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
        let scheduler = backend.scheduler();
        scheduler
            .upsert(&cron("tick", "* * * * ? *", "UTC"))
            .await
            .unwrap();

        // WHEN the scheduler runs two minutes later
        let fired = scheduler
            .fire_due(Utc::now() + chrono::Duration::minutes(2))
            .await
            .unwrap();

        // THEN it fires (once)
        assert_eq!(fired, vec!["tick".to_string()]);
        assert_eq!(backend.ports().outbox.depth().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn invalid_schedules_are_refused() {
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
        let scheduler = backend.scheduler();
        for schedule in [
            cron("bad name!", "* * * * ? *", "UTC"),
            cron("bad-cron", "* * * *", "UTC"),
            cron("bad-zone", "* * * * ? *", "Mars/Olympus"),
        ] {
            let result = scheduler.upsert(&schedule).await;
            assert!(
                matches!(result, Err(SchedulerError::Invalid(_))),
                "{}",
                schedule.name
            );
        }
        assert!(scheduler.list("").await.unwrap().is_empty());
    }
}
