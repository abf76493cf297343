//! The console's pages rendered on the server through the real router (`vigil serve`'s), signed
//! in, on the embedded store (durable: WAL + fsync) holding one tenant's 10,000 automation runs
//! (40 scenarios, 30 days), 1,000 anomalies, 500 inbox items, 30 approvals waiting and
//! yesterday's summary:
//! - per page, p50 and p99 of 500 renders (after 20 to warm up), against the 20 ms budget;
//! - per page, its weight: the bytes of its HTML and of the CSS and JavaScript it loads (no
//!   images), asked for as a browser asks (taking gzip), against the 100 KB budget.
//!
//! A page is one line of `PAGES`.
//!
//! Run: `cargo bench --bench console_pages`

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use vigil_core::anomaly::Finding;
use vigil_core::delivery::inbox::delivery_writes;
use vigil_core::delivery::outbox::notification_id;
use vigil_core::delivery::{Notification, NotificationStatus, NotificationType};
use vigil_core::ingest::DomainEvent;
use vigil_core::severity::Severity;
use vigil_core::tenancy::audit::Actor;
use vigil_core::workflows::messages::PublishedEvent;
use vigil_runtime::App;

mod support;

/// The pages measured: (name, path).
const PAGES: &[(&str, &str)] = &[
    ("overview", "/"),
    ("inbox", "/inbox"),
    ("anomalies", "/anomalies"),
    ("approvals", "/approvals"),
    ("reports", "/reports"),
    ("runs", "/runs"),
    ("scans", "/scans"),
    ("workflows", "/workflows"),
    ("deliveries", "/deliveries"),
];

const RUNS: usize = 10_000;
const SCENARIOS: usize = 40;
const ANOMALIES: usize = 1_000;
const INBOX_ITEMS: usize = 500;
const APPROVALS: usize = 30;
const WARM_UP: usize = 20;
const RENDERS: usize = 500;
const P99_BUDGET: Duration = Duration::from_millis(20);
const WEIGHT_BUDGET: usize = 100 * 1024;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn get(router: &Router, path: &str, cookie: &str) -> (u16, Vec<u8>) {
    // As a browser asks: it takes gzip (which only the vendored script comes in).
    let request = Request::get(path)
        .header("cookie", cookie)
        .header("accept-encoding", "gzip, deflate, br")
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body.to_vec())
}

/// 10,000 runs over the last 30 days, posted 100 at a time as the platforms post them.
async fn seed_runs(router: &Router, tenant: &str, ingest_token: &str) {
    let now = Utc::now();
    let step = chrono::Duration::days(30) / RUNS as i32;
    let auth = format!("Bearer {ingest_token}");
    for batch in 0..RUNS / 100 {
        let runs: Vec<Value> = (batch * 100..(batch + 1) * 100)
            .map(|i| {
                let status = if i % 7 == 0 { "failed" } else { "success" };
                json!({"run_id": format!("run-{i}"), "scenario_id": format!("S{}", i % SCENARIOS),
                       "scenario_name": format!("Scenario {}", i % SCENARIOS), "platform": "make",
                       "status": status, "credits_total": 10.0 + (i % 5) as f64,
                       "execution_time_ms": 800, "has_idempotency_key": true,
                       "timestamp": (now - step * i as i32).to_rfc3339()})
            })
            .collect();
        let request = Request::post(format!("/hooks/{tenant}/runs"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(Body::from(Value::Array(runs).to_string()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status().as_u16(), 200, "runs posted");
    }
}

async fn seed_anomalies(app: &App, tenant: &str) {
    let now = Utc::now();
    for chunk in (0..ANOMALIES).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|i| {
            let at = now - chrono::Duration::minutes(*i as i64 * 20);
            app.anomalies().open(
                tenant,
                Finding {
                    rule: format!("bench_rule_{}", i % 5),
                    severity: Severity::ALL[i % Severity::ALL.len()],
                    title: format!("Bench anomaly {i}"),
                    subject: format!("subject-{i}"),
                    occurrence: None,
                    window_start: at,
                    window_end: at,
                    evidence: json!({"value": i}),
                    demo: false,
                },
            )
        }))
        .await
        .into_iter()
        .for_each(|opened| drop(opened.expect("anomaly opened")));
    }
}

