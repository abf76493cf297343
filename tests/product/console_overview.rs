//! The console's overview, reports and API reference over HTTP, on both backends: the overview
//! says what the API says for the same data, reports read as pages with their digest, the API
//! reference lists every path of the OpenAPI document, htmx is served from the binary under the
//! same CSP, and an inbox action works both as a plain form and as an in-place request.

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::both;
use crate::console::{FORM, csrf_of, inbox_item, sign_in};
use crate::harness::{Kind, TestApp, pinned_clock};
use crate::runs::{at, post_runs};

both!(
    the_overview_says_what_the_api_says,
    reports_read_as_pages_with_their_digest,
    the_api_reference_lists_every_path_of_the_document,
    htmx_is_served_from_the_binary_under_the_same_policy,
    an_inbox_action_works_as_a_form_and_in_place
);

/// The policy every console answer carries: nothing inline, nothing from elsewhere.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn run(id: &str, scenario: &str, status: &str, time: &str, credits: f64) -> Value {
    json!({"run_id": id, "scenario_id": scenario, "status": status, "credits_total": credits,
           "timestamp": at(time).to_rfc3339(), "has_idempotency_key": true})
}

async fn page_of(vigil: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let (status, _, page) = vigil
        .page("GET", path, &[("cookie", cookie)], Body::empty())
        .await;
    (status, page)
}

