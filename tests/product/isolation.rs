//! Tenant isolation over every route of the served API document: each route that takes an id
//! is called with another tenant's key, each write route with a viewer's key. The routes come
//! from the document the router is built with, so a route added later is covered without
//! anyone listing it; one whose ids or body the seed below cannot provide fails here, naming
//! what to add.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};
use vigil_core::anomaly::Finding;
use vigil_core::severity::Severity;
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};
use crate::runs::post_runs;
use crate::workflows::{drain_workflow_queue, post_event};

both!(
    another_tenants_ids_are_not_found_on_any_route,
    viewers_are_refused_every_write_route,
);

/// One operation of the served document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    /// The path template, e.g. `/api/v1/anomalies/{id}`.
    path: String,
    operation_id: String,
    /// The `enum` of each path parameter that has one (e.g. an inbox action).
    choices: BTreeMap<String, String>,
    authenticated_by_api_key: bool,
    takes_a_body: bool,
}

impl Operation {
    fn takes_an_id(&self) -> bool {
        self.path.contains('{')
    }

    fn writes(&self) -> bool {
        self.method != "GET"
    }

    fn name(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.operation_id)
    }
}

/// Every operation of the document, in its order.
fn operations() -> Vec<Operation> {
    let document = vigil_http::openapi_document();
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let choices = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| {
                    let first = p["schema"]["enum"].get(0)?.as_str()?;
                    Some((p["name"].as_str()?.to_owned(), first.to_owned()))
                })
                .collect();
            let authenticated_by_api_key = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
            all.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                operation_id: operation["operationId"].as_str().unwrap_or("").to_owned(),
                choices,
                authenticated_by_api_key,
                takes_a_body: operation.get("requestBody").is_some(),
            });
        }
    }
    assert!(
        all.len() > 50,
        "the document lists {} operations",
        all.len()
    );
    all
}

/// One tenant's records of every kind a path names, by the path template up to its id
/// (`/api/v1/workflows/runs/{run_id}` → the id of one of the tenant's workflow runs).
struct Seeded {
    tenant: CreatedTenant,
    ids: BTreeMap<&'static str, String>,
}

impl Seeded {
    /// The operation's path with the seeded ids in it, or which id the seed lacks.
    fn path_of(&self, operation: &Operation) -> Result<String, String> {
        let mut concrete = String::new();
        let mut template = String::new();
        for segment in operation.path.split('/').skip(1) {
            template.push('/');
            template.push_str(segment);
            concrete.push('/');
            let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                concrete.push_str(segment);
                continue;
            };
            let value = self
                .ids
                .get(template.as_str())
                .or_else(|| operation.choices.get(name))
                .ok_or_else(|| format!("the seed has no id for {template}"))?;
            concrete.push_str(value);
        }
        Ok(concrete)
    }
}

/// A body each write that takes an id accepts, so that its answer to another tenant's id is
/// about the id, not the body.
fn valid_body(operation_id: &str) -> Option<Value> {
    Some(match operation_id {
        "update_anomaly" => json!({"status": "acknowledged"}),
        "update_channel" | "toggle_workflow" => json!({"enabled": false}),
        "update_rule" => json!({"enabled": false}),
        "update_client" | "update_task" | "update_ticket" | "update_draft" => {
            json!({"assignee": "Eve"})
        }
        "set_baseline" => json!({"expected_credits": 50.0}),
        "approve_workflow_run" => json!({"reason": "fine"}),
        "reject_workflow_run" => json!({"reason": "not now"}),
        "update_workflow" => follow_up_workflow(),
        "test_workflow" => json!({"subject": "c_someone"}),
        _ => return None,
    })
}

fn follow_up_workflow() -> Value {
    json!({
        "name": "At-risk follow-up",
        "triggers": [{"type": "stage_changed", "to": "at_risk"}],
        "steps": [
            {"type": "create_task", "title": "Call {{client.name}}"},
            {"type": "approval", "timeout_minutes": 1440},
        ],
    })
}

async fn created_id(vigil: &TestApp, key: &str, path: &str, body: Value, field: &str) -> String {
    let (status, created) = vigil.send_json("POST", path, key, &body).await;
    assert!(status.is_success(), "POST {path}: {status} {created}");
    created[field]
        .as_str()
        .unwrap_or_else(|| panic!("POST {path} answered no {field}: {created}"))
        .to_owned()
}

async fn first_id(vigil: &TestApp, key: &str, path: &str, field: &str) -> String {
    let (status, list) = vigil.get(path, key).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {list}");
    list["items"][0][field]
        .as_str()
        .unwrap_or_else(|| panic!("GET {path} lists nothing: {list}"))
        .to_owned()
}

