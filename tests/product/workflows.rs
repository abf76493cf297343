//! Workflow definitions through the API: created, versioned on every edit, toggled, deleted,
//! refused with every problem at its JSON path; their types as JSON Schema; ready templates.

use axum::http::StatusCode;
use serde_json::{Value, json};

use std::time::Duration;

use vigil_runtime::jobs::{Message, MessageHandler as _};

use crate::both;
use crate::harness::{Kind, TestApp};

/// Hands every message on the workflow queue to the workflow consumer, as `vigil serve` does.
pub(crate) async fn drain_workflow_queue(vigil: &TestApp) -> usize {
    let handler = vigil_workflows::Services::new(&vigil.app).handler();
    let queue = &vigil.app.ports.workflow_queue;
    let mut handled = 0;
    loop {
        let batch = queue
            .receive(10, Duration::from_secs(30), Duration::from_millis(200))
            .await
            .expect("receive");
        if batch.is_empty() {
            return handled;
        }
        for message in &batch {
            handler
                .handle(&Message::from(message))
                .await
                .expect("handled");
            queue.delete(&message.receipt).await.expect("delete");
            handled += 1;
        }
    }
}

pub(crate) async fn post_event(
    vigil: &TestApp,
    tenant: &vigil_core::tenancy::tenants::CreatedTenant,
    event: Value,
) {
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    let (status, body) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/events", tenant.tenant_id),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            event.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

async fn clients_follow_domain_events_and_the_api(kind: Kind) {
    // GIVEN a client added through the API
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let key = &tenant.api_key;
    let (status, created) = vigil
        .send_json(
            "POST",
            "/api/v1/clients",
            key,
            &json!({"id": "c_42", "name": "Acme Co", "mrr": 1500, "assignee": "sam"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // WHEN apps post a stage change and a KPI for it, and an event about a client never seen
    post_event(
        &vigil,
        &tenant,
        json!({"id": "e1", "type": "client.stage_changed", "occurred_at": "2026-05-01T10:00:00Z",
        "subject": {"client_id": "c_42"}, "data": {"from": "active", "to": "at_risk"}}),
    )
    .await;
    post_event(
        &vigil,
        &tenant,
        json!({"id": "e2", "type": "client.kpi_updated", "occurred_at": "2026-05-01T09:00:00Z",
        "subject": {"client_id": "c_42"}, "data": {"metric": "health_score", "value": 41}}),
    )
    .await;
    post_event(
        &vigil,
        &tenant,
        json!({"id": "e3", "type": "message.received", "occurred_at": "2026-05-02T08:00:00Z",
        "subject": {"client_id": "c_77", "client_name": "Beta"}, "data": {"channel": "email"}}),
    )
    .await;
    assert_eq!(drain_workflow_queue(&vigil).await, 3);

    // THEN the clients show them
    let (_, acme) = vigil.get("/api/v1/clients/c_42", key).await;
    assert_eq!(acme["stage"], "at_risk");
    assert_eq!(acme["health_score"], 41.0);
    assert_eq!(acme["mrr"], 1500.0);
    assert_eq!(acme["last_activity_at"], "2026-05-01T10:00:00Z");
    let (_, beta) = vigil.get("/api/v1/clients/c_77", key).await;
    assert_eq!(beta["name"], "Beta");
    assert_eq!(beta["last_activity_at"], "2026-05-02T08:00:00Z");

    // AND people can change a client; bad input and strangers are refused
    let (status, patched) = vigil
        .send_json(
            "PATCH",
            "/api/v1/clients/c_42",
            key,
            &json!({"assignee": "kim"}),
        )
        .await;
    assert_eq!(
        (status, patched["assignee"].clone()),
        (StatusCode::OK, json!("kim"))
    );
    let (status, _) = vigil
        .send_json(
            "PATCH",
            "/api/v1/clients/c_42",
            key,
            &json!({"colour": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = vigil
        .send_json("POST", "/api/v1/clients", key, &json!({"id": "c_42"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = vigil
        .send_json("PATCH", "/api/v1/clients/nope", key, &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = vigil.tenant("Other").await;
    let (status, _) = vigil.get("/api/v1/clients/c_42", &other.api_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = vigil.get("/api/v1/clients", key).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}

both!(
    clients_follow_domain_events_and_the_api,
    test_mode_traces_a_run_and_writes_nothing,
    tasks_tickets_and_drafts_are_kept_per_client,
    a_workflow_is_created_versioned_toggled_and_deleted,
    an_invalid_workflow_is_refused_with_each_problem_at_its_path,
    step_types_and_templates_are_served_and_templates_are_valid,
);

fn at_risk_follow_up() -> Value {
    json!({"name": "At-risk follow-up", "enabled": true,
     "triggers": [{"type": "stage_changed", "to": "at_risk"},
                  {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
     "steps": [
       {"type": "create_task", "title": "Call {{client.name}}", "assignee": "{{client.assignee}}"},
       {"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1000}]},
        "then": [{"type": "approval", "timeout_minutes": 1440},
                 {"type": "http_request", "url": "https://hooks.example.com/at-risk", "body": {"client": "{{client.id}}"}}],
        "else": [{"type": "delay", "minutes": 60}, {"type": "create_ticket", "title": "Check on {{client.name}}"}]}]})
}

async fn a_workflow_is_created_versioned_toggled_and_deleted(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let key = &tenant.api_key;

    // WHEN the example workflow is posted
    let (status, created) = vigil
        .send_json("POST", "/api/v1/workflows", key, &at_risk_follow_up())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["version"], 1);
    assert_eq!(
        created["steps"][1]["else"][0],
        json!({"type": "delay", "minutes": 60})
    );
    let (_, listed) = vigil.get("/api/v1/workflows", key).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // AND it is edited, then switched off
    let (status, edited) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/workflows/{id}"),
            key,
            &json!({"name": "At-risk v2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, off) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/workflows/{id}/toggle"),
            key,
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{off}");

    // THEN an edit is a new version, a toggle is not
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["name"], "At-risk v2");
    assert_eq!(edited["steps"], created["steps"]);
    assert_eq!(
        (off["version"].clone(), off["enabled"].clone()),
        (json!(2), json!(false))
    );
    let first = vigil
        .app
        .workflows()
        .version(&tenant.tenant_id, &id, 1)
        .await
        .expect("version 1");
    assert_eq!(first.spec.name, "At-risk follow-up");

    // AND a bad edit changes nothing; others cannot see or change it
    let (status, refused) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/workflows/{id}"),
            key,
            &json!({"steps": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (_, still) = vigil.get(&format!("/api/v1/workflows/{id}"), key).await;
    assert_eq!(still["version"], 2);
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let (status, _) = vigil
        .send_json("POST", "/api/v1/workflows", &viewer, &at_risk_follow_up())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = vigil.tenant("Other").await;
    let (status, _) = vigil
        .get(&format!("/api/v1/workflows/{id}"), &other.api_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // AND deleting it is audited and final
    let auth = format!("Bearer {}", key.expose());
    let (status, _) = vigil
        .call(
            "DELETE",
            &format!("/api/v1/workflows/{id}"),
            &[("authorization", &auth)],
            String::new(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = vigil.get(&format!("/api/v1/workflows/{id}"), key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = vigil.get("/api/v1/audit", key).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("workflow."))
        .collect();
    assert_eq!(
        actions,
        [
            "workflow.delete",
            "workflow.disable",
            "workflow.update",
            "workflow.create"
        ]
    );
}

async fn an_invalid_workflow_is_refused_with_each_problem_at_its_path(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let mut body = at_risk_follow_up();
    body["steps"][1]["then"][0] = json!({"type": "approval", "timeout_minutes": 0});
    body["steps"][1]["else"][0] = json!({"type": "delay", "minutes": 5000});
    body["triggers"][0] = json!({"type": "stage_changed"});
    body["steps"][0] = json!({"type": "create_tsk", "title": "x"});

    let (status, answer) = vigil
        .send_json("POST", "/api/v1/workflows", &tenant.api_key, &body)
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_workflow");
    let paths: Vec<&str> = answer["error"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "$.triggers[0]",
            "$.steps[0]",
            "$.steps[1].then[0].timeout_minutes",
            "$.steps[1].else[0].minutes"
        ]
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("4 problem(s)")
    );
    let (_, listed) = vigil.get("/api/v1/workflows", &tenant.api_key).await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");
}

async fn step_types_and_templates_are_served_and_templates_are_valid(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, triggers) = vigil
        .get("/api/v1/workflows/triggers/types", &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = triggers.to_string();
    for kind in [
        "stage_changed",
        "inactivity",
        "kpi_threshold",
        "message_received",
        "ticket_created",
        "anomaly_opened",
        "schedule",
    ] {
        assert!(text.contains(kind), "{kind} missing");
    }
    let (_, actions) = vigil
        .get("/api/v1/workflows/actions/types", &tenant.api_key)
        .await;
    let text = actions.to_string();
    for kind in [
        "create_task",
        "send_notification",
        "draft_message",
        "create_ticket",
        "update_client",
        "raise_alert",
        "http_request",
        "delay",
        "approval",
    ] {
        assert!(text.contains(kind), "{kind} missing");
    }
    let (_, templates) = vigil
        .get("/api/v1/workflow-templates", &tenant.api_key)
        .await;
    let templates = templates["items"].as_array().cloned().unwrap_or_default();
    assert!(templates.len() >= 8);
    for template in &templates {
        let (status, created) = vigil
            .send_json(
                "POST",
                "/api/v1/workflows",
                &tenant.api_key,
                &template["workflow"],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {created}", template["id"]);
    }
}

async fn tasks_tickets_and_drafts_are_kept_per_client(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let key = &tenant.api_key;
    // GIVEN two tasks for a client, one for another, a ticket and a draft
    for (title, client) in [("Call", "c_42"), ("Email", "c_42"), ("Visit", "c_7")] {
        let (status, task) = vigil
            .send_json(
                "POST",
                "/api/v1/tasks",
                key,
                &json!({"title": title, "client_id": client, "assignee": "sam"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        assert_eq!(task["status"], "open");
    }
    let (_, ticket) = vigil
        .send_json(
            "POST",
            "/api/v1/tickets",
            key,
            &json!({"title": "Refund", "client_id": "c_42", "category": "billing"}),
        )
        .await;
    let (_, draft) = vigil
        .send_json(
            "POST",
            "/api/v1/drafts",
            key,
            &json!({"title": "Checking in", "body": "Hi", "to": "acme@example.com"}),
        )
        .await;
    assert_eq!(draft["status"], "pending_review");

    // WHEN a client's tasks are listed and one is done
    let (_, mine) = vigil.get("/api/v1/tasks?client_id=c_42", key).await;
    let id = mine["items"][0]["id"].as_str().expect("a task").to_owned();
    let (status, done) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/tasks/{id}"),
            key,
            &json!({"status": "done"}),
        )
        .await;

    // THEN the lists are per client and per status, newest first
    let titles = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["title"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(titles(&mine), ["Email", "Call"]);
    assert_eq!(
        (status, done["status"].clone()),
        (StatusCode::OK, json!("done"))
    );
    let (_, open) = vigil.get("/api/v1/tasks?status=open", key).await;
    assert_eq!(titles(&open), ["Visit", "Call"]);
    let (_, tickets) = vigil.get("/api/v1/tickets?client_id=c_42", key).await;
    assert_eq!(tickets["items"][0]["id"], ticket["id"]);

    // AND a status of another kind, a missing title, viewers and strangers are refused
    let (status, _) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/tasks/{id}"),
            key,
            &json!({"status": "closed"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = vigil
        .send_json("POST", "/api/v1/tickets", key, &json!({"category": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let (status, _) = vigil
        .send_json("POST", "/api/v1/tasks", &viewer, &json!({"title": "t"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = vigil.tenant("Other").await;
    let (status, _) = vigil
        .get(&format!("/api/v1/tasks/{id}"), &other.api_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = vigil.get(&format!("/api/v1/drafts/{id}"), key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a task id is no draft id");
}

async fn test_mode_traces_a_run_and_writes_nothing(kind: Kind) {
    // GIVEN the example workflow and a large client
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let key = &tenant.api_key;
    let (_, created) = vigil
        .send_json("POST", "/api/v1/workflows", key, &at_risk_follow_up())
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    vigil
        .send_json(
            "POST",
            "/api/v1/clients",
            key,
            &json!({"id": "c_42", "name": "Acme Co", "mrr": 5000, "assignee": "sam"}),
        )
        .await;

    // WHEN it is tested for that client and for an unknown small one
    let before = vigil.app.ports.request_counts();
    let path = format!("/api/v1/workflows/{id}/test");
    let trigger = json!({"type": "stage_changed", "to": "at_risk"});
    let (status, big) = vigil
        .send_json(
            "POST",
            &path,
            key,
            &json!({"subject": "c_42", "trigger": trigger}),
        )
        .await;
    let (_, unknown) = vigil
        .send_json(
            "POST",
            &path,
            key,
            &json!({"subject": "c_new", "trigger": trigger}),
        )
        .await;
    let spent = vigil.app.ports.request_counts().since(&before);

    // THEN each trace shows what would be done, on its branch, and nothing was written
    assert_eq!(status, StatusCode::OK, "{big}");
    assert_eq!(big["version"], 1);
    assert_eq!(
        big["steps"][0]["would_do"],
        json!({"type": "create_task", "title": "Call Acme Co", "assignee": "sam"})
    );
    assert_eq!(
        big["steps"][1],
        json!({"kind": "branch", "path": "$.steps[1]", "condition_held": true})
    );
    assert_eq!(big["steps"][2]["kind"], "approval");
    assert_eq!(
        big["steps"][3]["would_do"]["body"],
        json!({"client": "c_42"})
    );
    assert_eq!(unknown["steps"][1]["condition_held"], false);
    assert_eq!(unknown["steps"][2]["kind"], "delay");
    assert_eq!(unknown["steps"][3]["would_do"]["title"], "Check on ");
    assert_eq!(spent.writes, 0, "test mode writes nothing: {spent:?}");
    let (_, tasks) = vigil.get("/api/v1/tasks", key).await;
    assert_eq!(tasks["items"], json!([]));

    // AND a bad request is refused
    let (status, _) = vigil
        .send_json(
            "POST",
            &path,
            key,
            &json!({"subject": "c_42", "trigger": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = vigil
        .send_json(
            "POST",
            "/api/v1/workflows/wf_nope/test",
            key,
            &json!({"subject": "c_42"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
