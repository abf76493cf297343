//! The sample events of `events/` (what `sam local invoke` and `cargo lambda invoke` are given),
//! each handed to its function's handler the way Lambda hands it: a sample that no longer fits
//! its function, or a new one nobody wired here, fails this test.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use vigil_http::{ApiServices, IngestServices};
use vigil_lambda::Invocation;
use vigil_runtime::deployment::FlowInvocation;
use vigil_runtime::jobs::{FlowReport, MessageHandler};

use crate::both;
use crate::harness::{Kind, TestApp};

both!(every_sample_event_is_answered_by_its_function);

#[tokio::test]
async fn each_function_builds_only_the_services_it_uses() {
    let vigil = TestApp::start(Kind::Embedded).await;
    let built = |state: &dyn Fn(&vigil_runtime::App)| {
        let app = vigil.fresh_app();
        state(&app);
        app.built()
    };
    // Hooks classify runs, which may open anomalies that queue notifications.
    let ingest = ["anomalies", "automation_runs", "ingest", "outbox"];
    assert_eq!(built(&|app| drop(IngestServices::new(app))), ingest);
    assert_eq!(
        built(&|app| drop(vigil_rules::Services::new(app))),
        ["anomalies", "outbox", "rules", "tenants"]
    );
    let engine = ["anomalies", "engine", "outbox", "tenants"];
    assert_eq!(
        built(&|app| drop(vigil_workflows::Services::new(app))),
        engine
    );
    assert_eq!(
        built(&|app| drop(vigil_approvals::Services::new(app))),
        engine
    );
    assert_eq!(
        built(&|app| drop(vigil_summary::Services::new(app))),
        [
            "anomalies",
            "automation_runs",
            "outbox",
            "reports",
            "tenants"
        ]
    );
    assert_eq!(
        built(&|app| drop(vigil_dispatcher::Services::new(app))),
        [
            "channels",
            "dead_letters",
            "dispatcher",
            "ingest",
            "outbox",
            "routing",
            "tenants"
        ]
    );
    // The admin API reaches every service.
    assert_eq!(built(&|app| drop(ApiServices::new(app))).len(), 17);
}

/// The tenant, ingest token and notification the samples name, replaced by real ones.
const SAMPLE_TENANT: &str = "tnt_01jdx7k3q8m2v5w9y4z6b1c0de";
const SAMPLE_TOKEN: &str = "vgl_it_REPLACE-WITH-THE-TENANT-INGEST-TOKEN";
const SAMPLE_NOTIFICATION: &str = "ntf_01jdx7p2c9r4t6v8x0z2b4d6f8";

/// An API Gateway HTTP API event, through `lambda_http`'s reading of it, to `service`.
async fn http(service: axum::Router, event: &str) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(event).unwrap_or_else(|e| panic!("{e}"));
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let response = service.oneshot(request).await.expect("the service answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A queue or schedule event, as the function's `main` hands it to `vigil_lambda::run`.
async fn invoke<S, F, Fut>(
    services: S,
    handler: Option<&dyn MessageHandler>,
    run_flow: F,
    event: &str,
) -> Value
where
    F: Fn(S, FlowInvocation) -> Fut,
    Fut: std::future::Future<Output = vigil_core::Result<FlowReport>>,
{
    let payload: Invocation = serde_json::from_str(event).unwrap_or_else(|e| panic!("{e}"));
    vigil_lambda::invoke(services, handler, &run_flow, payload)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn every_sample_event_is_answered_by_its_function(kind: Kind) {
    // GIVEN a tenant, and a notification of it for the outbox sample to name
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, notification) = vigil
        .send_json(
            "POST",
            "/api/v1/events/test",
            &tenant.api_key,
            &json!({"severity": "SEV2", "title": "Sample"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{notification}");
    let notification_id = notification["id"].as_str().unwrap_or_default();
    let app = vigil.app.clone();
    let outbox = vigil_dispatcher::Services::new(&app).handler();
    let workflows = vigil_workflows::Services::new(&app).handler();

    let mut samples: Vec<_> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("events"))
            .expect("events/")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
    samples.sort();
    assert!(samples.len() >= 13, "{samples:?}");
    for path in samples {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let event = std::fs::read_to_string(&path)
            .expect("sample")
            .replace(SAMPLE_TENANT, &tenant.tenant_id)
            .replace(SAMPLE_TOKEN, tenant.ingest_token.expose())
            .replace(SAMPLE_NOTIFICATION, notification_id);
        // WHEN each is handed to its function THEN it is answered as a success
        match name.as_str() {
            "api-health" => {
                let (status, body) =
                    http(vigil_http::api_service(ApiServices::new(&app)), &event).await;
                assert_eq!(status, StatusCode::OK, "{name}: {body}");
            }
            "console-sign-in" => {
                let console = vigil_ui::ConsoleServices::new(&app);
                let service = vigil_http::console_service(console, app.settings.max_body_bytes);
                let (status, body) = http(service, &event).await;
                assert_eq!(status, StatusCode::OK, "{name}: {body}");
            }
            "ingest-domain-event" | "ingest-run" => {
                let (status, body) = http(
                    vigil_http::ingest_service(IngestServices::new(&app)),
                    &event,
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{name}: {body}");
            }
            "dispatcher-sqs" | "workflows-sqs" => {
                let handler: &dyn MessageHandler = if name == "dispatcher-sqs" {
                    &outbox
                } else {
                    &workflows
                };
                let answer = invoke(
                    vigil_dispatcher::Services::new(&app),
                    Some(handler),
                    |s, flow| async move { vigil_dispatcher::run_flow(&s, flow).await },
                    &event,
                )
                .await;
                assert_eq!(answer, json!({"batchItemFailures": []}), "{name}");
            }
            flow => {
                let answer = match flow {
                    "rules-tick" => {
                        invoke(
                            vigil_rules::Services::new(&app),
                            None,
                            |s, f| async move { vigil_rules::run_flow(&s, f).await },
                            &event,
                        )
                        .await
                    }
                    "summary-tick" | "weekly-review" | "baseline-update" => {
                        invoke(
                            vigil_summary::Services::new(&app),
                            None,
                            |s, f| async move { vigil_summary::run_flow(&s, f).await },
                            &event,
                        )
                        .await
                    }
                    "outbox-sweep" => {
                        invoke(
                            vigil_dispatcher::Services::new(&app),
                            None,
                            |s, f| async move { vigil_dispatcher::run_flow(&s, f).await },
                            &event,
                        )
                        .await
                    }
                    "workflow-tick" => {
                        invoke(
                            vigil_workflows::Services::new(&app),
                            None,
                            |s, f| async move { vigil_workflows::run_flow(&s, f).await },
                            &event,
                        )
                        .await
                    }
                    "approvals-expiry" => {
                        invoke(
                            vigil_approvals::Services::new(&app),
                            None,
                            |s, f| async move { vigil_approvals::run_flow(&s, f).await },
                            &event,
                        )
                        .await
                    }
                    other => panic!("events/{other}.json: name the function that answers it here"),
                };
                let wanted: Value = serde_json::from_str(&event).expect("a flow sample");
                assert_eq!(answer["flow"], wanted["flow"], "{name}: {answer}");
                assert!(answer.get("failed_tenants").is_none(), "{name}: {answer}");
            }
        }
    }
}
