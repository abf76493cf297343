//! The console's automation-run and scan pages over HTTP: the run table filtered and paged, a
//! run's classification, a scenario's baseline set by hand (stored and audited) with its chart,
//! the scan schedule with a problem shown at its field, a scan run now and found in the history,
//! and a viewer who sees no forms and whose forged posts change nothing.

use axum::body::Body;
use axum::http::StatusCode;
use chrono::{Duration, SecondsFormat};
use serde_json::{Value, json};
use vigil_core::tenancy::Role;
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::console::{FORM, csrf_of, sign_in};
use crate::harness::{Kind, TestApp};
use crate::runs::{post_runs, set_baseline};

both!(
    runs_are_filtered_and_paged_and_a_run_shows_its_classification,
    a_baseline_set_by_hand_is_stored_audited_and_drawn,
    the_scan_schedule_is_saved_and_a_bad_timezone_is_shown_at_its_field,
    a_scan_run_now_is_in_the_history_with_its_scenarios,
    a_viewer_sees_no_forms_and_forged_posts_change_nothing,
);

/// A run of `scenario`, `minutes` before now.
fn run(vigil: &TestApp, id: &str, scenario: &str, credits: f64, minutes: i64) -> Value {
    let at = vigil.now() - Duration::minutes(minutes);
    json!({"run_id": id, "scenario_id": scenario, "scenario_name": format!("{scenario} export"),
           "platform": "make", "status": "success", "credits_total": credits,
           "has_idempotency_key": true, "execution_time_ms": 1200,
           "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true)})
}

async fn post_ok(vigil: &TestApp, tenant: &CreatedTenant, runs: Value) {
    let (status, answer) = post_runs(vigil, tenant, &runs).await;
    assert!(status.is_success(), "{status}: {answer}");
}

async fn get_page(vigil: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let (status, _, page) = vigil
        .page("GET", path, &[("cookie", cookie)], Body::empty())
        .await;
    (status, page)
}

async fn post_form(
    vigil: &TestApp,
    cookie: &str,
    path: &str,
    body: String,
) -> (StatusCode, String) {
    let (status, headers, page) = vigil
        .page("POST", path, &[FORM, ("cookie", cookie)], body)
        .await;
    let location = headers
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default();
    (
        status,
        if page.is_empty() {
            location.to_owned()
        } else {
            page
        },
    )
}

/// The ids of a page's table rows, in order.
fn row_ids(page: &str) -> Vec<String> {
    page.split(r#"<tr data-id=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

/// A scenario with 54 steady runs of 10 credits, one failed, and a baseline of 10.
async fn steady_scenario(vigil: &TestApp, tenant: &CreatedTenant) {
    let steady: Vec<Value> = (0..54)
        .map(|i| run(vigil, &format!("S-{i:02}"), "SYNC", 10.0, 600 - i))
        .collect();
    post_ok(vigil, tenant, Value::Array(steady)).await;
    let mut failed = run(vigil, "F-1", "SYNC", 9.0, 30);
    failed["status"] = json!("failed");
    failed["failed_action_name"] = json!("Upload to Drive");
    failed["error_message"] = json!("quota exceeded");
    post_ok(vigil, tenant, failed).await;
}

async fn runs_are_filtered_and_paged_and_a_run_shows_its_classification(kind: Kind) {
    // GIVEN 55 runs of one scenario with a baseline of 10 credits, then a costly looping run
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    steady_scenario(&vigil, &tenant).await;
    set_baseline(&vigil, &tenant, "SYNC", 10.0).await;
    let mut costly = run(&vigil, "COSTLY", "SYNC", 99.2, 5);
    costly["retry_count"] = json!(4);
    costly["workspace"] = json!("ops");
    post_ok(&vigil, &tenant, costly).await;
    let cookie = sign_in(&vigil, &tenant.api_key).await;

    // WHEN the run table is opened THEN it shows a page of 50, newest first, and the next page
    // holds the rest
    let (status, page) = get_page(&vigil, &cookie, "/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Automation runs</h1>"));
    let first = row_ids(&page);
    assert_eq!(first.len(), 50, "{page}");
    assert_eq!(first[0], "COSTLY");
    let marker = r#"<p><a href=""#;
    let start = page.rfind(marker).expect("a link to older runs") + marker.len();
    let next = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let (_, older) = get_page(&vigil, &cookie, &next).await;
    assert_eq!(row_ids(&older).len(), 6, "{older}");
    assert!(row_ids(&older).iter().all(|id| !first.contains(id)));

    // AND each filter narrows it as the API does
    let (_, failed) = get_page(&vigil, &cookie, "/runs?status=failed").await;
    assert_eq!(row_ids(&failed), ["F-1"]);
    let (_, sev1) = get_page(&vigil, &cookie, "/runs?severity=SEV1&scenario=SYNC").await;
    assert_eq!(row_ids(&sev1), ["COSTLY"]);
    let (_, none) = get_page(&vigil, &cookie, "/runs?scenario=ELSEWHERE").await;
    assert!(none.contains(r#"<p class="empty">"#) && row_ids(&none).is_empty());
    let since = (vigil.now() - Duration::minutes(40)).format("%Y-%m-%dT%H:%M");
    let (_, recent) = get_page(&vigil, &cookie, &format!("/runs?since={since}")).await;
    assert_eq!(row_ids(&recent), ["COSTLY", "F-1"]);
    let (_, window) = get_page(
        &vigil,
        &cookie,
        "/runs?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z",
    )
    .await;
    assert!(row_ids(&window).is_empty());

    // AND a filter value the API does not know is a 400 page
    for bad in [
        "/runs?status=exploded",
        "/runs?severity=SEV9",
        "/runs?since=yesterday",
    ] {
        let (status, page) = get_page(&vigil, &cookie, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.contains(r#"role="alert""#));
    }

    // WHEN the costly run is opened THEN its classification, flags and actions are shown in words
    let (status, page) = get_page(&vigil, &cookie, "/runs/COSTLY").await;
    assert_eq!(status, StatusCode::OK);
    let (_, stored) = vigil.get("/api/v1/runs/COSTLY", &tenant.api_key).await;
    let summary = stored["risk_summary"].as_str().unwrap();
    assert!(page.contains(summary), "{page}");
    assert!(
        page.contains(r#"<li class="tag">retry loop</li>"#),
        "{page}"
    );
    for action in stored["recommended_actions"].as_array().unwrap() {
        assert!(page.contains(action.as_str().unwrap()), "{action}");
    }
    assert!(page.contains("<dd>9.92×</dd>") && page.contains("<dd>high</dd>"));
    assert!(
        page.contains("<dt>workspace</dt><dd><code>&#34;ops&#34;</code></dd>"),
        "{page}"
    );
    let anomaly = stored["anomaly_id"].as_str().unwrap();
    assert!(page.contains(&format!("/anomalies/{anomaly}")));

    // AND another tenant's run is not found
    let other = vigil.tenant("Other").await;
    let other_cookie = sign_in(&vigil, &other.api_key).await;
    let (status, _) = get_page(&vigil, &other_cookie, "/runs/COSTLY").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_baseline_set_by_hand_is_stored_audited_and_drawn(kind: Kind) {
    // GIVEN a scenario without a baseline, and an operator on its page
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    steady_scenario(&vigil, &tenant).await;
    let operator = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let cookie = sign_in(&vigil, &operator).await;
    let (status, page) = get_page(&vigil, &cookie, "/runs/scenarios/SYNC").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>SYNC export</h1>"), "{page}");
    assert!(page.contains("No baseline yet"));
    assert!(
        page.contains(r#"<svg"#) && page.contains(r#"role="img""#),
        "{page}"
    );
    assert!(page.contains("quota exceeded") || page.contains(r#"data-id="F-1""#));
    let csrf = csrf_of(&page);

    // WHEN a value that is no positive number is sent THEN the page says so at the field and
    // keeps the value
    let (status, page) = post_form(
        &vigil,
        &cookie,
        "/runs/scenarios/SYNC/baseline",
        format!("csrf={csrf}&expected_credits=-5"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains(r#"id="expected_credits-error""#), "{page}");
    assert!(page.contains(r#"value="-5""#));

    // WHEN 12.5 is set THEN it is stored as set by hand, audited and shown with the chart's line
    let (status, location) = post_form(
        &vigil,
        &cookie,
        "/runs/scenarios/SYNC/baseline",
        format!("csrf={csrf}&expected_credits=12.5"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/runs/scenarios/SYNC");
    let (_, scenario) = vigil.get("/api/v1/scenarios/SYNC", &tenant.api_key).await;
    assert_eq!(scenario["baseline"]["expected_credits"], 12.5);
    assert_eq!(scenario["baseline"]["source"], "manual");
    let (_, audit) = vigil.get("/api/v1/audit", &tenant.api_key).await;
    let entry = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "scenario.baseline.set")
        .expect("an audit entry");
    assert_eq!(entry["target"], "SYNC");
    assert_eq!(entry["actor"]["kind"], "api_key");
    let (_, page) = get_page(&vigil, &cookie, &location).await;
    assert!(
        page.contains("<dd>set by hand</dd>") && page.contains("<dd>12.5</dd>"),
        "{page}"
    );
    assert!(
        page.contains("runs of SYNC export, against its baseline (baseline 12.5 credits)"),
        "{page}"
    );
    assert!(page.contains(r#"<line class="baseline""#));

    // AND the scenario list shows it
    let (_, list) = get_page(&vigil, &cookie, "/runs/scenarios").await;
    assert_eq!(row_ids(&list), ["SYNC"]);
    assert!(list.contains("<td>12.5</td>"));
}

async fn the_scan_schedule_is_saved_and_a_bad_timezone_is_shown_at_its_field(kind: Kind) {
    // GIVEN an admin on the scans page of a tenant without a schedule
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let cookie = sign_in(&vigil, &tenant.api_key).await;
    let (status, page) = get_page(&vigil, &cookie, "/scans").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No schedule yet") && page.contains(r#"type="time""#));
    let csrf = csrf_of(&page);
    let schedule = |zone: &str| {
        format!(
            "csrf={csrf}&enabled=on&frequency=12h&preferred_time=07%3A30&timezone={zone}&scope=active&scenario_ids="
        )
    };

    // WHEN a timezone that is no IANA name is sent THEN the page shows it at the timezone field
    // with every value kept, and nothing is stored
    let (status, page) = post_form(
        &vigil,
        &cookie,
        "/scans/schedule",
        schedule("Mars%2FOlympus"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(r#"<p id="timezone-error" class="field-error">"#),
        "{page}"
    );
    assert!(page.contains("is not an IANA timezone name"));
    assert!(page.contains(r#"value="Mars/Olympus""#) && page.contains(r#"value="07:30""#));
    assert!(page.contains(r#"<option value="12h" selected>"#));
    let (status, _) = vigil.get("/api/v1/scan-schedule", &tenant.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // WHEN a good one is sent THEN it is stored and the page says when the next scan is
    let (status, location) = post_form(
        &vigil,
        &cookie,
        "/scans/schedule",
        schedule("Europe%2FBerlin"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/scans");
    let (_, stored) = vigil.get("/api/v1/scan-schedule", &tenant.api_key).await;
    assert_eq!(stored["timezone"], "Europe/Berlin");
    assert_eq!(stored["frequency"], "12h");
    assert_eq!(stored["preferred_time"], "07:30");
    assert_eq!(stored["scope"], "active");
    assert_eq!(stored["enabled"], true);
    let (_, page) = get_page(&vigil, &cookie, "/scans").await;
    assert!(
        page.contains("every 12 hours at 07:30 Europe/Berlin. Next scan:"),
        "{page}"
    );
    assert!(page.contains(r#"value="Europe/Berlin""#));

    // AND an unknown frequency is a 400
    let forged = schedule("UTC").replace("frequency=12h", "frequency=hourly");
    let (status, _) = post_form(&vigil, &cookie, "/scans/schedule", forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn a_scan_run_now_is_in_the_history_with_its_scenarios(kind: Kind) {
    // GIVEN a scenario with runs and an operator on the scans page, with no scan yet
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    steady_scenario(&vigil, &tenant).await;
    let operator = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let cookie = sign_in(&vigil, &operator).await;
    let (_, page) = get_page(&vigil, &cookie, "/scans").await;
    assert!(page.contains("No scans yet"));
    assert!(
        !page.contains(r#"action="/scans/schedule""#),
        "only admins edit the schedule"
    );

    // WHEN "Run a scan now" is pressed
    let (status, location) = post_form(
        &vigil,
        &cookie,
        "/scans/run-now",
        format!("csrf={}", csrf_of(&page)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/scans");

    // THEN the scan is in the history and the latest-scan cards
    let (_, scans) = vigil.get("/api/v1/scans", &tenant.api_key).await;
    let scan = &scans["items"][0];
    let id = scan["id"].as_str().expect("a scan");
    let (_, page) = get_page(&vigil, &cookie, "/scans").await;
    assert_eq!(row_ids(&page), [id]);
    assert!(page.contains("Latest scan") && page.contains("run by hand"));

    // AND its page lists the scenarios behind the score, each with its findings
    let marker = format!(r#"<a href="/scans/{id}?at="#);
    let start = page.find(&marker).expect("a link to the scan") + r#"<a href=""#.len();
    let href = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let (status, detail) = get_page(&vigil, &cookie, &href).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(row_ids(&detail), ["SYNC"]);
    let score = scan["results"][0]["score"].as_u64().unwrap();
    assert!(detail.contains(&format!(">{score}</td>")), "{detail}");
    let finding = scan["results"][0]["findings"][0]["message"]
        .as_str()
        .unwrap();
    assert!(detail.contains(finding), "{detail}");

    // AND a scan that is not there is not found
    let (status, _) = get_page(
        &vigil,
        &cookie,
        &format!("/scans/{id}?at=2020-01-01T00:00:00.000Z"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_viewer_sees_no_forms_and_forged_posts_change_nothing(kind: Kind) {
    // GIVEN a scenario with a baseline of 10, and a viewer signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    steady_scenario(&vigil, &tenant).await;
    set_baseline(&vigil, &tenant, "SYNC", 10.0).await;
    let viewer = vigil.key_with_role(&tenant.tenant_id, Role::Viewer).await;
    let cookie = sign_in(&vigil, &viewer).await;

    // WHEN the viewer reads the pages THEN they see the data and no form that would change it
    for path in [
        "/runs",
        "/runs/S-01",
        "/runs/scenarios",
        "/runs/scenarios/SYNC",
        "/scans",
    ] {
        let (status, page) = get_page(&vigil, &cookie, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let posts = page.matches(r#"method="post""#).count();
        assert_eq!(posts, 1, "{path} shows only the sign-out form: {page}");
    }

    // AND their posts are refused, with their own session's token or without one
    let (_, page) = get_page(&vigil, &cookie, "/scans").await;
    let csrf = csrf_of(&page);
    let forged = [
        (
            "/runs/scenarios/SYNC/baseline",
            format!("csrf={csrf}&expected_credits=99"),
        ),
        (
            "/runs/scenarios/SYNC/baseline",
            "expected_credits=99".to_owned(),
        ),
        ("/scans/run-now", format!("csrf={csrf}")),
        (
            "/scans/schedule",
            format!(
                "csrf={csrf}&enabled=on&frequency=daily&preferred_time=09%3A00&timezone=UTC&scope=all"
            ),
        ),
    ];
    for (path, body) in forged {
        let (status, _) = post_form(&vigil, &cookie, path, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} {body}");
    }
    let (_, scenario) = vigil.get("/api/v1/scenarios/SYNC", &tenant.api_key).await;
    assert_eq!(scenario["baseline"]["expected_credits"], 10.0);
    let (_, scans) = vigil.get("/api/v1/scans", &tenant.api_key).await;
    assert_eq!(scans["items"], json!([]));
    let (status, _) = vigil.get("/api/v1/scan-schedule", &tenant.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // AND an admin's post without the page's token is refused too
    let admin = sign_in(&vigil, &tenant.api_key).await;
    let (status, _) = post_form(
        &vigil,
        &admin,
        "/runs/scenarios/SYNC/baseline",
        "csrf=forged&expected_credits=99".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
