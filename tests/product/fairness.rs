//! Fairness between tenants: each tenant's hooks draw from its own rate (429 with `Retry-After`
//! past it), and a tenant flooding its hooks and filling the outbox leaves another tenant's hooks
//! and scheduled work alone.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use vigil_contract::sinks::HttpSink;
use vigil_core::ManualClock;
use vigil_core::delivery::outbox::NotificationFilter;
use vigil_core::delivery::{NewNotification, NotificationStatus, NotificationType};
use vigil_core::severity::Severity;
use vigil_core::stripe::signature::sign;
use vigil_core::tenancy::tenants::CreatedTenant;
use vigil_runtime::deployment::{Flow, FlowInvocation};

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};

both!(
    a_tenant_past_its_burst_is_refused_on_every_hook_until_its_bucket_refills,
    a_noisy_neighbour_leaves_another_tenants_hooks_and_scheduled_work_alone,
);

const SECRET: &str = "whsec_fairness_endpoint_secret";

/// The hook routes, each answering 2xx when it takes a request.
#[derive(Debug, Clone, Copy)]
enum Hook {
    Events,
    Runs,
    Stripe,
}

const EVERY_HOOK: [Hook; 3] = [Hook::Events, Hook::Runs, Hook::Stripe];

async fn tenant(vigil: &TestApp, name: &str) -> CreatedTenant {
    vigil
        .app
        .tenants()
        .create(name, Some(SECRET), &vigil_core::tenancy::audit::Actor::Cli)
        .await
        .unwrap()
}

/// Posts a new item (unique id) to one of the tenant's hooks, as its sender would.
async fn post(
    vigil: &TestApp,
    tenant: &CreatedTenant,
    hook: Hook,
) -> (StatusCode, HeaderMap, Value) {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let bearer = format!("Bearer {}", tenant.ingest_token.expose());
    let (route, body, auth) = match hook {
        Hook::Events => (
            "events",
            json!({"id": format!("evt_{id}"), "type": "load.test", "occurred_at": "2026-11-18T10:00:00Z",
                   "subject": {"client_id": "c_1"}, "data": {}}),
            ("authorization", bearer),
        ),
        Hook::Runs => (
            "runs",
            json!({"run_id": format!("run_{id}"), "scenario_id": "SYNC", "status": "Success",
                   "credits_total": 10.0}),
            ("authorization", bearer),
        ),
        Hook::Stripe => {
            let body = json!({"id": format!("evt_{id}"), "type": "charge.succeeded",
                              "created": vigil.now().timestamp(), "data": {"object": {"amount": 100}}});
            let signature = sign(SECRET, vigil.now().timestamp(), body.to_string().as_bytes());
            ("stripe", body, ("stripe-signature", signature))
        }
    };
    vigil
        .call_with_headers(
            "POST",
            &format!("/hooks/{}/{route}", tenant.tenant_id),
            &[(auth.0, &auth.1), ("content-type", "application/json")],
            body.to_string(),
        )
        .await
}

fn assert_accepted(hook: Hook, (status, _, body): &(StatusCode, HeaderMap, Value)) {
    assert!(status.is_success(), "{hook:?} answered {status}: {body}");
}

fn assert_limited(
    hook: Hook,
    (status, headers, body): &(StatusCode, HeaderMap, Value),
    seconds: &str,
) {
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{hook:?}: {body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{hook:?}: {body}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some(seconds),
        "{hook:?}"
    );
}

async fn a_tenant_past_its_burst_is_refused_on_every_hook_until_its_bucket_refills(kind: Kind) {
    // GIVEN hooks limited to 1 a second with bursts of 3, on a clock that stands still
    let clock = pinned_clock();
    let limits = [
        ("VIGIL_INGEST_RATE_PER_SECOND", "1"),
        ("VIGIL_INGEST_BURST", "3"),
    ];
    let vigil = TestApp::start_with_clock(kind, &limits, clock.clone()).await;
    let (acme, globex) = (tenant(&vigil, "Acme").await, tenant(&vigil, "Globex").await);
    // AND Acme spent its burst, one request on each hook
    for hook in EVERY_HOOK {
        assert_accepted(hook, &post(&vigil, &acme, hook).await);
    }

    // WHEN Acme posts to each hook again
    // THEN each is refused with 429, saying a token is there in one second
    for hook in EVERY_HOOK {
        assert_limited(hook, &post(&vigil, &acme, hook).await, "1");
    }
    // AND Globex is accepted on each meanwhile
    for hook in EVERY_HOOK {
        assert_accepted(hook, &post(&vigil, &globex, hook).await);
    }

    // WHEN the second passes, THEN Acme has one token again, on any hook, and then none
    clock.advance(Duration::seconds(1));
    assert_accepted(Hook::Runs, &post(&vigil, &acme, Hook::Runs).await);
    assert_limited(Hook::Events, &post(&vigil, &acme, Hook::Events).await, "1");
    // AND after three more seconds, its burst of three
    clock.advance(Duration::seconds(3));
    for hook in EVERY_HOOK {
        assert_accepted(hook, &post(&vigil, &acme, hook).await);
    }
    assert_limited(Hook::Stripe, &post(&vigil, &acme, Hook::Stripe).await, "1");
}