/// A tenant with one record of every kind the API addresses by id.
async fn seed(vigil: &TestApp, name: &str) -> Seeded {
    let tenant = vigil.tenant(name).await;
    let key = tenant.api_key.clone();
    let mut ids = BTreeMap::new();
    let now = vigil.now();

    ids.insert("/hooks/{tenant}", tenant.tenant_id.clone());
    let channel =
        json!({"name": "ops", "kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"});
    ids.insert(
        "/api/v1/channels/{id}",
        created_id(vigil, &key, "/api/v1/channels", channel, "id").await,
    );
    let client_id = format!("c_{}", name.to_lowercase());
    let client = json!({"id": client_id, "name": format!("{name} client")});
    ids.insert(
        "/api/v1/clients/{id}",
        created_id(vigil, &key, "/api/v1/clients", client, "id").await,
    );
    for (kind, path) in [
        ("tasks", "/api/v1/tasks/{id}"),
        ("tickets", "/api/v1/tickets/{id}"),
        ("drafts", "/api/v1/drafts/{id}"),
    ] {
        let body = json!({"title": format!("{name} {kind}"), "client_id": client_id});
        let id = created_id(vigil, &key, &format!("/api/v1/{kind}"), body, "id").await;
        ids.insert(path, id);
    }
    let schedule = json!({"frequency": "daily", "preferred_time": "09:00", "timezone": "UTC"});
    let (status, answer) = vigil
        .send_json("PUT", "/api/v1/scan-schedule", &key, &schedule)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    ids.insert(
        "/api/v1/keys/{id}",
        created_id(vigil, &key, "/api/v1/keys", json!({"role": "viewer"}), "id").await,
    );
    let test_event = json!({"severity": "SEV2", "title": format!("{name} test")});
    ids.insert(
        "/api/v1/events/{id}",
        created_id(vigil, &key, "/api/v1/events/test", test_event, "id").await,
    );
    vigil
        .dispatch_until_settled(&tenant.tenant_id, std::time::Duration::from_secs(20))
        .await;
    ids.insert(
        "/api/v1/inbox/{id}",
        first_id(vigil, &key, "/api/v1/inbox", "id").await,
    );

    let run = json!({"run_id": format!("RUN-{name}"), "scenario_id": format!("SCN-{name}"),
                     "scenario_name": "Export", "status": "Failed", "credits_total": 10.0});
    let (status, answer) = post_runs(vigil, &tenant, &run).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    ids.insert("/api/v1/runs/{run_id}", format!("RUN-{name}"));
    ids.insert("/api/v1/scenarios/{id}", format!("SCN-{name}"));

    let (anomaly, _) = vigil
        .app
        .anomalies()
        .open(
            &tenant.tenant_id,
            Finding {
                rule: "payment_failure_spike".into(),
                severity: Severity::Sev2,
                title: "4 failed payments in 30 minutes".into(),
                subject: "account".into(),
                occurrence: None,
                window_start: now - Duration::minutes(30),
                window_end: now,
                evidence: json!({"failed_payments": 4}),
                demo: false,
            },
        )
        .await
        .expect("anomaly opened");
    ids.insert("/api/v1/anomalies/{id}", anomaly.id);
    let (report, _) = vigil
        .app
        .reports()
        .daily_summary(&tenant.tenant_id, (now - Duration::days(1)).date_naive())
        .await
        .expect("daily summary");
    ids.insert("/api/v1/reports/{id}", report.id);
    ids.insert(
        "/api/v1/rules/{id}",
        first_id(vigil, &key, "/api/v1/rules", "id").await,
    );

    let workflow = created_id(vigil, &key, "/api/v1/workflows", follow_up_workflow(), "id").await;
    ids.insert("/api/v1/workflows/{id}", workflow);
    post_event(
        vigil,
        &tenant,
        json!({"id": format!("evt-{name}"), "type": "client.stage_changed",
               "occurred_at": now.to_rfc3339(), "subject": {"client_id": client_id},
               "data": {"to": "at_risk"}}),
    )
    .await;
    drain_workflow_queue(vigil).await;
    ids.insert(
        "/api/v1/domain-events/{id}",
        first_id(vigil, &key, "/api/v1/domain-events", "id").await,
    );
    ids.insert(
        "/api/v1/workflows/runs/{run_id}",
        first_id(vigil, &key, "/api/v1/approvals", "run_id").await,
    );
    Seeded { tenant, ids }
}

