//! The egress guard through the API: what a tenant can aim (webhook and Slack channels, workflow
//! `http_request`) never reaches loopback, private, link-local or other refused addresses unless
//! `VIGIL_EGRESS_ALLOW` says so; workflow requests are signed with the outbound secret.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, SinkResponse};
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::harness::{Kind, TestApp};
use crate::workflows::{drain_workflow_queue, post_event};

const PATIENCE: Duration = Duration::from_secs(10);

/// No exception: the default of every deployment.
const STRICT: &[(&str, &str)] = &[("VIGIL_EGRESS_ALLOW", "")];

/// Every spelling of a refused target a channel or a workflow may name literally.
const LITERAL_TARGETS: &[&str] = &[
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/hook",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://localhost/",
    "http://localhost./",
    "http://vigil.localhost/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
];

fn secret() -> String {
    vigil_core::tenancy::secrets::new_webhook_secret()
}

async fn create_channel(vigil: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    vigil
        .send_json("POST", "/api/v1/channels", key, &body)
        .await
}

fn problem_paths(body: &Value) -> Vec<String> {
    body["error"]["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .filter_map(|p| p["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn literal_targets_are_refused_when_saved(kind: Kind) {
    // GIVEN Vigil without exceptions
    let vigil = TestApp::start_with(kind, STRICT).await;
    let tenant = vigil.tenant("Acme").await;
    let key = &tenant.api_key;

    // WHEN channels are created with refused targets THEN each is a 422 naming `url` (the body
    // fits the API document; the deployment's egress rule refuses it)
    for (i, url) in LITERAL_TARGETS.iter().enumerate() {
        let body = if i % 2 == 0 {
            json!({"name": "hook", "kind": "webhook", "url": url, "secret": secret()})
        } else {
            json!({"name": "hook", "kind": "slack", "url": url})
        };
        let (status, answer) = create_channel(&vigil, key, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_channel",
            "{url}: {answer}"
        );
        assert_eq!(problem_paths(&answer), ["$.url"], "{url}: {answer}");
    }

    // AND a channel's URL cannot be changed to one
    let (status, channel) = create_channel(
        &vigil,
        key,
        json!({"name": "hook", "kind": "webhook", "url": "https://hooks.example.com/x", "secret": secret()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let id = channel["id"].as_str().unwrap_or_default();
    let (status, answer) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            key,
            &json!({"url": "http://[::ffff:7f00:1]/"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(problem_paths(&answer), ["$.url"]);

    // WHEN workflows let a template pick the scheme, host or port THEN each is a 400
    // invalid_workflow at the step's URL (the API document's pattern says so), AND WHEN they aim
    // http_request at refused targets THEN each is a 422 there
    let workflow = |url: &str| {
        json!({"name": "Hook", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
               "steps": [{"type": "create_task", "title": "t"},
                         {"type": "http_request", "url": url}]})
    };
    let templated = [
        "https://{{trigger.data.host}}/",
        "https://hooks.example.com:{{trigger.data.port}}/",
        "{{trigger.data.scheme}}://hooks.example.com/",
    ];
    let refused = templated
        .iter()
        .map(|url| (url, StatusCode::BAD_REQUEST))
        .chain(
            LITERAL_TARGETS
                .iter()
                .map(|url| (url, StatusCode::UNPROCESSABLE_ENTITY)),
        );
    for (url, expected) in refused {
        let (status, answer) = vigil
            .send_json("POST", "/api/v1/workflows", key, &workflow(url))
            .await;
        assert_eq!(status, expected, "{url}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_workflow",
            "{url}: {answer}"
        );
        assert_eq!(
            problem_paths(&answer),
            ["$.steps[1].url"],
            "{url}: {answer}"
        );
    }
    // (templates in the path and query are fine)
    let (status, answer) = vigil
        .send_json(
            "POST",
            "/api/v1/workflows",
            key,
            &workflow("https://hooks.example.com/c/{{client.id}}?to={{trigger.data.to}}"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// `http://localhost:<port><path>` for a sink on 127.0.0.1: a name resolving to loopback.
fn by_name(sink: &HttpSink, path: &str) -> String {
    sink.url(path).replacen("127.0.0.1", "localhost", 1)
}

async fn test_alert(vigil: &TestApp, tenant: &CreatedTenant, severity: &str) -> String {
    let (status, emitted) = vigil
        .send_json(
            "POST",
            "/api/v1/events/test",
            &tenant.api_key,
            &json!({"severity": severity, "title": "Drill"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{emitted}");
    emitted["id"].as_str().unwrap_or_default().to_owned()
}

fn delivery(event: &Value, channel: &str) -> Value {
    event["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["channel"] == channel))
        .cloned()
        .unwrap_or_else(|| panic!("no delivery to {channel}: {event}"))
}

async fn names_and_addresses_are_refused_when_sent(kind: Kind) {
    // GIVEN channels and a workflow saved while loopback was allowed: a webhook at a name that
    // resolves to loopback, a Slack channel at a loopback address, an http_request by name
    let sink = HttpSink::start().await;
    let mut vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let key = tenant.api_key.clone();
    let (status, webhook) = create_channel(
        &vigil,
        &key,
        json!({"name": "default", "kind": "webhook", "url": by_name(&sink, "/named"), "secret": secret()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let (status, slack) = create_channel(
        &vigil,
        &key,
        json!({"name": "sev1", "kind": "slack", "url": sink.url("/literal")}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{slack}");
    let (status, client) = vigil
        .send_json(
            "POST",
            "/api/v1/clients",
            &key,
            &json!({"id": "c1", "name": "Acme Co"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, flow) = vigil
        .send_json(
            "POST",
            "/api/v1/workflows",
            &key,
            &json!({"name": "Hook", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
                    "steps": [{"type": "http_request", "url": by_name(&sink, "/flow/{{client.id}}")}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");

    // WHEN Vigil restarts without the exception and alerts are sent
    vigil.reconfigure(STRICT);
    let named = test_alert(&vigil, &tenant, "SEV2").await;
    let literal = test_alert(&vigil, &tenant, "SEV1").await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN each send failed for good at its first attempt with egress_denied
    for (id, channel) in [(&named, "default"), (&literal, "sev1")] {
        let (_, event) = vigil.get(&format!("/api/v1/events/{id}"), &key).await;
        let record = delivery(&event, channel);
        assert_eq!(record["status"], "failed", "{event}");
        assert_eq!(record["attempts"], 1, "no retries: {event}");
        assert!(
            record["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("egress_denied")),
            "{event}"
        );
    }

    // AND a channel test says so too
    for channel in [&webhook, &slack] {
        let id = channel["id"].as_str().unwrap_or_default();
        let (status, answer) = vigil
            .send_json(
                "POST",
                &format!("/api/v1/channels/{id}/test"),
                &key,
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["delivered"], false, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("egress_denied")),
            "{answer}"
        );
    }

    // AND the workflow's rendered URL is refused: the step fails for good
    post_event(
        &vigil,
        &tenant,
        json!({"id": "e1", "type": "client.stage_changed", "occurred_at": chrono::Utc::now().to_rfc3339(),
               "subject": {"client_id": "c1"}, "data": {"to": "at_risk"}}),
    )
    .await;
    drain_workflow_queue(&vigil).await;
    let flow_id = flow["id"].as_str().unwrap_or_default();
    let (_, runs) = vigil
        .get(&format!("/api/v1/workflows/{flow_id}/runs"), &key)
        .await;
    let run = &runs["items"][0];
    assert_eq!(run["status"], "failed", "{runs}");
    let run_id = run["run_id"].as_str().unwrap_or_default();
    let (_, run) = vigil
        .get(&format!("/api/v1/workflows/runs/{run_id}"), &key)
        .await;
    assert_eq!(run["steps"][0]["attempts"], 1, "no retries: {run}");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("egress_denied")),
        "{run}"
    );

    // AND the sink never heard from Vigil
    for path in ["/named", "/literal", "/flow/c1"] {
        assert!(sink.requests(path).is_empty(), "{path}");
    }
}

async fn redirects_are_not_followed(kind: Kind) {
    // GIVEN a webhook whose receiver redirects to another local service (loopback allowed)
    let first = HttpSink::start().await;
    let second = HttpSink::start().await;
    first.script(
        "/hook",
        vec![SinkResponse::status(302).with_header("location", &second.url("/landed"))],
    );
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (status, channel) = create_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "default", "kind": "webhook", "url": first.url("/hook"), "secret": secret()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");

    // WHEN an alert is sent
    let id = test_alert(&vigil, &tenant, "SEV2").await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN the redirect is a final answer, not followed
    let (_, event) = vigil
        .get(&format!("/api/v1/events/{id}"), &tenant.api_key)
        .await;
    let record = delivery(&event, "default");
    assert_eq!(record["status"], "failed", "{event}");
    assert!(
        record["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP 302")),
        "{event}"
    );
    assert_eq!(first.requests("/hook").len(), 1);
    assert!(second.requests("/landed").is_empty());
}

async fn answers_come_back_as_short_clean_excerpts(kind: Kind) {
    // GIVEN a receiver that answers an error with a long page full of control characters
    let sink = HttpSink::start().await;
    let page = format!(
        "<html>\r\n\t<pre>\u{1b}[31m{}</pre>",
        "internal detail ".repeat(200)
    );
    sink.script("/hook", vec![SinkResponse::status(400).with_body(&page)]);
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let (_, channel) = create_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "default", "kind": "webhook", "url": sink.url("/hook"), "secret": secret()}),
    )
    .await;
    let id = channel["id"].as_str().unwrap_or_default();

    // WHEN the channel is tested
    let (_, answer) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/channels/{id}/test"),
            &tenant.api_key,
            &json!({}),
        )
        .await;

    // THEN the status and a short excerpt come back, on one line, without control characters
    assert_eq!(answer["status"], 400, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("HTTP 400: <html> <pre> [31minternal detail"),
        "{error}"
    );
    assert!(error.chars().count() <= 220, "{error}");
    assert!(!error.chars().any(char::is_control), "{error}");
}

async fn workflow_requests_are_signed_with_the_outbound_secret(kind: Kind) {
    // GIVEN a workflow posting to a local receiver (loopback allowed)
    let sink = HttpSink::start().await;
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    assert!(tenant.outbound_secret.starts_with("whsec_"));
    assert_ne!(tenant.outbound_secret, tenant.webhook_secret);
    let (status, client) = vigil
        .send_json(
            "POST",
            "/api/v1/clients",
            &tenant.api_key,
            &json!({"id": "c1", "name": "Acme Co"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, flow) = vigil
        .send_json(
            "POST",
            "/api/v1/workflows",
            &tenant.api_key,
            &json!({"name": "Hook", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
                    "steps": [{"type": "http_request", "url": sink.url("/crm")}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");

    // WHEN it runs
    post_event(
        &vigil,
        &tenant,
        json!({"id": "e1", "type": "client.stage_changed", "occurred_at": chrono::Utc::now().to_rfc3339(),
               "subject": {"client_id": "c1"}, "data": {"to": "at_risk"}}),
    )
    .await;
    drain_workflow_queue(&vigil).await;

    // THEN the request verifies with the outbound secret and not with the inbound one, so the
    // receiver cannot replay it into the tenant's hooks
    let got = sink.requests("/crm");
    assert_eq!(got.len(), 1);
    let header = |name: &str| {
        got[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let timestamp: i64 = timestamp.parse().unwrap_or_default();
    let sign = |secret: &str| {
        vigil_core::standard_webhooks::sign(secret, &id, timestamp, &got[0].body)
            .unwrap_or_default()
    };
    let signature = header("webhook-signature");
    assert!(
        signature.contains(&sign(&tenant.outbound_secret)),
        "{signature}"
    );
    assert!(
        !signature.contains(&sign(&tenant.webhook_secret)),
        "{signature}"
    );
    let (status, replayed) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/events", tenant.tenant_id),
            &[
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", &timestamp.to_string()),
                ("webhook-signature", &signature),
                ("content-type", "application/json"),
            ],
            got[0].body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{replayed}");
}

async fn tenants_without_an_outbound_secret_get_one_on_first_use(kind: Kind) {
    // GIVEN a tenant stored before outbound secrets existed
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let store = &vigil.app.ports.store;
    let key = vigil_core::table_keys::tenant(&tenant.tenant_id);
    let item = store.get(&key).await.ok().flatten().expect("tenant item");
    let mut body: Value = serde_json::from_str(&item.body).unwrap_or_default();
    body.as_object_mut().map(|o| o.remove("outbound_secret"));
    let mut old = item.clone();
    old.body = body.to_string();
    store
        .put(
            old,
            vigil_core::ports::PutCondition::VersionEquals(item.version),
        )
        .await
        .expect("rewritten");

    // WHEN its outbound secret is asked for twice
    let first = vigil.app.tenants().outbound_secret(&tenant.tenant_id).await;
    let again = vigil.app.tenants().outbound_secret(&tenant.tenant_id).await;

    // THEN one is generated, kept, and is not the inbound secret
    let first = first.expect("generated");
    assert!(first.starts_with("whsec_"));
    assert_eq!(again.ok(), Some(first.clone()));
    assert_ne!(first, tenant.webhook_secret);
    let stored = vigil
        .app
        .tenants()
        .get(&tenant.tenant_id)
        .await
        .expect("tenant");
    assert_eq!(stored.outbound_secret, Some(first));
}

both!(
    literal_targets_are_refused_when_saved,
    names_and_addresses_are_refused_when_sent,
    redirects_are_not_followed,
    answers_come_back_as_short_clean_excerpts,
    workflow_requests_are_signed_with_the_outbound_secret,
    tenants_without_an_outbound_secret_get_one_on_first_use,
);
