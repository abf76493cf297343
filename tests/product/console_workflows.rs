//! The console's workflow pages over HTTP: the builder's buttons change the posted draft, a save
//! goes through the workflow service (its problems shown at their fields), the switch, test
//! mode writing nothing, a failed run retried from its step, the approvals queue saying what
//! comes next, and every change refused below the role the API asks for.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, SinkResponse};
use vigil_core::tenancy::Role;

use crate::both;
use crate::console::{FORM, csrf_of, sign_in};
use crate::harness::{Kind, TestApp};
use crate::workflows::{drain_workflow_queue, post_event};
use vigil_core::tenancy::tenants::CreatedTenant;

// Each scenario reads as one story, GIVEN to THEN, so some run past 80 lines.
both!(
    the_builder_changes_the_draft_and_saves_it_through_the_validation,
    a_workflow_is_switched_tested_and_a_failed_run_retried,
    the_approvals_queue_says_what_an_approval_leads_to,
    below_admin_the_builder_is_read_only_and_every_change_is_refused
);

/// A signed-in person: their session cookie and the CSRF token of their forms.
struct Person<'a> {
    vigil: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl<'a> Person<'a> {
    async fn sign_in(vigil: &'a TestApp, key: &str) -> Person<'a> {
        let cookie = sign_in(vigil, key).await;
        let (_, _, page) = vigil
            .page("GET", "/workflows", &[("cookie", &cookie)], Body::empty())
            .await;
        Person {
            vigil,
            csrf: csrf_of(&page),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let (status, _, page) = self
            .vigil
            .page("GET", path, &[("cookie", &self.cookie)], Body::empty())
            .await;
        (status, page)
    }

    /// Posts a form (with the session's CSRF token); the status, where it leads and the page.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut url = reqwest::Url::parse("http://console/").unwrap();
        url.query_pairs_mut()
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields);
        let body = url.query().unwrap_or_default().to_owned();
        let (status, headers, page) = self
            .vigil
            .page("POST", path, &[FORM, ("cookie", &self.cookie)], body)
            .await;
        let location = headers
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, page)
    }
}