/// A window of the payment failure rule, aligned on the hour.
fn hour() -> DateTime<Utc> {
    "2026-12-09T10:00:00Z".parse().unwrap()
}

async fn a_noisy_neighbour_leaves_another_tenants_hooks_and_scheduled_work_alone(kind: Kind) {
    // GIVEN hooks limited to 10 a second with bursts of 20, a clock inside a rule window, a
    // noisy tenant and a quiet one whose webhook channel posts to a sink
    let clock = Arc::new(ManualClock::new(hour() + Duration::minutes(25)));
    let limits = [
        ("VIGIL_INGEST_RATE_PER_SECOND", "10"),
        ("VIGIL_INGEST_BURST", "20"),
    ];
    let vigil = Arc::new(TestApp::start_with_clock(kind, &limits, clock.clone()).await);
    let (noisy, quiet) = (tenant(&vigil, "Noisy").await, tenant(&vigil, "Quiet").await);
    let sink = HttpSink::start().await;
    let (status, channel) = vigil
        .send_json(
            "POST",
            "/api/v1/channels",
            &quiet.api_key,
            &json!({"name": "default", "kind": "webhook", "url": sink.url("/hook"),
                    "secret": vigil_core::tenancy::secrets::new_webhook_secret()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    // AND the noisy tenant's notifications fill the outbox
    for i in 0..40 {
        let notice = NewNotification {
            kind: NotificationType::TestAlert,
            severity: Severity::Sev3,
            title: format!("Noise {i}"),
            summary: String::new(),
            link_ref: None,
            dedupe_key: format!("noise-{i}"),
            payload: json!({}),
        };
        vigil
            .app
            .outbox()
            .emit(&noisy.tenant_id, notice)
            .await
            .unwrap();
    }

    // WHEN the noisy tenant floods its hooks, 10 times its burst from 4 senders at once, while
    // the quiet tenant posts three failed payments and a few events and runs
    let mut flood = tokio::task::JoinSet::new();
    for sender in 0..4 {
        let (vigil, noisy) = (vigil.clone(), noisy.clone());
        flood.spawn(async move {
            let mut answers = Vec::new();
            for i in 0..50 {
                let hook = EVERY_HOOK[(sender + i) % 3];
                answers.push(post(&vigil, &noisy, hook).await.0);
            }
            answers
        });
    }
    let quiet_answers = {
        let mut answers = Vec::new();
        for minute in [1, 11, 21] {
            let body = json!({"id": format!("evt_fail_{minute}"), "type": "charge.failed",
                              "created": (hour() + Duration::minutes(minute)).timestamp(),
                              "data": {"object": {"amount": 1000}}})
            .to_string();
            let signature = sign(SECRET, vigil.now().timestamp(), body.as_bytes());
            let (status, _, answer) = vigil
                .call_with_headers(
                    "POST",
                    &format!("/hooks/{}/stripe", quiet.tenant_id),
                    &[
                        ("stripe-signature", &signature),
                        ("content-type", "application/json"),
                    ],
                    body,
                )
                .await;
            answers.push((Hook::Stripe, status, answer));
            for hook in [Hook::Events, Hook::Runs] {
                let (status, _, answer) = post(&vigil, &quiet, hook).await;
                answers.push((hook, status, answer));
            }
        }
        answers
    };
    let noisy_answers: Vec<StatusCode> = flood.join_all().await.into_iter().flatten().collect();

    // THEN every quiet hook was taken (none 429 or 503)
    for (hook, status, answer) in &quiet_answers {
        assert!(
            status.is_success(),
            "quiet {hook:?} answered {status}: {answer}"
        );
    }
    // AND the noisy tenant got its burst and was refused the rest (the clock stood still)
    let taken = noisy_answers.iter().filter(|s| s.is_success()).count();
    let limited = noisy_answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((taken, limited), (20, 180), "{noisy_answers:?}");

    // WHEN the rule window is due and the scheduled rules run
    clock.set(hour() + Duration::minutes(36));
    let report = vigil_rules::run_flow(
        &vigil_rules::Services::new(&vigil.app),
        FlowInvocation {
            flow: Flow::RulesTick,
        },
    )
    .await
    .unwrap();
    // THEN the quiet tenant's failed payments opened its anomaly
    assert!(report.failed_tenants.is_empty(), "{report:?}");
    assert_eq!(report.detail["anomalies_opened"], 1, "{report:?}");
    // AND the dispatcher, working through the noisy backlog too, delivers the quiet tenant's alert
    vigil
        .dispatch_until_settled(&quiet.tenant_id, StdDuration::from_secs(60))
        .await;
    let delivered = sink.wait_for("/hook", 1, StdDuration::from_secs(20)).await;
    assert_eq!(delivered.len(), 1);
    let sent = NotificationFilter {
        status: Some(NotificationStatus::Sent),
        kind: Some(NotificationType::AnomalyOpened),
    };
    let (quiet_sent, _) = vigil
        .app
        .outbox()
        .list(&quiet.tenant_id, &sent, 10, None)
        .await
        .unwrap();
    assert_eq!(quiet_sent.len(), 1, "{quiet_sent:?}");
}
