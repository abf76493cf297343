//! Workflow runs end to end: triggers starting runs from events, anomalies and the tick; steps
//! done once each; delays on a clock the test moves; approvals; failures and retries; the
//! duplicate, loop and rate guards.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, SinkResponse};
use vigil_core::ManualClock;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::harness::{Kind, TestApp};
use crate::workflows::{drain_workflow_queue, post_event};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

struct World {
    vigil: TestApp,
    clock: Arc<ManualClock>,
    tenant: CreatedTenant,
}

impl World {
    async fn start(kind: Kind, vars: &[(&str, &str)]) -> World {
        let clock = Arc::new(ManualClock::new(at("2026-05-04T10:00:00Z")));
        let vigil = TestApp::start_with_clock(kind, vars, clock.clone()).await;
        let tenant = vigil.tenant("Acme").await;
        World {
            vigil,
            clock,
            tenant,
        }
    }

    fn key(&self) -> &str {
        &self.tenant.api_key
    }

    async fn client(&self, body: Value) {
        let (status, body) = self
            .vigil
            .send_json("POST", "/api/v1/clients", self.key(), &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn workflow(&self, body: Value) -> String {
        let (status, created) = self
            .vigil
            .send_json("POST", "/api/v1/workflows", self.key(), &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    /// Posts an event and lets the executor handle everything it causes.
    async fn event(&self, id: &str, kind: &str, client: &str, data: Value) {
        let now = self.clock.now_text();
        post_event(
            &self.vigil,
            &self.tenant,
            json!({"id": id, "type": kind, "occurred_at": now,
                   "subject": {"client_id": client}, "data": data}),
        )
        .await;
        drain_workflow_queue(&self.vigil).await;
    }

    async fn runs(&self, workflow: &str) -> Vec<Value> {
        let (status, body) = self
            .vigil
            .get(&format!("/api/v1/workflows/{workflow}/runs"), self.key())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn run(&self, run_id: &str) -> Value {
        let (status, body) = self
            .vigil
            .get(&format!("/api/v1/workflows/runs/{run_id}"), self.key())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn records(&self, kind: &str) -> Vec<Value> {
        let (_, body) = self.vigil.get(&format!("/api/v1/{kind}"), self.key()).await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The frequent tick, as the schedule runs it, then whatever it queued.
    async fn tick(&self) -> Value {
        let report = vigil_workflows::run_flow(
            &vigil_workflows::Services::new(&self.vigil.app),
            vigil_runtime::deployment::FlowInvocation {
                flow: vigil_runtime::deployment::Flow::WorkflowTick,
            },
        )
        .await
        .expect("tick");
        drain_workflow_queue(&self.vigil).await;
        report.detail
    }

    fn advance_minutes(&self, minutes: i64) {
        self.clock.advance(chrono::Duration::minutes(minutes));
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.vigil.send_json("POST", path, self.key(), &body).await
    }
}

trait NowText {
    fn now_text(&self) -> String;
}

impl NowText for ManualClock {
    fn now_text(&self) -> String {
        use vigil_core::Clock as _;
        self.now().to_rfc3339()
    }
}

fn statuses(runs: &[Value]) -> Vec<String> {
    let mut all: Vec<String> = runs
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    all.sort();
    all
}

async fn event_triggers_start_runs_that_take_one_branch(kind: Kind) {
    // GIVEN two clients and workflows on each event trigger, one of them with an AND and a branch
    let w = World::start(kind, &[]).await;
    w.client(
        json!({"id": "big", "name": "Big Co", "mrr": 5000, "assignee": "sam", "stage": "active",
                    "health_score": 40}),
    )
    .await;
    w.client(json!({"id": "small", "name": "Small Co", "mrr": 200, "stage": "active", "health_score": 80}))
        .await;
    let at_risk = w
        .workflow(json!({"name": "At-risk follow-up",
            "triggers": [{"type": "stage_changed", "to": "at_risk"},
                         {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
            "steps": [
              {"type": "create_task", "title": "Call {{client.name}} ({{trigger.to}})", "assignee": "{{client.assignee}}"},
              {"type": "if", "condition": {"field": "client.mrr", "operator": "greater_than", "value": 1000},
               "then": [{"type": "create_ticket", "title": "Big account {{client.name}} at risk"},
                        {"type": "send_notification", "title": "{{client.name}} is at risk",
                         "message": "MRR {{client.mrr}}", "severity": "SEV2"}],
               "else": [{"type": "draft_message", "template": "Hi {{client.name}}, how are things?"}]}]}))
        .await;
    let messages = w
        .workflow(json!({"name": "Cancel requests",
            "triggers": [{"type": "message_received", "contains": "cancel"}],
            "steps": [{"type": "create_task", "title": "Save {{client.name}}"}]}))
        .await;
    let tickets = w
        .workflow(json!({"name": "Billing tickets",
            "triggers": [{"type": "ticket_created", "category": "billing"}],
            "steps": [{"type": "create_task", "title": "Billing question from {{client.name}}"}]}))
        .await;

    // WHEN events arrive that match and that do not
    w.event(
        "e1",
        "client.stage_changed",
        "big",
        json!({"to": "at_risk"}),
    )
    .await;
    // healthy: the AND's KPI half does not hold
    w.event(
        "e2",
        "client.stage_changed",
        "small",
        json!({"to": "at_risk"}),
    )
    .await;
    w.event(
        "e3",
        "client.stage_changed",
        "small",
        json!({"to": "churned"}),
    )
    .await;
    w.event(
        "e4",
        "message.received",
        "small",
        json!({"text": "Please CANCEL my plan"}),
    )
    .await;
    w.event("e5", "message.received", "big", json!({"text": "Thanks!"}))
        .await;
    w.event(
        "e6",
        "ticket.created",
        "big",
        json!({"category": "billing"}),
    )
    .await;
    w.event("e7", "ticket.created", "small", json!({"category": "tech"}))
        .await;

    // THEN each workflow ran for its own events only
    let runs = w.runs(&at_risk).await;
    assert_eq!(statuses(&runs), ["completed"], "{runs:?}");
    let run = w.run(runs[0]["run_id"].as_str().unwrap()).await;
    assert_eq!(run["subject"], "big");
    assert_eq!(run["version"], 1);
    let kinds: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["create_task", "if", "create_ticket", "send_notification"]
    );
    // the notification went through the outbox, to be routed like any alert
    let (_, events) = w.vigil.get("/api/v1/events", w.key()).await;
    let sent: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "workflow.notification")
        .collect();
    assert_eq!(sent.len(), 1, "{events}");
    assert_eq!(sent[0]["title"], "Big Co is at risk");
    assert_eq!(sent[0]["summary"], "MRR 5000");
    assert_eq!(sent[0]["severity"], "SEV2");
    assert_eq!(run["steps"][1]["outcome"], "then");
    let tasks = w.records("tasks").await;
    let titles: Vec<&str> = tasks.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Call Big Co (at_risk)"), "{titles:?}");
    assert!(titles.contains(&"Save Small Co"), "{titles:?}");
    assert!(
        titles.contains(&"Billing question from Big Co"),
        "{titles:?}"
    );
    assert_eq!(tasks.len(), 3);
    let call = tasks
        .iter()
        .find(|t| t["title"] == "Call Big Co (at_risk)")
        .unwrap();
    assert_eq!(call["assignee"], "sam");
    assert_eq!(call["origin"]["run_id"], run["run_id"]);
    assert_eq!(w.records("tickets").await.len(), 1);
    assert!(w.records("drafts").await.is_empty());
    assert_eq!(w.runs(&messages).await.len(), 1);
    assert_eq!(w.runs(&tickets).await.len(), 1);

    // AND the else branch drafts (never sends) when the client is small and unhealthy
    w.client(json!({"id": "tiny", "name": "Tiny", "mrr": 10, "health_score": 10}))
        .await;
    w.event(
        "e8",
        "client.stage_changed",
        "tiny",
        json!({"to": "at_risk"}),
    )
    .await;
    let drafts = w.records("drafts").await;
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0]["body"], "Hi Tiny, how are things?");
    assert_eq!(drafts[0]["status"], "pending_review");
}

async fn anomalies_and_the_tick_start_runs(kind: Kind) {
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "One", "health_score": 80}))
        .await;
    w.client(json!({"id": "c2", "name": "Two", "health_score": 20}))
        .await;
    // GIVEN a workflow that raises an alert, one that turns SEV2+ anomalies into tickets, a
    // KPI watcher, an inactivity watcher and a Monday schedule
    let alerting = w
        .workflow(json!({"name": "Alert on VIP message",
            "triggers": [{"type": "message_received", "contains": "vip"}],
            "steps": [{"type": "raise_alert", "title": "VIP {{client.name}} wrote", "severity": "SEV2"}]}))
        .await;
    let to_ticket = w
        .workflow(json!({"name": "Anomaly to ticket",
            "triggers": [{"type": "anomaly_opened", "min_severity": "SEV2"}],
            "steps": [{"type": "create_ticket", "title": "{{trigger.title}}", "category": "incident"}]}))
        .await;
    let ignored = w
        .workflow(json!({"name": "Only SEV0",
            "triggers": [{"type": "anomaly_opened", "min_severity": "SEV0"}],
            "steps": [{"type": "create_ticket", "title": "x"}]}))
        .await;
    let kpi = w
        .workflow(json!({"name": "Health watch",
            "triggers": [{"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
            "steps": [{"type": "create_task", "title": "Health of {{client.name}} is {{trigger.value}}"}]}))
        .await;
    let silent = w
        .workflow(json!({"name": "Silent clients",
            "triggers": [{"type": "inactivity", "days": 7}],
            "steps": [{"type": "create_task", "title": "Wake {{client.name}}"}]}))
        .await;
    let weekly = w
        .workflow(json!({"name": "Weekly digest",
            "triggers": [{"type": "schedule", "cron": "0 9 * * MON", "timezone": "America/Chicago"}],
            "steps": [{"type": "create_task", "title": "Digest for {{client.name}}"}]}))
        .await;

    // WHEN the tick runs before Monday 09:00 in Chicago: the schedule has not come
    w.tick().await;
    assert!(w.runs(&weekly).await.is_empty());

    // WHEN a VIP message opens an anomaly
    w.event("m1", "message.received", "c1", json!({"text": "VIP here"}))
        .await;
    // THEN the anomaly became a ticket (through the bus), not for the SEV0-only workflow
    assert_eq!(statuses(&w.runs(&alerting).await), ["completed"]);
    assert_eq!(statuses(&w.runs(&to_ticket).await), ["completed"]);
    assert!(w.runs(&ignored).await.is_empty());
    let tickets = w.records("tickets").await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["title"], "VIP One wrote");

    // WHEN the tick looks at the clients (it did above too): c2 is below 50
    w.tick().await;
    let runs = w.runs(&kpi).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["subject"], "c2");
    // again: no new run while it stays below; then it recovers and drops again
    w.advance_minutes(1);
    w.tick().await;
    assert_eq!(w.runs(&kpi).await.len(), 1);
    w.event(
        "k1",
        "client.kpi_updated",
        "c2",
        json!({"metric": "health_score", "value": 90}),
    )
    .await;
    w.advance_minutes(1);
    w.tick().await;
    w.event(
        "k2",
        "client.kpi_updated",
        "c2",
        json!({"metric": "health_score", "value": 30}),
    )
    .await;
    w.advance_minutes(20);
    w.tick().await;
    assert_eq!(w.runs(&kpi).await.len(), 2);
    assert!(w.runs(&silent).await.is_empty(), "nobody is silent yet");

    // WHEN eight quiet days pass up to Monday 11 May 09:00 Chicago (14:00 UTC)
    w.clock.set(at("2026-05-11T14:00:30Z"));
    w.tick().await;
    // THEN the silent clients and the weekly digest each ran once per client
    let silent_runs = w.runs(&silent).await;
    assert_eq!(silent_runs.len(), 2, "{silent_runs:?}");
    assert_eq!(w.runs(&weekly).await.len(), 2);
    w.advance_minutes(1);
    w.tick().await;
    assert_eq!(w.runs(&silent).await.len(), 2);
    assert_eq!(w.runs(&weekly).await.len(), 2, "one run per slot");
    let tasks = w.records("tasks").await;
    assert!(
        tasks.iter().any(|t| t["title"] == "Health of Two is 20"),
        "{tasks:?}"
    );
}

async fn delays_wait_for_the_clock_and_keep_the_snapshot(kind: Kind) {
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "Acme Co"})).await;
    let flow = w
        .workflow(json!({"name": "Delays",
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [{"type": "delay", "minutes": 0},
                      {"type": "create_task", "title": "First {{client.name}}"},
                      {"type": "delay", "minutes": 1},
                      {"type": "create_task", "title": "Second {{client.name}}"},
                      {"type": "delay", "minutes": 1440},
                      {"type": "create_task", "title": "Third {{client.name}}"}]}))
        .await;

    // WHEN the trigger fires: the 0-minute delay passes at once, the 1-minute one waits
    w.event("e1", "client.stage_changed", "c1", json!({"to": "at_risk"}))
        .await;
    let run_id = w.runs(&flow).await[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "waiting");
    assert_eq!(run["resume_at"], "2026-05-04T10:01:00Z");
    assert_eq!(w.records("tasks").await.len(), 1);
    // a short delay waits on the queue (a delayed message)
    let queued = w
        .vigil
        .app
        .ports
        .workflow_queue
        .depth()
        .await
        .expect("depth");
    assert_eq!(queued, 1, "the run's wake-up waits in the queue");

    // AND the client is renamed meanwhile: the run keeps the name it started with
    let (status, _) = w
        .vigil
        .send_json(
            "PATCH",
            "/api/v1/clients/c1",
            w.key(),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // 59 seconds: not yet
    w.clock.advance(chrono::Duration::seconds(59));
    w.tick().await;
    assert_eq!(w.run(&run_id).await["status"], "waiting");
    // one minute: the second task, then the day-long wait through a one-time schedule
    w.clock.advance(chrono::Duration::seconds(1));
    w.tick().await;
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "waiting");
    assert_eq!(run["resume_at"], "2026-05-05T10:01:00Z");
    let schedule = w
        .vigil
        .app
        .ports
        .scheduler
        .get(&format!("{run_id}-4"))
        .await
        .expect("scheduler");
    assert!(schedule.is_some(), "a one-time schedule wakes the run");
    w.advance_minutes(1439);
    w.tick().await;
    assert_eq!(w.run(&run_id).await["status"], "waiting");
    w.advance_minutes(1);
    w.tick().await;
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "completed");
    let titles: Vec<String> = w
        .records("tasks")
        .await
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles.len(), 3);
    assert!(titles.iter().all(|t| t.ends_with("Acme Co")), "{titles:?}");
    let delays: Vec<&Value> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "delay")
        .collect();
    assert_eq!(delays.len(), 3);

    // AND a workflow turned off cancels its waiting runs, with the reason
    w.event("e2", "client.stage_changed", "c1", json!({"to": "active"}))
        .await;
    w.advance_minutes(30);
    w.event("e3", "client.stage_changed", "c1", json!({"to": "at_risk"}))
        .await;
    let waiting = w.runs(&flow).await;
    assert_eq!(statuses(&waiting), ["completed", "waiting"]);
    let (status, _) = w
        .vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/workflows/{flow}/toggle"),
            w.key(),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let runs = w.runs(&flow).await;
    assert_eq!(statuses(&runs), ["cancelled", "completed"]);
    let cancelled = runs.iter().find(|r| r["status"] == "cancelled").unwrap();
    assert_eq!(cancelled["reason"], "workflow_disabled");
    w.advance_minutes(5);
    w.tick().await;
    assert_eq!(
        w.records("tasks").await.len(),
        4,
        "the cancelled run did no more"
    );
}

