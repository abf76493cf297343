//! Automation runs: `POST /hooks/{tenant}/runs` (one run or a batch), classification against the
//! scenario's baseline, credit-spike anomalies, the run and scenario API, metrics and the weekly
//! baseline update.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use vigil_core::ManualClock;
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::harness::{Kind, TestApp};

both!(
    a_run_is_stored_once_and_classified_against_its_baseline,
    a_batch_stores_the_valid_runs_and_lists_the_rejected,
    runs_are_listed_and_filtered,
    metrics_failures_and_trend_of_a_scenario,
    the_baseline_update_learns_steady_scenarios_only,
    bad_runs_and_bad_credentials_are_refused,
);

pub(crate) async fn post_runs(
    vigil: &TestApp,
    tenant: &CreatedTenant,
    body: &Value,
) -> (StatusCode, Value) {
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    vigil
        .call(
            "POST",
            &format!("/hooks/{}/runs", tenant.tenant_id),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
}

fn run(id: &str, scenario: &str, credits: f64) -> Value {
    json!({"run_id": id, "scenario_id": scenario, "scenario_name": "Binder Export",
           "status": "Success", "credits_total": credits, "has_idempotency_key": true})
}

pub(crate) async fn set_baseline(
    vigil: &TestApp,
    tenant: &CreatedTenant,
    scenario: &str,
    credits: f64,
) {
    let (status, body) = vigil
        .send_json(
            "PUT",
            &format!("/api/v1/scenarios/{scenario}/baseline"),
            &tenant.api_key,
            &json!({"expected_credits": credits}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_run_is_stored_once_and_classified_against_its_baseline(kind: Kind) {
    // GIVEN a tenant whose scenario was first seen, then given a baseline of 250 credits
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, first) = post_runs(&vigil, &tenant, &run("RUN-1", "BINDER", 240.0)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["severity"], "SEV4");
    assert_eq!(first["risk_flags"], json!(["no_baseline"]));
    set_baseline(&vigil, &tenant, "BINDER", 250.0).await;

    // WHEN a run uses 2,480 credits (9.92× the baseline) with three retries, posted twice
    let mut costly = run("RUN-2", "BINDER", 2480.0);
    costly["retry_count"] = json!(3);
    costly["workspace"] = json!("ops");
    let (status, answer) = post_runs(&vigil, &tenant, &costly).await;
    let before = vigil.app.ports.request_counts();
    let (again_status, again) = post_runs(&vigil, &tenant, &costly).await;
    let spent = vigil.app.ports.request_counts().since(&before);

    // THEN it is SEV1 with a retry loop, opens one credit_spike anomaly, and the repeat is a
    // duplicate that stores nothing new
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["severity"], "SEV1");
    assert_eq!(answer["risk_flags"], json!(["retry_loop"]));
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["anomaly_id"], answer["anomaly_id"]);
    assert_eq!(
        spent.writes, 1,
        "a duplicate costs its one refused write: {spent:?}"
    );

    let anomaly_id = answer["anomaly_id"].as_str().expect("an anomaly");
    let (_, anomaly) = vigil
        .get(&format!("/api/v1/anomalies/{anomaly_id}"), &tenant.api_key)
        .await;
    assert_eq!(anomaly["rule"], "credit_spike");
    assert_eq!(anomaly["subject"], "BINDER");
    assert_eq!(anomaly["evidence"]["run_id"], "RUN-2");
    assert_eq!(anomaly["evidence"]["baseline_credits"], 250.0);
    let (_, anomalies) = vigil
        .get("/api/v1/anomalies?rule=credit_spike", &tenant.api_key)
        .await;
    assert_eq!(anomalies["items"].as_array().map(Vec::len), Some(1));

    let (status, stored) = vigil.get("/api/v1/runs/RUN-2", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["severity"], "SEV1");
    assert!((stored["variance"].as_f64().unwrap_or_default() - 9.92).abs() < 1e-9);
    assert_eq!(stored["misconfig_likelihood"], "High");
    assert_eq!(stored["extra"], json!({"workspace": "ops"}));
    assert!(
        stored["risk_summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("SEV1")
    );
    assert_eq!(stored["anomaly_id"], answer["anomaly_id"]);

    let (_, scenario) = vigil.get("/api/v1/scenarios/BINDER", &tenant.api_key).await;
    assert_eq!(scenario["name"], "Binder Export");
    assert_eq!(scenario["baseline"]["expected_credits"], 250.0);
    assert_eq!(scenario["baseline"]["source"], "manual");
    let (_, audit) = vigil.get("/api/v1/audit", &tenant.api_key).await;
    assert!(
        audit["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "scenario.baseline.set")
    );
}

async fn a_batch_stores_the_valid_runs_and_lists_the_rejected(kind: Kind) {
    // GIVEN a batch with two good runs, one repeated, one with a wrong type and one without id
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let batch = json!([
        run("B-1", "S", 10.0),
        run("B-2", "S", 11.0),
        run("B-1", "S", 10.0),
        {"run_id": "B-3", "scenario_id": "S", "credits_total": "lots"},
        {"scenario_id": "S"},
    ]);

    // WHEN it is posted
    let (status, answer) = post_runs(&vigil, &tenant, &batch).await;

    // THEN the good runs are stored once each and each bad item is named with its reason
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["duplicates"], 1);
    let rejected = answer["rejected"].as_array().cloned().unwrap_or_default();
    assert_eq!(rejected.len(), 2, "{answer}");
    assert_eq!(rejected[0]["index"], 3);
    assert_eq!(rejected[0]["run_id"], "B-3");
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("credits_total")
    );
    assert_eq!(rejected[1]["index"], 4);
    assert_eq!(rejected[1]["code"], "missing_field");
    let (_, runs) = vigil.get("/api/v1/runs?scenario=S", &tenant.api_key).await;
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(2));
    let (_, scenarios) = vigil.get("/api/v1/scenarios", &tenant.api_key).await;
    assert_eq!(scenarios["items"].as_array().map(Vec::len), Some(1));

    // AND a batch over 100 runs or an empty one is refused whole
    let big = Value::Array((0..101).map(|i| run(&format!("X-{i}"), "S", 1.0)).collect());
    let (status, body) = post_runs(&vigil, &tenant, &big).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_batch"))
    );
    let (status, _) = post_runs(&vigil, &tenant, &json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn runs_are_listed_and_filtered(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let mut failed = run("L-2", "A", 5.0);
    failed["status"] = json!("failed");
    failed["timestamp"] = json!("2026-01-02T10:00:00Z");
    let mut first = run("L-1", "A", 5.0);
    first["timestamp"] = json!("2026-01-01T10:00:00Z");
    let mut other = run("L-3", "B", 5.0);
    other["timestamp"] = json!("2026-01-03T10:00:00Z");
    let (status, _) = post_runs(&vigil, &tenant, &json!([first, failed, other])).await;
    assert_eq!(status, StatusCode::OK);

    let ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["run_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, all) = vigil.get("/api/v1/runs", &tenant.api_key).await;
    assert_eq!(ids(&all), ["L-3", "L-2", "L-1"]);
    let (_, by_scenario) = vigil.get("/api/v1/runs?scenario=A", &tenant.api_key).await;
    assert_eq!(ids(&by_scenario), ["L-2", "L-1"]);
    let (_, failed_only) = vigil
        .get("/api/v1/runs?status=failed", &tenant.api_key)
        .await;
    assert_eq!(ids(&failed_only), ["L-2"]);
    let (_, window) = vigil
        .get(
            "/api/v1/runs?since=2026-01-02T00:00:00Z&until=2026-01-02T10:00:00Z",
            &tenant.api_key,
        )
        .await;
    assert_eq!(ids(&window), ["L-2"]);
    let (_, severe) = vigil
        .get("/api/v1/runs?severity=SEV0", &tenant.api_key)
        .await;
    assert_eq!(ids(&severe), Vec::<String>::new());
    let (_, page) = vigil.get("/api/v1/runs?limit=2", &tenant.api_key).await;
    assert_eq!(ids(&page), ["L-3", "L-2"]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, rest) = vigil
        .get(
            &format!("/api/v1/runs?limit=2&cursor={cursor}"),
            &tenant.api_key,
        )
        .await;
    assert_eq!(ids(&rest), ["L-1"]);

    let (status, bad) = vigil
        .get("/api/v1/runs?status=exploded", &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = vigil.get("/api/v1/runs/nope", &tenant.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another tenant sees none of them.
    let other_tenant = vigil.tenant("Other").await;
    let (status, _) = vigil.get("/api/v1/runs/L-1", &other_tenant.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .expect("time")
}

async fn metrics_failures_and_trend_of_a_scenario(kind: Kind) {
    // GIVEN a scenario with 10 runs yesterday (1 failed) and 10 in the last 24 h (4 failed)
    let clock = Arc::new(ManualClock::new(at("2026-03-10T12:00:00Z")));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let mut batch = Vec::new();
    for i in 0..10 {
        let mut r = run(&format!("P-{i}"), "M", 100.0);
        r["timestamp"] = json!((at("2026-03-09T00:00:00Z") - Duration::hours(i)).to_rfc3339());
        if i == 0 {
            r["status"] = json!("failed");
        }
        batch.push(r);
        let mut r = run(&format!("C-{i}"), "M", 10.0 * (i + 1) as f64);
        r["timestamp"] = json!((at("2026-03-10T11:00:00Z") - Duration::hours(i)).to_rfc3339());
        r["execution_time_ms"] = json!(100 * (i + 1));
        if i < 4 {
            r["status"] = json!("failed");
            r["failed_action_name"] = json!(format!("step {i}"));
            r["error_message"] = json!("timeout");
        }
        batch.push(r);
    }
    let (status, answer) = post_runs(&vigil, &tenant, &Value::Array(batch)).await;
    assert_eq!(
        (status, answer["accepted"].clone()),
        (StatusCode::OK, json!(20)),
        "{answer}"
    );

    // WHEN its metrics and failures over 24 h are read
    let (status, m) = vigil
        .get("/api/v1/scenarios/M/metrics?hours=24", &tenant.api_key)
        .await;
    let (_, failures) = vigil
        .get("/api/v1/scenarios/M/failures", &tenant.api_key)
        .await;

    // THEN they describe the last 24 h, with the failure rate rising against the day before
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        (m["total"].clone(), m["failed"].clone()),
        (json!(10), json!(4))
    );
    assert_eq!(m["failure_rate"], 0.4);
    assert_eq!(m["failure_trend"], "increasing");
    assert_eq!(m["avg_execution_ms"], 550.0);
    assert_eq!(m["p95_execution_ms"], 1000.0);
    assert_eq!(m["credits_total"], 550.0);
    assert_eq!(m["credits_per_run"], 55.0);
    assert_eq!(m["last_failure"]["run_id"], "C-0");
    assert_eq!(m["last_failure"]["failed_action_name"], "step 0");
    let failed: Vec<&str> = failures["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    assert_eq!(failed, ["C-0", "C-1", "C-2", "C-3"]);

    let (status, _) = vigil
        .get("/api/v1/scenarios/M/metrics?hours=0", &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = vigil
        .get("/api/v1/scenarios/nope/metrics", &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_baseline_update_learns_steady_scenarios_only(kind: Kind) {
    // GIVEN a steady scenario (6 runs around 100), an irregular one, one with 4 runs, and one
    // with a baseline set by hand
    let clock = Arc::new(ManualClock::new(at("2026-03-15T23:00:00Z")));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let mut batch = Vec::new();
    let series = [
        ("STEADY", vec![100.0, 98.0, 102.0, 99.0, 101.0, 100.0]),
        ("WILD", vec![10.0, 200.0, 15.0, 180.0, 20.0, 250.0]),
        ("FEW", vec![50.0, 50.0, 50.0, 50.0]),
        ("HAND", vec![70.0, 70.0, 70.0, 70.0, 70.0]),
    ];
    for (scenario, credits) in &series {
        for (i, c) in credits.iter().enumerate() {
            let mut r = run(&format!("{scenario}-{i}"), scenario, *c);
            r["timestamp"] =
                json!((at("2026-03-14T00:00:00Z") - Duration::hours(i as i64)).to_rfc3339());
            r["execution_time_ms"] = json!(1000);
            batch.push(r);
        }
    }
    // A failed run's credits do not count towards the baseline.
    let mut failed = run("STEADY-failed", "STEADY", 5000.0);
    failed["status"] = json!("failed");
    batch.push(failed);
    let (status, _) = post_runs(&vigil, &tenant, &Value::Array(batch)).await;
    assert_eq!(status, StatusCode::OK);
    set_baseline(&vigil, &tenant, "HAND", 80.0).await;

    // WHEN the weekly update runs (the CLI does what the schedule does)
    let report = vigil
        .app
        .automation_runs()
        .update_baselines(&tenant.tenant_id)
        .await
        .expect("update");

    // THEN only the steady scenario gets the median; the others are listed with the reason
    let updated: Vec<&str> = report
        .updated
        .iter()
        .map(|c| c.scenario_id.as_str())
        .collect();
    assert_eq!(updated, ["STEADY"]);
    let mut unchanged: Vec<&str> = report
        .unchanged
        .iter()
        .map(|c| c.scenario_id.as_str())
        .collect();
    unchanged.sort_unstable();
    assert_eq!(unchanged, ["FEW", "HAND", "WILD"]);
    let (_, steady) = vigil.get("/api/v1/scenarios/STEADY", &tenant.api_key).await;
    assert_eq!(steady["baseline"]["expected_credits"], 100.0);
    assert_eq!(steady["baseline"]["sample_size"], 6);
    assert_eq!(steady["baseline"]["source"], "auto");
    assert_eq!(steady["stats"]["median_execution_ms"], 1000.0);
    let (_, hand) = vigil.get("/api/v1/scenarios/HAND", &tenant.api_key).await;
    assert_eq!(hand["baseline"]["expected_credits"], 80.0);
    let (_, wild) = vigil.get("/api/v1/scenarios/WILD", &tenant.api_key).await;
    assert_eq!(wild["baseline"], Value::Null);
    let (_, audit) = vigil.get("/api/v1/audit", &tenant.api_key).await;
    assert!(
        audit["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "scenario.baseline.update" && e["target"] == "STEADY")
    );

    // AND a new run is judged against the learned baseline and the scenario's p99
    let (_, answer) = post_runs(&vigil, &tenant, &run("STEADY-new", "STEADY", 500.0)).await;
    assert_eq!(answer["severity"], "SEV1");
    assert_eq!(answer["risk_flags"], json!(["retry_loop"]));
}

async fn bad_runs_and_bad_credentials_are_refused(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let cases = [
        (json!({"scenario_id": "S"}), "missing_field"),
        (
            json!({"run_id": "r", "scenario_id": "S", "credits_total": "12"}),
            "invalid_field",
        ),
        (
            json!({"run_id": "r", "scenario_id": "S", "status": "exploded"}),
            "invalid_field",
        ),
        (json!("just a string"), "invalid_run"),
    ];
    for (body, code) in cases {
        let (status, answer) = post_runs(&vigil, &tenant, &body).await;
        assert_eq!(
            (status, answer["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(code)),
            "{body}"
        );
    }
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    let (status, answer) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/runs", tenant.tenant_id),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            "{not json".to_owned(),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_json"))
    );
    let (status, _) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/runs", tenant.tenant_id),
            &[
                ("authorization", "Bearer wrong"),
                ("content-type", "application/json"),
            ],
            run("r", "S", 1.0).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, runs) = vigil.get("/api/v1/runs", &tenant.api_key).await;
    assert_eq!(runs["items"], json!([]), "nothing was stored");

    // A run signed with the tenant's webhook secret (Standard Webhooks) needs no token.
    let body = run("signed", "S", 1.0).to_string();
    let ts = vigil.now().timestamp();
    let signature =
        vigil_core::standard_webhooks::sign(&tenant.webhook_secret, "msg_1", ts, body.as_bytes())
            .expect("sign");
    let (status, answer) =
        crate::ingest::post_signed(&vigil, &tenant.tenant_id, "runs", &signature, ts, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, _) =
        crate::ingest::post_signed(&vigil, &tenant.tenant_id, "runs", &signature, ts, "{}").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signature over another body"
    );
}
