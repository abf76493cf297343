//! Watching automation runs over time: failure alerts (once per scenario and window), health
//! scans on a schedule, and the weekly review.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use vigil_core::ManualClock;
use vigil_core::tenancy::tenants::CreatedTenant;
use vigil_runtime::deployment::{Flow, FlowInvocation};

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};
use crate::runs::{at, post_runs};

both!(
    a_failure_alert_fires_once_per_scenario_and_window,
    alert_settings_are_validated_audited_and_overridable,
    a_test_alert_goes_through_the_outbox,
    per_tenant_severity_thresholds_grade_runs,
    a_due_scan_scores_scenarios_and_moves_to_its_next_time,
    the_weekly_review_is_stored_once_with_a_stable_digest,
);

fn run_at(id: &str, scenario: &str, status: &str, time: DateTime<Utc>, credits: f64) -> Value {
    json!({"run_id": id, "scenario_id": scenario, "status": status, "credits_total": credits,
           "timestamp": time.to_rfc3339(), "has_idempotency_key": true})
}

async fn anomalies_of(vigil: &TestApp, tenant: &CreatedTenant, rule: &str) -> Vec<Value> {
    let (_, body) = vigil
        .get(&format!("/api/v1/anomalies?rule={rule}"), &tenant.api_key)
        .await;
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn a_failure_alert_fires_once_per_scenario_and_window(kind: Kind) {
    // GIVEN default alert settings: 3 failures within 24 h
    let clock = Arc::new(ManualClock::new(at("2026-04-02T12:00:00Z")));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;

    // WHEN five runs of one scenario fail within the day, one at a time
    let mut alerts = Vec::new();
    for i in 0..5 {
        let time = at("2026-04-02T08:00:00Z") + Duration::minutes(10 * i);
        let (status, answer) = post_runs(
            &vigil,
            &tenant,
            &run_at(&format!("F-{i}"), "SYNC", "failed", time, 1.0),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        alerts.push(answer["alert_anomaly_id"].clone());
    }
    // A success and another scenario's failure do not count.
    post_runs(
        &vigil,
        &tenant,
        &run_at("OK-1", "SYNC", "success", at("2026-04-02T09:00:00Z"), 1.0),
    )
    .await;
    post_runs(
        &vigil,
        &tenant,
        &run_at("O-1", "OTHER", "failed", at("2026-04-02T09:00:00Z"), 1.0),
    )
    .await;

    // THEN the third failure crosses the threshold and opens the one anomaly of the window
    assert_eq!(alerts[0], Value::Null);
    assert_eq!(alerts[1], Value::Null);
    assert!(alerts[2].is_string(), "{alerts:?}");
    assert_eq!(alerts[3], alerts[2]);
    assert_eq!(alerts[4], alerts[2]);
    let opened = anomalies_of(&vigil, &tenant, "failure_threshold").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["subject"], "SYNC");
    assert_eq!(opened[0]["evidence"]["crossing"]["kind"], "failure_count");
    let (_, events) = vigil
        .get("/api/v1/events?type=threshold.exceeded", &tenant.api_key)
        .await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );

    // AND three failures in the next day's window open a second one
    for i in 0..3 {
        let time = at("2026-04-03T08:00:00Z") + Duration::minutes(i);
        post_runs(
            &vigil,
            &tenant,
            &run_at(&format!("G-{i}"), "SYNC", "failed", time, 1.0),
        )
        .await;
    }
    assert_eq!(
        anomalies_of(&vigil, &tenant, "failure_threshold")
            .await
            .len(),
        2
    );
}

