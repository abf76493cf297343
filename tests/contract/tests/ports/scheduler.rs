//! `Scheduler`: one-time and cron schedules round-trip, replace, list, delete, validation.

use chrono::{DateTime, Utc};
use vigil_contract::Backend;
use vigil_core::ports::{Schedule, ScheduleExpression, ScheduleTarget, SchedulerError};

vigil_contract::contract!(
    a_one_time_schedule_round_trips,
    a_cron_schedule_round_trips_with_its_timezone,
    upsert_replaces_a_schedule_of_the_same_name,
    list_returns_the_names_with_a_prefix_sorted,
    delete_removes_a_schedule_and_ignores_a_missing_one,
    invalid_names_are_invalid,
    invalid_cron_expressions_and_timezones_are_invalid,
);

/// EventBridge Scheduler keeps whole seconds.
fn instant(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn one_time(name: &str, at: &str, target: ScheduleTarget) -> Schedule {
    Schedule {
        name: name.into(),
        expression: ScheduleExpression::At { at: instant(at) },
        target,
        payload: format!(r#"{{"schedule":"{name}"}}"#),
    }
}

fn cron(name: &str, expression: &str, timezone: &str) -> Schedule {
    Schedule {
        name: name.into(),
        expression: ScheduleExpression::Cron {
            expression: expression.into(),
            timezone: timezone.into(),
        },
        target: ScheduleTarget::Outbox,
        payload: r#"{"flow":"weekly_review"}"#.into(),
    }
}

async fn a_one_time_schedule_round_trips(b: &Backend) {
    // GIVEN a one-time schedule for a delayed workflow step
    let schedule = one_time(
        "wf.run_01-step.2",
        "2030-01-02T03:04:05Z",
        ScheduleTarget::Workflows,
    );

    // WHEN it is created and read back
    b.ports.scheduler.upsert(&schedule).await.unwrap();
    let stored = b.ports.scheduler.get(&schedule.name).await.unwrap();

    // THEN it is exactly as written
    assert_eq!(stored, Some(schedule));
}

async fn a_cron_schedule_round_trips_with_its_timezone(b: &Backend) {
    for (name, expression, timezone) in [
        ("weekly-paris", "0 9 ? * MON *", "Europe/Paris"),
        ("every-5-min", "0/5 * * * ? *", "UTC"),
        ("month-end", "30 23 L * ? *", "America/New_York"),
    ] {
        // GIVEN a cron schedule read in a timezone
        let schedule = cron(name, expression, timezone);

        // WHEN it is created and read back
        b.ports.scheduler.upsert(&schedule).await.unwrap();
        let stored = b.ports.scheduler.get(name).await.unwrap();

        // THEN expression, timezone, target and payload are kept
        assert_eq!(stored, Some(schedule));
    }
}

async fn upsert_replaces_a_schedule_of_the_same_name(b: &Backend) {
    // GIVEN a one-time schedule
    let scheduler = &b.ports.scheduler;
    scheduler
        .upsert(&one_time(
            "approval-timeout",
            "2030-01-01T00:00:00Z",
            ScheduleTarget::Workflows,
        ))
        .await
        .unwrap();

    // WHEN one of the same name is upserted with another time, target and payload
    let mut moved = one_time(
        "approval-timeout",
        "2031-06-30T12:00:00Z",
        ScheduleTarget::Outbox,
    );
    moved.payload = r#"{"moved":true}"#.into();
    scheduler.upsert(&moved).await.unwrap();

    // THEN only the new one exists
    assert_eq!(
        scheduler.get("approval-timeout").await.unwrap(),
        Some(moved)
    );
    assert_eq!(scheduler.list("").await.unwrap(), ["approval-timeout"]);

    // WHEN it is replaced by a cron schedule
    let repeating = cron("approval-timeout", "15 6 * * ? *", "Asia/Tokyo");
    scheduler.upsert(&repeating).await.unwrap();

    // THEN that is what is stored
    assert_eq!(
        scheduler.get("approval-timeout").await.unwrap(),
        Some(repeating)
    );
}

async fn list_returns_the_names_with_a_prefix_sorted(b: &Backend) {
    // GIVEN schedules created out of order
    let scheduler = &b.ports.scheduler;
    for name in ["wf-b.2", "appr-1", "wf-a.1", "wf-b.10", "wf", "wfx-1"] {
        scheduler
            .upsert(&one_time(
                name,
                "2030-01-01T00:00:00Z",
                ScheduleTarget::Workflows,
            ))
            .await
            .unwrap();
    }

    // WHEN they are listed by prefix
    // THEN exactly the names with that prefix come back, sorted
    assert_eq!(
        scheduler.list("wf-").await.unwrap(),
        ["wf-a.1", "wf-b.10", "wf-b.2"]
    );
    assert_eq!(
        scheduler.list("wf").await.unwrap(),
        ["wf", "wf-a.1", "wf-b.10", "wf-b.2", "wfx-1"]
    );
    assert_eq!(
        scheduler.list("").await.unwrap(),
        ["appr-1", "wf", "wf-a.1", "wf-b.10", "wf-b.2", "wfx-1"]
    );
    assert!(scheduler.list("none-").await.unwrap().is_empty());
}

async fn delete_removes_a_schedule_and_ignores_a_missing_one(b: &Backend) {
    // GIVEN two schedules
    let scheduler = &b.ports.scheduler;
    scheduler
        .upsert(&one_time(
            "keep",
            "2030-01-01T00:00:00Z",
            ScheduleTarget::Workflows,
        ))
        .await
        .unwrap();
    scheduler
        .upsert(&cron("drop", "0 9 ? * MON *", "UTC"))
        .await
        .unwrap();

    // WHEN one is deleted, twice, and a name never used is deleted
    scheduler.delete("drop").await.unwrap();
    let again = scheduler.delete("drop").await;
    let never = scheduler.delete("never-created").await;

    // THEN all succeed, and only the other schedule remains
    assert_eq!(again, Ok(()));
    assert_eq!(never, Ok(()));
    assert_eq!(scheduler.get("drop").await.unwrap(), None);
    assert_eq!(scheduler.get("never-created").await.unwrap(), None);
    assert_eq!(scheduler.list("").await.unwrap(), ["keep"]);
}

async fn invalid_names_are_invalid(b: &Backend) {
    let scheduler = &b.ports.scheduler;
    let too_long = "n".repeat(65);
    for name in [
        "",
        "has space",
        "slash/name",
        "colon:name",
        "é",
        too_long.as_str(),
    ] {
        // WHEN a schedule with a malformed name is upserted
        let result = scheduler
            .upsert(&one_time(
                name,
                "2030-01-01T00:00:00Z",
                ScheduleTarget::Workflows,
            ))
            .await;

        // THEN it is invalid
        assert!(
            matches!(result, Err(SchedulerError::Invalid(_))),
            "{name:?}: {result:?}"
        );
    }

    // AND the longest valid name is accepted
    let longest = "n".repeat(64);
    scheduler
        .upsert(&one_time(
            &longest,
            "2030-01-01T00:00:00Z",
            ScheduleTarget::Workflows,
        ))
        .await
        .unwrap();
    assert_eq!(scheduler.list("").await.unwrap(), [longest]);
}

async fn invalid_cron_expressions_and_timezones_are_invalid(b: &Backend) {
    let scheduler = &b.ports.scheduler;
    let cases = [
        ("not a cron", "UTC"),
        ("0 9 * *", "UTC"),
        ("0 25 ? * MON *", "UTC"),
        ("0 9 * * MON *", "UTC"),
        ("0 9 ? * MON *", "Mars/Olympus_Mons"),
        ("0 9 ? * MON *", ""),
    ];
    let mut accepted = Vec::new();
    for (expression, timezone) in cases {
        // WHEN a cron schedule with a bad expression or timezone is upserted
        let result = scheduler.upsert(&cron("bad", expression, timezone)).await;

        // THEN it is invalid
        if !matches!(result, Err(SchedulerError::Invalid(_))) {
            accepted.push(format!("{expression:?} in {timezone:?}: {result:?}"));
        }
    }
    assert!(accepted.is_empty(), "not refused as invalid: {accepted:#?}");

    // AND nothing is stored
    assert!(scheduler.list("").await.unwrap().is_empty());
}