/// What the tenant's admin reads on every read route: what must not change when someone else
/// calls.
async fn everything_readable(vigil: &TestApp, owner: &Seeded) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for operation in operations() {
        if operation.writes() || !operation.authenticated_by_api_key {
            continue;
        }
        let path = owner.path_of(&operation).unwrap_or_else(|e| panic!("{e}"));
        let (status, body) = vigil.get(&path, &owner.tenant.api_key).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", operation.name());
        seen.insert(path, body);
    }
    seen
}

async fn call(
    vigil: &TestApp,
    operation: &Operation,
    path: &str,
    credential: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let auth = format!("Bearer {credential}");
    match body {
        Some(body) => {
            vigil
                .send_json(&operation.method, path, credential, &body)
                .await
        }
        None => {
            vigil
                .call(
                    &operation.method,
                    path,
                    &[("authorization", &auth)],
                    Body::empty(),
                )
                .await
        }
    }
}

async fn another_tenants_ids_are_not_found_on_any_route(kind: Kind) {
    // GIVEN two tenants with one record of every kind each
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let acme = seed(&vigil, "Acme").await;
    let globex = seed(&vigil, "Globex").await;
    let before = everything_readable(&vigil, &acme).await;

    // WHEN Globex calls every route that takes an id with Acme's ids
    let mut wrong = Vec::new();
    for operation in operations().into_iter().filter(Operation::takes_an_id) {
        let path = acme.path_of(&operation).unwrap_or_else(|e| panic!("{e}"));
        let (credential, refused) = if operation.authenticated_by_api_key {
            (&globex.tenant.api_key, StatusCode::NOT_FOUND)
        } else {
            // Hooks: a tenant's ingest token does not open another tenant's hooks.
            (&globex.tenant.ingest_token, StatusCode::UNAUTHORIZED)
        };
        let body = if operation.path.starts_with("/hooks/") {
            Some(json!({"id": "evt-intruder", "run_id": "RUN-intruder"}))
        } else if operation.writes() {
            operation.takes_a_body.then(|| {
                valid_body(&operation.operation_id).unwrap_or_else(|| {
                    panic!(
                        "{}: add a body it accepts to valid_body()",
                        operation.name()
                    )
                })
            })
        } else {
            None
        };
        // An id that is a name (a rule's) names Globex's own record too: the call is then
        // Globex's business, and what matters is that Acme's record stays as it was.
        let own = globex.path_of(&operation).ok().as_ref() == Some(&path);
        let (status, answer) = call(&vigil, &operation, &path, credential, body).await;
        // THEN each is refused as if the record did not exist
        if !own && status != refused {
            wrong.push(format!("{}: {status} {answer}", operation.name()));
        }
    }
    // AND every record of Acme's reads as it did before
    refused_and_unchanged(
        &vigil,
        &acme,
        &before,
        &wrong,
        "answered another tenant's id",
    )
    .await;
}

async fn viewers_are_refused_every_write_route(kind: Kind) {
    // GIVEN a tenant with one record of every kind, and a viewer key of it
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let acme = seed(&vigil, "Acme").await;
    let viewer = vigil.viewer_key(&acme.tenant.tenant_id).await;
    let before = everything_readable(&vigil, &acme).await;

    // WHEN the viewer calls every write route of the API, with or without a body
    let mut wrong = Vec::new();
    for operation in operations()
        .into_iter()
        .filter(|o| o.writes() && o.authenticated_by_api_key)
    {
        let path = acme.path_of(&operation).unwrap_or_else(|e| panic!("{e}"));
        for body in [None, Some(json!({}))] {
            let (status, answer) = call(&vigil, &operation, &path, &viewer, body).await;
            // THEN each is refused for the role, whatever was sent
            if status != StatusCode::FORBIDDEN || answer["error"]["code"] != "forbidden" {
                wrong.push(format!("{}: {status} {answer}", operation.name()));
            }
        }
    }
    // AND nothing changed
    refused_and_unchanged(&vigil, &acme, &before, &wrong, "did not refuse a viewer").await;
}

/// Fails naming each route that answered wrongly, then each of the owner's reads that changed.
async fn refused_and_unchanged(
    vigil: &TestApp,
    owner: &Seeded,
    before: &BTreeMap<String, Value>,
    wrong: &[String],
    what: &str,
) {
    assert!(
        wrong.is_empty(),
        "routes that {what}:\n{}",
        wrong.join("\n")
    );
    let after = everything_readable(vigil, owner).await;
    for (path, was) in before {
        assert_eq!(after.get(path), Some(was), "{path} changed");
    }
}