async fn the_overview_says_what_the_api_says(kind: Kind) {
    // GIVEN (on Wednesday 18 November) a week of automation runs, one run from before the week,
    // an open inbox item, a workflow run waiting for approval and one completed, and
    // yesterday's daily summary
    let clock = pinned_clock();
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let runs = json!([
        run("m1", "EXPORT", "success", "2026-11-16T09:00:00Z", 10.0),
        run("m2", "EXPORT", "success", "2026-11-16T10:00:00Z", 10.0),
        run("t1", "EXPORT", "success", "2026-11-17T09:00:00Z", 12.5),
        run("t2", "EXPORT", "success", "2026-11-17T11:00:00Z", 10.0),
        run("t3", "IMPORT", "failed", "2026-11-17T12:00:00Z", 0.5),
        run("t4", "IMPORT", "failed", "2026-11-17T14:00:00Z", 0.5),
        run("w1", "IMPORT", "failed", "2026-11-18T08:00:00Z", 1.0),
        run("old", "EXPORT", "success", "2026-11-05T09:00:00Z", 900.0),
    ]);
    let (status, body) = post_runs(&vigil, &tenant, &runs).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    inbox_item(&vigil, &tenant.tenant_id, &tenant.api_key).await;
    for (name, steps) in [
        (
            "Gated",
            json!([{"type": "approval", "timeout_minutes": 600},
                   {"type": "create_task", "title": "Call {{client.id}}"}]),
        ),
        (
            "Quick",
            json!([{"type": "create_task", "title": "Call {{client.id}}"}]),
        ),
    ] {
        let flow =
            json!({"name": name, "triggers": [{"type": "message_received"}], "steps": steps});
        let (status, body) = vigil
            .send_json("POST", "/api/v1/workflows", &tenant.api_key, &flow)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let event = json!({"id": "m1", "type": "message.received",
        "occurred_at": vigil.now().to_rfc3339(), "subject": {"client_id": "c1"},
        "data": {"text": "hello"}});
    crate::workflows::post_event(&vigil, &tenant, event).await;
    crate::workflows::drain_workflow_queue(&vigil).await;
    let yesterday = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
    let (summary, _) = vigil
        .app
        .reports()
        .daily_summary(&tenant.tenant_id, yesterday)
        .await
        .expect("daily summary");
    // The approval has waited two hours by the time the overview is read.
    clock.advance(Duration::hours(2));

    // WHEN the admin opens the overview
    let cookie = sign_in(&vigil, &tenant.api_key).await;
    let (status, page) = page_of(&vigil, "/", &cookie).await;
    assert_eq!(status, StatusCode::OK);

    // THEN what is open is what the API counts
    let (_, counts) = vigil.get("/api/v1/inbox/counts", &tenant.api_key).await;
    let open_items = counts["open"].as_u64().unwrap();
    assert!(open_items >= 1, "{counts}");
    assert!(
        page.contains(&format!(
            r#"<span class="figure">{open_items}</span> open in the inbox"#
        )),
        "{page}"
    );
    let (_, open) = vigil
        .get("/api/v1/anomalies?status=open&limit=200", &tenant.api_key)
        .await;
    let open = open["items"].as_array().map_or(0, Vec::len);
    assert!(open >= 1, "three failures in a day open a failure alert");
    assert!(page.contains(&format!(
        r#"<span class="figure">{open}</span> open anomalies"#
    )));

    // AND the week's runs are the API's runs since Thursday, charted day by day
    let (_, listed) = vigil
        .get(
            "/api/v1/runs?since=2026-11-12T00:00:00Z&limit=200",
            &tenant.api_key,
        )
        .await;
    let listed = listed["items"].as_array().cloned().unwrap_or_default();
    let failed = listed.iter().filter(|r| r["status"] == "failed").count();
    let credits: f64 = listed
        .iter()
        .filter_map(|r| r["credits_total"].as_f64())
        .sum();
    assert_eq!((listed.len(), failed, credits), (7, 3, 44.5));
    assert!(
        page.contains("7 runs, 3 failed, 44.5 credits used."),
        "{page}"
    );
    for label in [
        "Failure rate of automation runs per day, last 7 days",
        "Credits used by automation runs per day, last 7 days",
    ] {
        assert!(page.contains(&format!(r#"role="img" aria-label="{label}""#)));
    }
    for (day, rate, credits) in [
        ("Thu 12", "0%", "0"),
        ("Mon 16", "0%", "20"),
        ("Tue 17", "50%", "23.5"),
        ("Wed 18", "100%", "1"),
    ] {
        for value in [rate, credits] {
            assert!(
                page.contains(&format!(r#"<th scope="row">{day}</th><td>{value}</td>"#)),
                "{day}: {value}"
            );
        }
    }

    // AND the workflows' figures are the analytics of the API
    let (_, analytics) = vigil
        .get("/api/v1/workflows/analytics?days=7", &tenant.api_key)
        .await;
    let overall = &analytics["overall"];
    assert_eq!(overall["success_rate"], 1.0, "{analytics}");
    assert_eq!(overall["approvals_waiting"], 1);
    assert_eq!(overall["oldest_approval_age_seconds"], 7200);
    assert!(page.contains(r#"<span class="figure">100.0%</span> of finished runs succeeded"#));
    assert!(page.contains(&format!(
        r#"<span class="figure">{}</span> runs started"#,
        overall["runs"]
    )));
    assert!(
        page.contains(r#"<span class="figure">1</span> approval waiting, oldest 2 h"#),
        "{page}"
    );

    // AND yesterday's summary leads to its report
    assert!(page.contains(&format!(
        r#"<a href="/reports/{}">Daily summary for 2026-11-17</a>"#,
        summary.id
    )));
    assert!(page.contains("payment attempts"));
}

async fn reports_read_as_pages_with_their_digest(kind: Kind) {
    // GIVEN a tenant with a daily summary and a weekly review, and another tenant
    let clock = pinned_clock();
    let vigil = TestApp::start_with_clock(kind, &[], clock).await;
    let tenant = vigil.tenant("Acme").await;
    let other = vigil.tenant("Other").await;
    let runs = json!([
        run("r1", "EXPORT", "success", "2026-11-10T09:00:00Z", 10.0),
        run("r2", "EXPORT", "failed", "2026-11-11T09:00:00Z", 2.0),
    ]);
    assert_eq!(post_runs(&vigil, &tenant, &runs).await.0, StatusCode::OK);
    let reports = vigil.app.reports();
    let (daily, _) = reports
        .daily_summary(
            &tenant.tenant_id,
            NaiveDate::from_ymd_opt(2026, 11, 17).unwrap(),
        )
        .await
        .expect("daily summary");
    let (weekly, _) = reports
        .weekly_review(
            &tenant.tenant_id,
            NaiveDate::from_ymd_opt(2026, 11, 9).unwrap(),
            vigil.app.automation_runs(),
        )
        .await
        .expect("weekly review");
    let cookie = sign_in(&vigil, &tenant.api_key).await;

    // WHEN the reports are listed THEN daily summaries come first, weekly reviews by their kind
    let (status, list) = page_of(&vigil, "/reports", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&format!(r#"<tr data-id="{}">"#, daily.id)),
        "{list}"
    );
    assert!(!list.contains(&weekly.id));
    let (_, list) = page_of(&vigil, "/reports?kind=weekly_review", &cookie).await;
    assert!(list.contains(&format!(
        r#"<a href="/reports/{}">Weekly review of the week of 2026-11-09</a>"#,
        weekly.id
    )));

    // WHEN the weekly review is opened THEN it reads as headings and tables with the API's digest
    let (status, page) = page_of(&vigil, &format!("/reports/{}", weekly.id), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (_, api) = vigil
        .get(&format!("/api/v1/reports/{}", weekly.id), &tenant.api_key)
        .await;
    let digest = api["digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(page.contains(&format!(r#"<code class="digest">{digest}</code>"#)));
    assert!(page.contains("The SHA-256 of this report"));
    assert!(page.contains("<h1>Weekly review of the week of 2026-11-09</h1>"));
    assert!(page.contains(r#"<h2 id="watch-heading">Watch</h2>"#));
    assert!(
        page.contains("<caption>Runs of the week</caption>"),
        "{page}"
    );
    assert!(
        page.contains(r#"<th scope="row">Failed runs</th><td>1</td>"#),
        "{page}"
    );
    assert!(
        !page.contains(r#""total_runs""#),
        "facts are shown as tables, not JSON"
    );
    let (status, page) = page_of(&vigil, &format!("/reports/{}", daily.id), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<th scope="row">Payment failure rate</th><td>0.0%</td>"#),
        "{page}"
    );

    // AND an unknown kind is a 400 page, and a report of no one or of another tenant is not found
    let (status, _) = page_of(&vigil, "/reports?kind=monthly", &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = page_of(&vigil, "/reports/rpt_nothing", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = sign_in(&vigil, &other.api_key).await;
    let (status, _) = page_of(&vigil, &format!("/reports/{}", daily.id), &stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, empty) = page_of(&vigil, "/reports", &stranger).await;
    assert!(
        empty.contains(r#"<p class="empty">No daily summaries yet."#),
        "{empty}"
    );
}

async fn the_api_reference_lists_every_path_of_the_document(kind: Kind) {
    // GIVEN a viewer signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let cookie = sign_in(&vigil, &viewer).await;

    // WHEN the API reference is opened
    let (status, page) = page_of(&vigil, "/api-reference", &cookie).await;

    // THEN every path and operation of the served document is there, each with its anchor
    assert_eq!(status, StatusCode::OK);
    let document = vigil_http::openapi_document();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() > 30);
    for (path, item) in paths {
        assert!(
            page.contains(&format!(r#"<code class="path">{path}</code>"#)),
            "{path} is missing"
        );
        for method in item.as_object().unwrap().keys() {
            let anchor = format!("{method}-{path}")
                .to_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("-");
            assert!(
                page.contains(&format!(r#"<h3 id="{anchor}">"#)),
                "{method} {path}"
            );
        }
    }
    assert!(page.contains(r#"<h3 id="schema-errorbody"><code>ErrorBody</code></h3>"#));
    assert!(!page.contains("cdn"), "nothing is loaded from elsewhere");
}

async fn htmx_is_served_from_the_binary_under_the_same_policy(kind: Kind) {
    // GIVEN the console
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;

    // WHEN htmx is asked for THEN it comes from the binary, as JavaScript kept for long
    let (status, headers, script) = vigil
        .page("GET", "/assets/htmx.min.js?v=2.0.10", &[], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(script.contains(r#"version:"2.0.10""#));
    assert_eq!(headers["content-security-policy"], POLICY);
    // A browser that takes gzip gets the release's own packed file (a third of the size).
    let (status, headers, packed) = vigil
        .get_bytes(
            "/assets/htmx.min.js?v=2.0.10",
            &[("accept-encoding", "gzip, deflate, br")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        &packed[..],
        &include_bytes!("../../shared/ui/assets/vendor/htmx/htmx.min.js.gz")[..]
    );
    assert!(packed.len() * 3 < script.len());

    // AND a signed-in page loads it, configured to add no inline style and evaluate nothing,
    // with the CSRF token for in-place requests, and still nothing inline
    let cookie = sign_in(&vigil, &tenant.api_key).await;
    let (status, headers, page) = vigil
        .page("GET", "/", &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-security-policy"], POLICY);
    assert!(page.contains(r#"<script src="/assets/htmx.min.js?v=2.0.10" defer></script>"#));
    assert!(page.contains(r#""includeIndicatorStyles":false"#));
    assert!(page.contains(r#""allowEval":false"#));
    let csrf = csrf_of(&page);
    assert!(page.contains(&format!(r#"hx-headers='{{"X-CSRF-Token": "{csrf}"}}'"#)));
    assert!(page.contains(r##"<main id="main" hx-indicator="#loading">"##));
    assert_eq!(
        page.matches("<script").count(),
        1,
        "one script, from a file"
    );
    for inline in [" style=", "hx-on", "javascript:"] {
        assert!(!page.contains(inline), "{inline}");
    }
}

async fn an_inbox_action_works_as_a_form_and_in_place(kind: Kind) {
    // GIVEN two open inbox items and an admin on the inbox
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let first = inbox_item(&vigil, &tenant.tenant_id, &tenant.api_key).await;
    let body = json!({"severity": "SEV3", "title": "Second"});
    vigil
        .send_json("POST", "/api/v1/events/test", &tenant.api_key, &body)
        .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, StdDuration::from_secs(30))
        .await;
    let (_, inbox) = vigil
        .get("/api/v1/inbox?status=open", &tenant.api_key)
        .await;
    let second = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .find(|id| *id != first)
        .expect("a second item");
    let cookie = sign_in(&vigil, &tenant.api_key).await;
    let (_, page) = page_of(&vigil, "/inbox", &cookie).await;
    let csrf = csrf_of(&page);
    // The actions are the part of the page htmx takes over (their forms, posted in place).
    assert!(page.contains(r#"<td class="actions" hx-boost="true">"#));
    let status_of = |id: String| {
        let vigil = &vigil;
        let key = tenant.api_key.clone();
        async move {
            let (_, item) = vigil.get(&format!("/api/v1/inbox/{id}"), &key).await;
            item["status"].as_str().unwrap_or_default().to_owned()
        }
    };

    // WHEN the first is resolved by a plain form post (no JavaScript)
    let (status, headers, _) = vigil
        .page(
            "POST",
            &format!("/inbox/{first}/resolve"),
            &[FORM, ("cookie", &cookie)],
            format!("csrf={csrf}&back=list"),
        )
        .await;
    // THEN the browser is sent back to the list and the item is resolved
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/inbox");
    assert_eq!(status_of(first).await, "resolved");

    // WHEN the second is acknowledged by an in-place request carrying the token as a header only
    let in_place = |token: &str| {
        let (vigil, cookie, token, path) = (
            &vigil,
            cookie.clone(),
            token.to_owned(),
            format!("/inbox/{second}/acknowledge"),
        );
        async move {
            let headers = [
                FORM,
                ("cookie", cookie.as_str()),
                ("hx-request", "true"),
                ("x-csrf-token", token.as_str()),
            ];
            vigil.page("POST", &path, &headers, "").await.0
        }
    };
    // THEN a forged token changes nothing, and the session's token acknowledges it
    assert_eq!(in_place("forged").await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(second.clone()).await, "open");
    assert_eq!(in_place(&csrf).await, StatusCode::SEE_OTHER);
    assert_eq!(status_of(second).await, "acknowledged");
}