async fn alert_settings_are_validated_audited_and_overridable(kind: Kind) {
    // The runs below are timed from the app's now, on a pinned clock: their alert windows and
    // hour counters are the same whenever the test runs.
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, defaults) = vigil.get("/api/v1/alert-settings", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(defaults["failure_threshold"], 3);
    assert_eq!(defaults["time_window_hours"], 24);
    assert_eq!(defaults["alert_on_critical"], true);

    // Bad settings are refused, naming the field, and nothing changes.
    for (body, field) in [
        (json!({"failure_threshold": 0}), "failure_threshold"),
        (json!({"time_window_hours": 10000}), "time_window_hours"),
        (
            json!({"failure_rate": {"rate": 2.0, "min_runs": 5}}),
            "failure_rate.rate",
        ),
        (
            json!({"scenarios": {"S": {"consecutive_failures": 0}}}),
            "scenarios.S.consecutive_failures",
        ),
        (
            json!({"severity_thresholds": {"sev0": 1, "sev1": 5, "sev2": 2, "sev3": 1.5}}),
            "thresholds",
        ),
    ] {
        let (status, answer) = vigil
            .send_json("PUT", "/api/v1/alert-settings", &tenant.api_key, &body)
            .await;
        // Thresholds out of order break a rule between fields: 422; the rest is 400.
        let expected = if field == "thresholds" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{body}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{answer}"
        );
    }
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/alert-settings",
            &tenant.api_key,
            &json!({"surprise": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let (status, _) = vigil
        .send_json("PUT", "/api/v1/alert-settings", &viewer, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // GIVEN two failures in a row alert on NIGHTLY, and NOISY never alerts
    let settings = json!({
        "failure_threshold": 10,
        "scenarios": {
            "NIGHTLY": {"consecutive_failures": 2},
            "NOISY": {"enabled": false}
        }
    });
    let (status, saved) = vigil
        .send_json("PUT", "/api/v1/alert-settings", &tenant.api_key, &settings)
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["scenarios"]["NIGHTLY"]["consecutive_failures"], 2);
    let (_, audit) = vigil.get("/api/v1/audit", &tenant.api_key).await;
    assert!(
        audit["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "alert_settings.update")
    );

    // WHEN each fails twice after a success
    let now = vigil.now();
    for scenario in ["NIGHTLY", "NOISY"] {
        let batch = json!([
            run_at(
                &format!("{scenario}-0"),
                scenario,
                "success",
                now - Duration::minutes(30),
                1.0
            ),
            run_at(
                &format!("{scenario}-1"),
                scenario,
                "failed",
                now - Duration::minutes(20),
                1.0
            ),
        ]);
        post_runs(&vigil, &tenant, &batch).await;
        post_runs(
            &vigil,
            &tenant,
            &run_at(
                &format!("{scenario}-2"),
                scenario,
                "failed",
                now - Duration::minutes(10),
                1.0,
            ),
        )
        .await;
    }

    // THEN only NIGHTLY alerts, for its failures in a row
    let opened = anomalies_of(&vigil, &tenant, "failure_threshold").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["subject"], "NIGHTLY");
    assert_eq!(opened[0]["evidence"]["crossing"]["kind"], "consecutive");
}

async fn a_test_alert_goes_through_the_outbox(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, notification) = vigil
        .send_json(
            "POST",
            "/api/v1/alert-settings/test",
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{notification}");
    assert_eq!(notification["type"], "test.alert");
    let id = notification["id"].as_str().expect("id");
    let (status, _) = vigil
        .get(&format!("/api/v1/events/{id}"), &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn per_tenant_severity_thresholds_grade_runs(kind: Kind) {
    // GIVEN a tenant that calls 3× its baseline SEV1 (runs at the now of a pinned clock)
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let tenant = vigil.tenant("Acme").await;
    post_runs(
        &vigil,
        &tenant,
        &run_at("first", "S", "success", vigil.now(), 100.0),
    )
    .await;
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/scenarios/S/baseline",
            &tenant.api_key,
            &json!({"expected_credits": 100.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let thresholds = json!({"severity_thresholds": {"sev0": 6, "sev1": 3, "sev2": 2, "sev3": 1.2}});
    let (status, body) = vigil
        .send_json(
            "PUT",
            "/api/v1/alert-settings",
            &tenant.api_key,
            &thresholds,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // WHEN a run uses 300 credits
    let (_, answer) = post_runs(
        &vigil,
        &tenant,
        &run_at("costly", "S", "success", vigil.now(), 300.0),
    )
    .await;

    // THEN it is SEV1 (the default thresholds would say SEV2)
    assert_eq!(answer["severity"], "SEV1");
}

async fn a_due_scan_scores_scenarios_and_moves_to_its_next_time(kind: Kind) {
    // GIVEN a daily 09:00 Chicago schedule, a healthy scenario and one failing most runs
    let clock = Arc::new(ManualClock::new(at("2026-03-07T16:00:00Z")));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let schedule =
        json!({"frequency": "daily", "preferred_time": "09:00", "timezone": "America/Chicago"});
    let (status, saved) = vigil
        .send_json("PUT", "/api/v1/scan-schedule", &tenant.api_key, &schedule)
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // 09:00 CST on 7 March has passed (15:00Z): the next is 8 March, 09:00 CDT.
    assert_eq!(saved["next_scan_at"], "2026-03-08T14:00:00Z");
    assert_eq!(saved["scope"], "all");
    let mut batch = Vec::new();
    for i in 0..10 {
        let time = at("2026-03-08T02:00:00Z") + Duration::minutes(30 * i);
        batch.push(run_at(&format!("H-{i}"), "HEALTHY", "success", time, 1.0));
        let status = if i < 9 { "failed" } else { "success" };
        batch.push(run_at(&format!("B-{i}"), "BROKEN", status, time, 1.0));
    }
    let (status, _) = post_runs(&vigil, &tenant, &Value::Array(batch)).await;
    assert_eq!(status, StatusCode::OK);

    // WHEN the summary tick runs before the scan is due and after
    let summary = vigil_summary::Services::new(&vigil.app);
    let tick = || {
        vigil_summary::run_flow(
            &summary,
            FlowInvocation {
                flow: Flow::SummaryTick,
            },
        )
    };
    clock.set(at("2026-03-08T13:55:00Z"));
    let early = tick().await.expect("tick");
    clock.set(at("2026-03-08T14:05:00Z"));
    let due = tick().await.expect("tick");
    let again = tick().await.expect("tick");

    // THEN one scan runs, the broken scenario scores below 50 and opens an anomaly
    assert_eq!(early.detail["scans"]["scans"], json!([]));
    assert_eq!(
        due.detail["scans"]["scans"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(again.detail["scans"]["scans"], json!([]));
    let (_, scans) = vigil.get("/api/v1/scans?limit=5", &tenant.api_key).await;
    let scan = &scans["items"][0];
    assert_eq!(scan["trigger"], "scheduled");
    assert_eq!(scan["scheduled_for"], "2026-03-08T14:00:00Z");
    assert_eq!(scan["scenarios_scanned"], 2);
    assert_eq!(scan["below_threshold"], 1);
    assert_eq!(scan["results"][0]["scenario_id"], "BROKEN");
    assert!(scan["results"][0]["score"].as_u64().unwrap_or(100) < 50);
    assert_eq!(scan["results"][1]["score"], 100);
    let opened = anomalies_of(&vigil, &tenant, "scan_health").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["subject"], "BROKEN");
    let (_, completions) = vigil
        .get("/api/v1/events?type=scan.completed", &tenant.api_key)
        .await;
    assert_eq!(completions["items"].as_array().map(Vec::len), Some(1));

    // AND the schedule moves to the next day, still 09:00 local
    let (_, schedule) = vigil.get("/api/v1/scan-schedule", &tenant.api_key).await;
    assert_eq!(schedule["next_scan_at"], "2026-03-09T14:00:00Z");
    assert_eq!(schedule["last_scan_at"], "2026-03-08T14:00:00Z");

    // AND a scan on demand runs now; deleting the schedule stops the ticks
    let (status, manual) = vigil
        .send_json(
            "POST",
            "/api/v1/scan-schedule/run-now",
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{manual}");
    assert_eq!(manual["trigger"], "manual");
    let (status, _) = vigil
        .call(
            "DELETE",
            "/api/v1/scan-schedule",
            &[(
                "authorization",
                &format!("Bearer {}", tenant.api_key.expose()),
            )],
            String::new(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    clock.set(at("2026-03-09T14:05:00Z"));
    assert_eq!(
        tick().await.expect("tick").detail["scans"]["scans"],
        json!([])
    );
    let (status, _) = vigil.get("/api/v1/scan-schedule", &tenant.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bad) = vigil
        .send_json(
            "PUT",
            "/api/v1/scan-schedule",
            &tenant.api_key,
            &json!({"timezone": "Mars/Base"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

async fn the_weekly_review_is_stored_once_with_a_stable_digest(kind: Kind) {
    // GIVEN a week of runs for two tenants with the same data
    let clock = Arc::new(ManualClock::new(at("2026-03-16T09:00:00Z")));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let first = vigil.tenant("Acme").await;
    let second = vigil.tenant("Twin").await;
    let mut batch = Vec::new();
    for i in 0..12 {
        let time = at("2026-03-09T10:00:00Z") + Duration::hours(12 * i);
        let credits = if i == 3 { 900.0 } else { 100.0 + i as f64 };
        batch.push(run_at(
            &format!("W-{i}"),
            "EXPORT",
            "success",
            time,
            credits,
        ));
        let status = if i % 3 == 0 { "failed" } else { "success" };
        batch.push(run_at(&format!("X-{i}"), "IMPORT", status, time, 10.0));
    }
    // Outside the week: not counted.
    batch.push(run_at(
        "late",
        "EXPORT",
        "success",
        at("2026-03-16T00:00:00Z"),
        5000.0,
    ));
    for tenant in [&first, &second] {
        let (status, _) = post_runs(&vigil, tenant, &Value::Array(batch.clone())).await;
        assert_eq!(status, StatusCode::OK);
    }

    // WHEN the Monday flow runs twice
    let summary = vigil_summary::Services::new(&vigil.app);
    let flow = || {
        vigil_summary::run_flow(
            &summary,
            FlowInvocation {
                flow: Flow::WeeklyReview,
            },
        )
    };
    let report = flow().await.expect("flow");
    let again = flow().await.expect("flow");

    // THEN each tenant has one review of 9–16 March with the same digest
    assert_eq!(report.detail["week_start"], "2026-03-09");
    assert_eq!(report.detail["weekly_reviews_sent"], 2);
    assert_eq!(again.detail["weekly_reviews_sent"], 0);
    let review = |tenant: &CreatedTenant| {
        let key = tenant.api_key.clone();
        let vigil = &vigil;
        async move {
            let (_, list) = vigil.get("/api/v1/reports?kind=weekly_review", &key).await;
            assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
            list["items"][0].clone()
        }
    };
    let (one, two) = (review(&first).await, review(&second).await);
    assert_eq!(one["kind"], "weekly_review");
    assert_eq!(one["digest"].as_str().map(str::len), Some(64));
    assert_eq!(one["digest"], two["digest"]);
    let facts = &one["facts"];
    assert_eq!(facts["total_runs"], 24);
    assert_eq!(facts["failed_runs"], 4);
    assert_eq!(facts["total_credits"], 2183.0);
    assert_eq!(facts["top_scenarios"][0]["scenario_id"], "EXPORT");
    assert_eq!(facts["failure_rates"][0]["scenario_id"], "IMPORT");
    assert!(
        (facts["failure_rates"][0]["failure_rate"]
            .as_f64()
            .unwrap_or_default()
            - 1.0 / 3.0)
            .abs()
            < 1e-9
    );
    let (_, daily) = vigil.get("/api/v1/reports", &first.api_key).await;
    assert_eq!(
        daily["items"],
        json!([]),
        "daily summaries are listed apart"
    );
    let (_, ready) = vigil
        .get("/api/v1/events?type=summary.ready", &first.api_key)
        .await;
    assert_eq!(ready["items"].as_array().map(Vec::len), Some(1));
}