async fn approvals_are_decided_once_or_time_out(kind: Kind) {
    let sink = HttpSink::start().await;
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "Acme Co", "mrr": 5000}))
        .await;
    w.client(json!({"id": "c2", "name": "Beta"})).await;
    w.client(json!({"id": "c3", "name": "Gamma"})).await;
    let flow = w
        .workflow(json!({"name": "Gated",
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [{"type": "approval", "timeout_minutes": 60},
                      {"type": "http_request", "url": sink.url("/at-risk"), "body": {"client": "{{client.id}}"}}]}))
        .await;
    for (event, client) in [("e1", "c1"), ("e2", "c2"), ("e3", "c3")] {
        w.event(
            event,
            "client.stage_changed",
            client,
            json!({"to": "at_risk"}),
        )
        .await;
    }
    let runs = w.runs(&flow).await;
    assert_eq!(
        statuses(&runs),
        [
            "awaiting_approval",
            "awaiting_approval",
            "awaiting_approval"
        ]
    );
    let run_of = |client: &str| {
        runs.iter()
            .find(|r| r["subject"] == client)
            .and_then(|r| r["run_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let (_, pending) = w
        .vigil
        .get("/api/v1/approvals?status=pending", w.key())
        .await;
    let pending = pending["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0]["step"], "$.steps[0]");
    assert_eq!(pending[0]["workflow_id"], flow.as_str());
    assert!(pending[0]["expires_at"].is_string());
    assert_eq!(w.records("tasks").await.len(), 0);
    assert!(sink.requests("/at-risk").is_empty());

    // WHEN an operator approves c1: the run goes on and the signed webhook goes out
    let operator = w
        .vigil
        .key_with_role(&w.tenant.tenant_id, Role::Operator)
        .await;
    let viewer = w.vigil.viewer_key(&w.tenant.tenant_id).await;
    let approve = format!("/api/v1/workflows/runs/{}/approve", run_of("c1"));
    let (status, _) = w
        .vigil
        .send_json("POST", &approve, &viewer, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .vigil
        .send_json("POST", &approve, &operator, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drain_workflow_queue(&w.vigil).await;
    assert_eq!(w.run(&run_of("c1")).await["status"], "completed");
    let posted = sink.wait_for("/at-risk", 1, Duration::from_secs(30)).await;
    assert_eq!(posted.len(), 1);
    assert_eq!(
        serde_json::from_slice::<Value>(&posted[0].body).unwrap(),
        json!({"client": "c1"})
    );
    assert!(
        posted[0]
            .headers
            .iter()
            .any(|(k, v)| k == "webhook-signature" && v.starts_with("v1,"))
    );
    // a second decision is refused
    let (status, body) = w
        .vigil
        .send_json("POST", &approve, &operator, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("decided once")
    );

    // WHEN c2 is rejected: a reason is required, then the run ends rejected
    let reject = format!("/api/v1/workflows/runs/{}/reject", run_of("c2"));
    let (status, _) = w.post(&reject, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = w
        .post(&reject, json!({"reason": "client already called"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "client already called");
    let (status, _) = w.post(&reject, json!({"reason": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, audit) = w.vigil.get("/api/v1/audit", w.key()).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"workflow_run.approve") && actions.contains(&"workflow_run.reject"));

    // WHEN nobody decides c3 within the hour: it is rejected by the expiry flow, with a notice
    w.advance_minutes(61);
    let late = format!("/api/v1/workflows/runs/{}/approve", run_of("c3"));
    let (status, body) = w.post(&late, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "too late to approve: {body}");
    let report = vigil_approvals::run_flow(
        &vigil_approvals::Services::new(&w.vigil.app),
        vigil_runtime::deployment::FlowInvocation {
            flow: vigil_runtime::deployment::Flow::ApprovalExpiry,
        },
    )
    .await
    .expect("expiry");
    assert_eq!(report.detail["expired"], 1);
    let run = w.run(&run_of("c3")).await;
    assert_eq!(run["status"], "rejected");
    assert_eq!(run["reason"], "approval_timed_out");
    let (_, pending) = w.vigil.get("/api/v1/approvals", w.key()).await;
    assert_eq!(pending["items"].as_array().map(Vec::len), Some(0));
    let (_, events) = w.vigil.get("/api/v1/events", w.key()).await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "approval.requested").count(),
        3
    );
    assert!(kinds.contains(&"workflow.notification"), "{kinds:?}");
    assert_eq!(
        sink.requests("/at-risk").len(),
        1,
        "only the approved run posted"
    );

    // AND the analytics count them
    let (status, figures) = w.vigil.get("/api/v1/workflows/analytics", w.key()).await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    assert_eq!(figures["overall"]["runs"], 3);
    assert_eq!(figures["overall"]["completed"], 1);
    assert_eq!(figures["overall"]["rejected"], 2);
    assert!((figures["overall"]["success_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(figures["workflows"][0]["workflow_id"], flow.as_str());
    assert_eq!(figures["overall"]["in_progress"], 0);
    // bad queries are refused with a JSON error
    for path in [
        "/api/v1/workflows/analytics?days=0".to_owned(),
        "/api/v1/approvals?status=maybe".to_owned(),
        format!("/api/v1/workflows/{flow}/runs?status=nope"),
    ] {
        let (status, body) = w.vigil.get(&path, w.key()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

async fn a_failed_step_halts_the_run_and_a_retry_resumes_there(kind: Kind) {
    let sink = HttpSink::start().await;
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "Acme Co"})).await;
    let flow = w
        .workflow(json!({"name": "Chain",
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [{"type": "create_task", "title": "Call {{client.name}}"},
                      {"type": "http_request", "url": sink.url("/optional")
                       , "continue_on_failure": true},
                      {"type": "http_request", "url": sink.url("/crm")},
                      {"type": "create_ticket", "title": "Follow {{client.name}}"}]}))
        .await;
    // the optional hook refuses for good; the CRM is down (503) three times, then refuses (400)
    sink.script("/optional", vec![SinkResponse::status(410)]);
    sink.script(
        "/crm",
        vec![
            SinkResponse::status(503),
            SinkResponse::status(503),
            SinkResponse::status(400).with_body("bad payload"),
        ],
    );

    // WHEN the run starts: the transient failure is retried with backoff
    w.event("e1", "client.stage_changed", "c1", json!({"to": "at_risk"}))
        .await;
    let run_id = w.runs(&flow).await[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "waiting", "{run}");
    assert_eq!(run["attempts"], 1);
    w.advance_minutes(1);
    w.tick().await;
    assert_eq!(w.run(&run_id).await["attempts"], 2);
    w.advance_minutes(3);
    w.tick().await;

    // THEN the permanent failure halts the run at the CRM step, with the error
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["cursor"], 2);
    assert!(run["error"].as_str().unwrap().contains("400"), "{run}");
    let outcomes: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["done", "failed_continued", "failed"]);
    assert_eq!(sink.requests("/crm").len(), 3);
    assert!(w.records("tickets").await.is_empty());
    let (_, figures) = w
        .vigil
        .get("/api/v1/workflows/analytics?days=1", w.key())
        .await;
    assert_eq!(
        (
            figures["overall"]["failed"].clone(),
            figures["overall"]["completed"].clone()
        ),
        (json!(1), json!(0))
    );

    // WHEN the CRM is fixed and the run is retried: it resumes at the CRM step only
    let (status, _) = w
        .post(&format!("/api/v1/workflows/runs/{run_id}/retry"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    drain_workflow_queue(&w.vigil).await;
    let run = w.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        w.records("tasks").await.len(),
        1,
        "the first step was not done again"
    );
    assert_eq!(sink.requests("/optional").len(), 1);
    assert_eq!(sink.requests("/crm").len(), 4);
    assert_eq!(w.records("tickets").await.len(), 1);
    // the analytics count the run once, as completed
    let (_, figures) = w
        .vigil
        .get("/api/v1/workflows/analytics?days=1", w.key())
        .await;
    assert_eq!(figures["overall"]["runs"], 1);
    assert_eq!(figures["overall"]["failed"], 0);
    assert_eq!(figures["overall"]["completed"], 1);
    assert_eq!(figures["overall"]["success_rate"], 1.0);
    // the same webhook id each time, so the receiver can tell a retry
    let ids: Vec<String> = sink
        .requests("/crm")
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(ids.windows(2).all(|p| p[0] == p[1]), "{ids:?}");
    // a completed run cannot be retried
    let (status, _) = w
        .post(&format!("/api/v1/workflows/runs/{run_id}/retry"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = w
        .vigil
        .get("/api/v1/workflows/runs/wfr_nope", w.key())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn guards_hold_back_duplicates_and_floods(kind: Kind) {
    let w = World::start(kind, &[("VIGIL_WORKFLOW_RUNS_PER_MINUTE", "4")]).await;
    for id in ["c1", "c2", "c3", "c4", "c5", "c6"] {
        w.client(json!({"id": id, "name": id})).await;
    }
    // GIVEN a workflow with the default 10-minute dedupe window
    let flow = w
        .workflow(json!({"name": "Dedupe",
            "triggers": [{"type": "message_received"}],
            "steps": [{"type": "create_task", "title": "Reply to {{client.name}}"}]}))
        .await;
    // WHEN two messages from c1 arrive 5 minutes apart (and the first is delivered twice)
    w.event("m1", "message.received", "c1", json!({"text": "hello"}))
        .await;
    // the queue delivers m1 a second time (at-least-once)
    let envelope = json!({"version": "0", "id": "redelivered", "detail-type": "message.received",
        "source": "vigil", "time": "2026-05-04T10:00:00Z",
        "detail": {"tenant_id": w.tenant.tenant_id, "event": {"id": "m1", "type": "message.received",
                   "occurred_at": "2026-05-04T10:00:00Z", "subject": {"client_id": "c1"},
                   "data": {"text": "hello"}}}});
    w.vigil
        .app
        .ports
        .workflow_queue
        .send(&envelope.to_string(), Duration::ZERO)
        .await
        .expect("send");
    drain_workflow_queue(&w.vigil).await;
    assert_eq!(
        w.records("tasks").await.len(),
        1,
        "a redelivery repeats nothing"
    );
    w.advance_minutes(5);
    w.event("m2", "message.received", "c1", json!({"text": "again"}))
        .await;
    // THEN one run
    assert_eq!(w.runs(&flow).await.len(), 1);
    // and after the window another
    w.advance_minutes(10);
    w.event("m3", "message.received", "c1", json!({"text": "later"}))
        .await;
    assert_eq!(w.runs(&flow).await.len(), 2);

    // WHEN more messages arrive within the minute than the tenant may start (4 per minute)
    w.advance_minutes(2);
    for (i, client) in ["c2", "c3", "c4", "c5", "c6"].iter().enumerate() {
        w.event(&format!("f{i}"), "message.received", client, json!({}))
            .await;
    }
    // THEN the extra one is stored as skipped, rate limited
    let runs = w.runs(&flow).await;
    let limited: Vec<&Value> = runs
        .iter()
        .filter(|r| r["reason"] == "rate_limited")
        .collect();
    assert_eq!(limited.len(), 1, "{runs:?}");
    assert_eq!(limited[0]["status"], "skipped");
    // and a minute later the bucket has refilled
    w.advance_minutes(1);
    w.event("f9", "message.received", "c6", json!({})).await;
    assert_eq!(
        w.runs(&flow)
            .await
            .iter()
            .filter(|r| r["subject"] == "c6" && r["status"] == "completed")
            .count(),
        1
    );
}

async fn a_workflow_that_retriggers_itself_is_paused(kind: Kind) {
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "c1", "stage": "active"}))
        .await;
    // GIVEN a workflow whose own effect re-triggers it (no dedupe window)
    let looping = w
        .workflow(json!({"name": "Ping-pong", "dedupe_minutes": 0,
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [{"type": "update_client", "stage": "active"},
                      {"type": "update_client", "stage": "at_risk"}]}))
        .await;
    w.advance_minutes(2);
    // WHEN it is started once
    w.event("l1", "client.stage_changed", "c1", json!({"to": "at_risk"}))
        .await;
    // THEN it re-triggered itself up to the bound (5 per hour), then was paused with an alert
    let runs = w.runs(&looping).await;
    assert_eq!(runs.len(), 6, "{runs:?}");
    let (_, workflow) = w
        .vigil
        .get(&format!("/api/v1/workflows/{looping}"), w.key())
        .await;
    assert_eq!(workflow["enabled"], false);
    let (_, anomalies) = w.vigil.get("/api/v1/anomalies", w.key()).await;
    let rules: Vec<&str> = anomalies["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert_eq!(rules, ["workflow_loop"]);
}

async fn a_deleted_subject_skips_the_run(kind: Kind) {
    let w = World::start(kind, &[]).await;
    w.client(json!({"id": "c1", "name": "Acme"})).await;
    let flow = w
        .workflow(json!({"name": "Later",
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [{"type": "delay", "minutes": 5},
                      {"type": "create_task", "title": "Call {{client.name}}"}]}))
        .await;
    w.event("e1", "client.stage_changed", "c1", json!({"to": "at_risk"}))
        .await;
    let (status, _) = w
        .vigil
        .call(
            "DELETE",
            "/api/v1/clients/c1",
            &[("authorization", &format!("Bearer {}", w.key()))],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    w.advance_minutes(5);
    w.tick().await;
    let runs = w.runs(&flow).await;
    assert_eq!(runs[0]["status"], "skipped");
    assert_eq!(runs[0]["reason"], "subject_deleted");
    assert!(w.records("tasks").await.is_empty());
    let (status, _) = w.vigil.get("/api/v1/clients/c1", w.key()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn drafts_are_worded_by_the_ai_model_when_it_answers(kind: Kind) {
    // GIVEN an OpenAI-compatible stub that answers well once, then fails
    let sink = HttpSink::start().await;
    sink.script(
        "/v1/chat/completions",
        vec![
            SinkResponse::status(200).with_body(
                &json!({"choices": [{"message": {"role": "assistant",
                    "content": "Hello Acme, we would love to hear how things are going."}}]})
                .to_string(),
            ),
            SinkResponse::status(500),
        ],
    );
    let base = sink.url("/v1");
    // A bound no good answer from the local stub misses, however loaded the machine: the
    // failure the test wants is the stub's 500, never a timeout.
    let w = World::start(
        kind,
        &[
            ("VIGIL_AI_BASE_URL", &base),
            ("VIGIL_AI_TIMEOUT_MS", "30000"),
        ],
    )
    .await;
    w.client(json!({"id": "c1", "name": "Acme"})).await;
    w.client(json!({"id": "c2", "name": "Beta"})).await;
    let flow = w
        .workflow(json!({"name": "Check in",
            "triggers": [{"type": "ticket_created"}],
            "steps": [{"type": "draft_message", "to": "ops@{{client.id}}.example",
                       "template": "Hi {{client.name}}, how are things?"}]}))
        .await;
    // WHEN two clients open tickets
    w.event("t1", "ticket.created", "c1", json!({})).await;
    w.event("t2", "ticket.created", "c2", json!({})).await;
    // THEN the first draft is the model's wording, the second the template (the model failed);
    // both wait for review and neither is sent
    let drafts = w.records("drafts").await;
    let body_of = |client: &str| {
        drafts
            .iter()
            .find(|d| d["client_id"] == client)
            .map(|d| d["body"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        body_of("c1"),
        "Hello Acme, we would love to hear how things are going."
    );
    assert_eq!(body_of("c2"), "Hi Beta, how are things?");
    assert!(drafts.iter().all(|d| d["status"] == "pending_review"));
    let runs = w.runs(&flow).await;
    let made: Vec<Value> = runs
        .iter()
        .map(|r| r["steps"][0]["detail"]["result"].clone())
        .collect();
    assert!(made.iter().any(|m| m["drafted_by"] == "ai"), "{made:?}");
    assert!(
        made.iter()
            .any(|m| m["drafted_by"] == "template" && m["ai_error"] == "http_500"),
        "{made:?}"
    );
}

both!(
    drafts_are_worded_by_the_ai_model_when_it_answers,
    event_triggers_start_runs_that_take_one_branch,
    anomalies_and_the_tick_start_runs,
    delays_wait_for_the_clock_and_keep_the_snapshot,
    approvals_are_decided_once_or_time_out,
    a_failed_step_halts_the_run_and_a_retry_resumes_there,
    guards_hold_back_duplicates_and_floods,
    a_workflow_that_retriggers_itself_is_paused,
    a_deleted_subject_skips_the_run,
);