async fn create_workflow(vigil: &TestApp, key: &str, body: Value) -> String {
    let (status, created) = vigil
        .send_json("POST", "/api/v1/workflows", key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// A message from `client`, as the hooks take it, and everything the runs it starts do; the
/// newest run of `flow` (when one is given).
async fn message_from(
    vigil: &TestApp,
    tenant: &CreatedTenant,
    client: &str,
    flow: Option<&str>,
) -> Value {
    let event = json!({"id": format!("m_{client}"), "type": "message.received",
        "occurred_at": vigil.now().to_rfc3339(), "subject": {"client_id": client},
        "data": {"text": "hello"}});
    post_event(vigil, tenant, event).await;
    drain_workflow_queue(vigil).await;
    match flow {
        None => Value::Null,
        Some(flow) => {
            let (_, runs) = vigil
                .get(&format!("/api/v1/workflows/{flow}/runs"), &tenant.api_key)
                .await;
            runs["items"][0].clone()
        }
    }
}

/// A tenant with a workflow started by any message whose steps (made from the URL of a CRM
/// that refuses everything for now) call the CRM.
async fn with_refusing_crm(
    kind: Kind,
    steps: impl FnOnce(String) -> Value,
) -> (HttpSink, TestApp, CreatedTenant, String) {
    let sink = HttpSink::start().await;
    sink.script("/crm", vec![SinkResponse::status(400)]);
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let body = json!({"name": "To the CRM", "triggers": [{"type": "message_received"}],
                      "steps": steps(sink.url("/crm"))});
    let flow = create_workflow(&vigil, &tenant.api_key, body).await;
    (sink, vigil, tenant, flow)
}

/// The builder form of a workflow with a stage trigger and one task.
const ONE_TASK: [(&str, &str); 6] = [
    ("name", "Follow up"),
    ("enabled", "true"),
    ("t.0.kind", "stage_changed"),
    ("t.0.f.to", "at_risk"),
    ("s.0.kind", "create_task"),
    ("s.0.f.title", "Call {{client.name}}"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    ONE_TASK.iter().chain(extra).copied().collect()
}

async fn the_builder_changes_the_draft_and_saves_it_through_the_validation(kind: Kind) {
    // GIVEN an admin signed in to a tenant without workflows
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Person::sign_in(&vigil, &tenant.api_key).await;
    let (status, page) = admin.get("/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<p class="empty">No workflows yet."#),
        "{page}"
    );
    let (status, page) = admin.get("/workflows/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<label for="t-0-kind">Type of trigger 1</label>"#),
        "{page}"
    );

    // WHEN a second trigger, a delay and an IF/ELSE are added, and the delay moved first
    let (status, _, page) = admin
        .post("/workflows/new", &with(&[("op", "add_trigger")]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"name="t.1.kind""#), "{page}");
    assert!(
        !page.contains(r#"value="add_trigger""#),
        "at most two triggers"
    );
    let (_, _, page) = admin
        .post("/workflows/new", &with(&[("op", "add_delay")]))
        .await;
    assert!(
        page.contains(r#"name="s.1.f.minutes" value="60""#),
        "{page}"
    );
    let (_, _, page) = admin
        .post(
            "/workflows/new",
            &with(&[
                ("s.1.kind", "delay"),
                ("s.1.f.minutes", "5"),
                ("op", "up:1"),
            ]),
        )
        .await;
    // THEN the delay is step 1 and the task step 2, each with the values typed
    assert!(page.contains(r#"name="s.0.f.minutes" value="5""#), "{page}");
    assert!(
        page.contains(r#"name="s.1.f.title" value="Call {{client.name}}""#),
        "{page}"
    );
    let (_, _, page) = admin
        .post("/workflows/new", &with(&[("op", "add_branch")]))
        .await;
    assert!(
        page.contains(r#"<input type="hidden" name="s.1.kind" value="if">"#),
        "{page}"
    );
    assert!(page.contains(r#"name="s.1.then.0.kind""#), "{page}");
    assert!(page.contains(r#"value="add_approval:1.else""#), "{page}");
    // AND removing a step takes it out of the draft
    let (_, _, page) = admin
        .post("/workflows/new", &with(&[("op", "remove:0")]))
        .await;
    assert!(!page.contains(r#"name="s.0.kind""#), "{page}");

    // WHEN it is saved without a name and with a cron expression that is not one
    let invalid = [
        ("name", ""),
        ("t.0.kind", "schedule"),
        ("t.0.f.cron", "every morning"),
        ("t.0.f.timezone", "Europe/Paris"),
        ("s.0.kind", "create_task"),
        ("s.0.f.title", "Digest"),
        ("op", "save"),
    ];
    let (status, _, page) = admin.post("/workflows/new", &invalid).await;
    // THEN nothing is saved and each problem is at its field, the values kept
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains(r#"id="name" name="name" value="" aria-required="true" aria-invalid="true" aria-describedby="name-problem""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<p class="error" id="name-problem">"#),
        "{page}"
    );
    assert!(page.contains(r#"id="t-0-f-cron-problem""#), "{page}");
    assert!(page.contains(r#"value="every morning""#), "{page}");
    let (_, listed) = vigil.get("/api/v1/workflows", &tenant.api_key).await;
    assert_eq!(listed["items"], json!([]));

    // WHEN the problems are fixed, with an IF/ELSE holding an approval, and saved
    let valid = [
        ("name", "Follow up"),
        ("enabled", "true"),
        ("t.0.kind", "stage_changed"),
        ("t.0.f.to", "at_risk"),
        ("t.1.kind", "kpi_threshold"),
        ("t.1.f.metric", "health_score"),
        ("t.1.f.operator", "below"),
        ("t.1.f.value", "50"),
        ("s.0.kind", "if"),
        ("s.0.match", "all"),
        ("s.0.c.0.field", "client.mrr"),
        ("s.0.c.0.operator", "greater_than"),
        ("s.0.c.0.value", "1000"),
        ("s.0.then.0.kind", "approval"),
        ("s.0.then.0.f.approvers", "operator"),
        ("s.0.then.0.f.timeout_minutes", "60"),
        ("s.0.else.0.kind", "create_task"),
        ("s.0.else.0.f.title", "Call {{client.name}}"),
        ("op", "save"),
    ];
    let (status, location, page) = admin.post("/workflows/new", &valid).await;
    // THEN it exists through the API as built, and its page shows it in words
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let id = location.strip_prefix("/workflows/").unwrap().to_owned();
    let (status, stored) = vigil
        .get(&format!("/api/v1/workflows/{id}"), &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stored["triggers"][1],
        json!({"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50.0})
    );
    assert_eq!(
        stored["steps"],
        json!([{"type": "if", "condition": {"field": "client.mrr", "operator": "greater_than", "value": 1000},
                "then": [{"type": "approval", "approvers": "operator", "timeout_minutes": 60}],
                "else": [{"type": "create_task", "title": "Call {{client.name}}"}]}])
    );
    let (_, page) = admin.get(&location).await;
    assert!(page.contains("If client.mrr greater than 1000:"), "{page}");

    // WHEN it is edited in the builder THEN the form holds it, and a save makes version 2
    let (_, page) = admin.get(&format!("/workflows/{id}/edit")).await;
    assert!(
        page.contains(r#"name="s.0.c.0.field" value="client.mrr""#),
        "{page}"
    );
    let mut renamed = valid.to_vec();
    renamed[0] = ("name", "Follow up, renamed");
    let (status, _, _) = admin.post(&format!("/workflows/{id}/edit"), &renamed).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, stored) = vigil
        .get(&format!("/api/v1/workflows/{id}"), &tenant.api_key)
        .await;
    assert_eq!(
        (stored["name"].as_str(), stored["version"].as_u64()),
        (Some("Follow up, renamed"), Some(2))
    );

    // AND a template opens the builder filled in
    let (_, page) = admin.get("/workflows/templates").await;
    assert!(
        page.contains(r#"href="/workflows/new?template=weekly_client_digest""#),
        "{page}"
    );
    let (_, page) = admin
        .get("/workflows/new?template=weekly_client_digest")
        .await;
    assert!(page.contains(r#"value="0 9 * * MON""#), "{page}");
    assert!(page.contains("<h3>Next five runs</h3>"), "{page}");
    let (status, _) = admin.get("/workflows/new?template=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_workflow_is_switched_tested_and_a_failed_run_retried(kind: Kind) {
    // GIVEN a workflow whose second step calls a CRM that refuses, and an operator signed in
    let (sink, vigil, tenant, flow) = with_refusing_crm(kind, |crm| {
        json!([{"type": "create_task", "title": "Read {{client.id}}'s message"},
               {"type": "http_request", "url": crm}])
    })
    .await;
    let admin = Person::sign_in(&vigil, &tenant.api_key).await;
    let operator_key = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let operator = Person::sign_in(&vigil, &operator_key).await;

    // WHEN the admin turns it off and on from the list
    let (_, page) = admin.get("/workflows").await;
    assert!(
        page.contains(&format!(r#"<tr data-id="{flow}">"#)),
        "{page}"
    );
    assert!(page.contains(">Turn off</button>"), "{page}");
    let toggle = format!("/workflows/{flow}/toggle");
    let (status, location, _) = admin.post(&toggle, &[("enabled", "false")]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/workflows")
    );
    let stored = format!("/api/v1/workflows/{flow}");
    assert_eq!(
        vigil.get(&stored, &tenant.api_key).await.1["enabled"],
        json!(false)
    );
    admin.post(&toggle, &[("enabled", "true")]).await;
    assert_eq!(
        vigil.get(&stored, &tenant.api_key).await.1["enabled"],
        json!(true)
    );

    // WHEN the operator runs test mode for a client
    let (status, _, page) = operator
        .post(
            &format!("/workflows/{flow}/test"),
            &[
                ("subject", "c1"),
                ("trigger", r#"{"type": "message_received"}"#),
            ],
        )
        .await;
    // THEN the page shows each step as it would be done, and nothing was written
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Create the task “Read c1&#39;s message”")
            || page.contains("Create the task “Read c1&#x27;s message”"),
        "{page}"
    );
    assert!(
        page.contains("Send a signed request to http://127.0.0.1"),
        "{page}"
    );
    assert!(page.contains("Nothing was written."), "{page}");
    let (_, runs) = vigil
        .get(&format!("/api/v1/workflows/{flow}/runs"), &tenant.api_key)
        .await;
    assert_eq!(runs["items"], json!([]));
    let (_, tasks) = vigil.get("/api/v1/tasks", &tenant.api_key).await;
    assert_eq!(tasks["items"], json!([]));
    assert!(sink.requests("/crm").is_empty());
    // AND a trigger that is not an object is a problem at its field
    let (status, _, page) = operator
        .post(
            &format!("/workflows/{flow}/test"),
            &[("subject", "c1"), ("trigger", "[1]")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains(r#"aria-describedby="test-problem""#),
        "{page}"
    );

    // WHEN a message starts a run, which fails at the CRM step
    let run = message_from(&vigil, &tenant, "c1", Some(&flow)).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run["status"], "failed", "{run}");

    // THEN its page shows the timeline with the error, and the retry for operators
    let (_, page) = operator.get(&format!("/workflows/runs/{run_id}")).await;
    assert!(page.contains(r#"<dd class="status">failed</dd>"#), "{page}");
    assert!(
        page.contains("<strong>create_task</strong>: done"),
        "{page}"
    );
    assert!(
        page.contains("<strong>http_request</strong>: failed"),
        "{page}"
    );
    assert!(
        page.contains(">Retry from the failed step</button>"),
        "{page}"
    );
    let (_, page) = operator
        .get(&format!("/workflows/{flow}?status=failed"))
        .await;
    assert!(
        page.contains(&format!(r#"<tr data-id="{run_id}">"#)),
        "{page}"
    );
    let (status, _) = operator
        .get(&format!("/workflows/{flow}?status=gone"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // WHEN the CRM takes it and the operator retries
    sink.script("/crm", vec![SinkResponse::status(200)]);
    let (status, location, _) = operator
        .post(&format!("/workflows/runs/{run_id}/retry"), &[])
        .await;
    assert_eq!(
        (status, location),
        (StatusCode::SEE_OTHER, format!("/workflows/runs/{run_id}"))
    );
    drain_workflow_queue(&vigil).await;
    // THEN the run completes from the failed step, the task not made twice
    let (_, run) = vigil
        .get(&format!("/api/v1/workflows/runs/{run_id}"), &tenant.api_key)
        .await;
    assert_eq!(run["status"], "completed", "{run}");
    let (_, tasks) = vigil.get("/api/v1/tasks", &tenant.api_key).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);
    let (_, page) = operator.get(&format!("/workflows/runs/{run_id}")).await;
    assert!(
        !page.contains(">Retry from the failed step</button>"),
        "{page}"
    );
}

async fn the_approvals_queue_says_what_an_approval_leads_to(kind: Kind) {
    // GIVEN a run waiting for an approval before an IF/ELSE, for a small client
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    create_workflow(
        &vigil,
        &tenant.api_key,
        json!({"name": "Gated", "triggers": [{"type": "message_received"}],
               "steps": [{"type": "approval", "timeout_minutes": 60},
                         {"type": "if", "condition": {"field": "client.mrr", "operator": "greater_than", "value": 1000},
                          "then": [{"type": "create_ticket", "title": "Escalate {{client.id}}"}],
                          "else": [{"type": "delay", "minutes": 30},
                                   {"type": "create_task", "title": "Call {{client.id}}"}]}]}),
    )
    .await;
    message_from(&vigil, &tenant, "c7", None).await;

    // WHEN an operator opens the queue
    let operator_key = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let operator = Person::sign_in(&vigil, &operator_key).await;
    let (_, page) = operator.get("/approvals").await;

    // THEN the request says what the run does once approved: the else branch, in words
    assert!(page.contains("<h3>Once approved</h3>"), "{page}");
    let next = page
        .split(r#"<ol class="next-steps">"#)
        .nth(1)
        .unwrap_or_default();
    let next = next.split("</ol>").next().unwrap_or_default();
    assert_eq!(
        next,
        "<li>The condition does not hold: the else branch</li><li>Wait 30 minutes</li><li>Create the task “Call c7”</li>"
    );
}

async fn below_admin_the_builder_is_read_only_and_every_change_is_refused(kind: Kind) {
    // GIVEN a workflow with a failed run, and a viewer and an operator signed in
    let (_sink, vigil, tenant, flow) = with_refusing_crm(
        kind,
        |crm| json!([{"type": "http_request", "url": format!("{crm}?token=secret")}]),
    )
    .await;
    let run = message_from(&vigil, &tenant, "c1", Some(&flow)).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let viewer_key = vigil.key_with_role(&tenant.tenant_id, Role::Viewer).await;
    let viewer = Person::sign_in(&vigil, &viewer_key).await;
    let operator_key = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let operator = Person::sign_in(&vigil, &operator_key).await;

    // WHEN the viewer looks THEN no page offers a change, and the builder is read-only with
    // the request's URL masked
    for path in [
        "/workflows".to_owned(),
        format!("/workflows/{flow}"),
        format!("/workflows/runs/{run_id}"),
        "/workflows/templates".to_owned(),
    ] {
        let (status, page) = viewer.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !page.contains(r#"method="post" action="/workflows"#)
                && !page.contains("class=\"button\""),
            "{path}: {page}"
        );
    }
    let (_, page) = viewer.get(&format!("/workflows/{flow}/edit")).await;
    assert!(
        page.contains("Read-only") && !page.contains(r#"value="save""#),
        "{page}"
    );
    assert!(!page.contains("secret"), "{page}");
    let (status, _) = viewer.get("/workflows/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // WHEN they post anyway, and the operator posts what only admins may
    let save = with(&[("op", "save")]);
    let viewer_posts = [
        ("/workflows/new".to_owned(), save.clone()),
        (format!("/workflows/{flow}/edit"), save.clone()),
        (
            format!("/workflows/{flow}/toggle"),
            vec![("enabled", "false")],
        ),
        (format!("/workflows/{flow}/test"), vec![("subject", "c1")]),
        (format!("/workflows/runs/{run_id}/retry"), vec![]),
    ];
    for (path, fields) in &viewer_posts {
        let (status, _, _) = viewer.post(path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewer {path}");
    }
    for (path, fields) in &viewer_posts[..3] {
        let (status, _, _) = operator.post(path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operator {path}");
    }
    // AND a post without the session's token is refused, even an admin's
    let admin = Person {
        csrf: "forged".into(),
        ..Person::sign_in(&vigil, &tenant.api_key).await
    };
    let (status, _, _) = admin
        .post(
            &format!("/workflows/{flow}/toggle"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // THEN nothing changed
    let (_, stored) = vigil
        .get(&format!("/api/v1/workflows/{flow}"), &tenant.api_key)
        .await;
    assert_eq!(
        (stored["version"].as_u64(), stored["enabled"].as_bool()),
        (Some(1), Some(true))
    );
    let (_, listed) = vigil.get("/api/v1/workflows", &tenant.api_key).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (_, run) = vigil
        .get(&format!("/api/v1/workflows/runs/{run_id}"), &tenant.api_key)
        .await;
    assert_eq!(run["status"], "failed");
}