async fn seed_inbox(app: &App, tenant: &str) {
    let now = Utc::now();
    for i in 0..INBOX_ITEMS {
        let at = now - chrono::Duration::minutes(i as i64);
        let notification = Notification {
            id: notification_id(tenant, &format!("bench-{i}")),
            tenant_id: tenant.to_owned(),
            kind: NotificationType::AnomalyOpened,
            severity: Severity::ALL[i % Severity::ALL.len()],
            title: format!("Bench alert {i}"),
            summary: "Something a person should look at".to_owned(),
            link_ref: None,
            dedupe_key: format!("bench-{i}"),
            payload: json!({}),
            status: NotificationStatus::Sent,
            created_at: at,
            updated_at: at,
        };
        let writes = delivery_writes(&notification).expect("inbox writes");
        app.ports.store.transact(writes).await.expect("inbox item");
    }
}

async fn seed_approvals(app: &App, tenant: &str) {
    let gated = json!({"name": "Gated", "dedupe_minutes": 0,
        "triggers": [{"type": "message_received"}],
        "steps": [{"type": "approval", "timeout_minutes": 1440},
                  {"type": "create_task", "title": "Call {{client.id}}"}]});
    app.workflows()
        .create(tenant, &gated, &Actor::Cli)
        .await
        .expect("workflow");
    for i in 0..APPROVALS {
        let event: DomainEvent = serde_json::from_value(json!({
            "id": format!("m{i}"), "type": "message.received", "occurred_at": Utc::now(),
            "subject": {"client_id": format!("c{i}")}, "data": {"text": "hello"}}))
        .expect("event");
        let published = PublishedEvent {
            tenant_id: tenant.to_owned(),
            event,
            caused_by: None,
        };
        app.engine()
            .on_event(&published)
            .await
            .expect("run started");
    }
}

/// The page's HTML and the stylesheets and scripts it loads, in bytes.
async fn weight(router: &Router, cookie: &str, html: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(html);
    let mut assets = 0;
    for marker in [r#"<link rel="stylesheet" href=""#, r#"<script src=""#] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let path = rest.split('"').next().unwrap_or_default();
            let (status, body) = get(router, path, cookie).await;
            assert_eq!(status, 200, "{path}");
            assets += body.len();
        }
    }
    (html.len(), assets)
}

fn main() {
    let runtime = support::runtime();
    let (_dir, _backend, app) = support::embedded_app();
    let router = vigil_http::all_routes(&app);
    let seeding = Instant::now();
    let cookie = runtime.block_on(async {
        let tenant = app
            .tenants()
            .create("Bench", None, &Actor::Cli)
            .await
            .expect("tenant");
        let id = tenant.tenant_id.as_str();
        seed_runs(&router, id, tenant.ingest_token.expose()).await;
        seed_anomalies(&app, id).await;
        seed_inbox(&app, id).await;
        seed_approvals(&app, id).await;
        let yesterday = (Utc::now() - chrono::Duration::days(1)).date_naive();
        app.reports()
            .daily_summary(id, yesterday)
            .await
            .expect("daily summary");
        let (token, _) = app
            .sessions()
            .sign_in(tenant.api_key.expose())
            .await
            .expect("session");
        format!("vigil_session={}", token.expose())
    });
    println!(
        "seeded {RUNS} runs, {ANOMALIES} anomalies, {INBOX_ITEMS} inbox items and {APPROVALS} \
         approvals in {:.1?}",
        seeding.elapsed()
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>11} {:>10}  budget",
        "page", "p50", "p99", "HTML", "CSS + JS", "weight"
    );
    for (name, path) in PAGES {
        let mut renders: Vec<Duration> = Vec::with_capacity(RENDERS);
        let mut html = Vec::new();
        for i in 0..WARM_UP + RENDERS {
            let started = Instant::now();
            let (status, body) = runtime.block_on(get(&router, path, &cookie));
            let took = started.elapsed();
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            if i >= WARM_UP {
                renders.push(took);
            }
            html = body;
        }
        renders.sort_unstable();
        let (html_bytes, asset_bytes) = runtime.block_on(weight(&router, &cookie, &html));
        let (p50, p99) = (percentile(&renders, 0.5), percentile(&renders, 0.99));
        let total = html_bytes + asset_bytes;
        let verdict = if p99 <= P99_BUDGET && total <= WEIGHT_BUDGET {
            "within"
        } else {
            "OVER"
        };
        println!(
            "{name:<10} {:>9} {:>9} {:>9} {:>11} {:>10}  {verdict}",
            format!("{:.2} ms", p50.as_secs_f64() * 1e3),
            format!("{:.2} ms", p99.as_secs_f64() * 1e3),
            html_bytes,
            asset_bytes,
            total
        );
    }
}
