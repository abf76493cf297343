//! Alert delivery: the outbox, routing, channels (Slack, signed webhook, email, inbox), retries,
//! dead-lettering, the failure drill and the inbox lifecycle — each scenario on both backends,
//! against a real HTTP sink and a real SMTP sink.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, SinkResponse, ses_messages, verify_with_standardwebhooks};
use vigil_core::delivery::outbox::OutboxMessage;
use vigil_core::delivery::slack::check_block_kit_limits;
use vigil_core::delivery::{NewNotification, NotificationType};
use vigil_core::severity::Severity;
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::harness::{Kind, TestApp, mailbox, pinned_clock};

both!(
    a_test_alert_reaches_every_routed_channel_once,
    a_redelivered_message_sends_each_channel_once,
    a_failing_channel_is_retried_until_it_answers,
    the_last_failed_attempt_dead_letters_the_channel,
    client_errors_are_permanent_but_408_and_429_retry,
    webhooks_are_signed_with_every_active_secret,
    email_channels_send_mail,
    an_email_channel_past_its_daily_quota_sends_nothing_more_that_day,
    the_failure_drill_delivers_once_after_a_manual_retry,
    the_inbox_has_a_lifecycle_and_a_badge,
    channel_secrets_are_write_only_and_admin_only,
    routing_is_validated_and_followed,
    payloads_are_redacted_before_they_are_stored_or_sent,
    a_delivered_notification_costs_at_most_three_writes_per_channel,
    the_sweeper_queues_again_what_never_reached_the_dispatcher,
    a_slow_channel_is_retried_alone_and_never_resends_a_delivered_one,
    a_message_the_outbox_queue_gave_up_on_is_noticed_listed_and_requeued,
);

const PATIENCE: Duration = Duration::from_secs(40);

fn notification(dedupe_key: &str, severity: Severity) -> NewNotification {
    NewNotification {
        kind: NotificationType::AnomalyOpened,
        severity,
        title: "Payment failures spiked".into(),
        summary: "5 failed payments in 30 minutes".into(),
        link_ref: Some("anomaly:anm_1".into()),
        dedupe_key: dedupe_key.into(),
        payload: json!({"rule": "payment_failure_spike"}),
    }
}

async fn add_channel(vigil: &TestApp, key: &str, body: Value) -> Value {
    let (status, channel) = vigil
        .send_json("POST", "/api/v1/channels", key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel
}

/// A webhook channel named `default` posting to the sink's `/hook`.
async fn add_webhook(vigil: &TestApp, key: &str, sink: &HttpSink) -> Value {
    add_channel(
        vigil,
        key,
        json!({"name": "default", "kind": "webhook", "url": sink.url("/hook"), "secret": secret()}),
    )
    .await
}

/// Emits through the outbox; returns the notification and whether it was new.
async fn emit(
    vigil: &TestApp,
    tenant: &str,
    new: NewNotification,
) -> (vigil_core::delivery::Notification, bool) {
    vigil.app.outbox().emit(tenant, new).await.unwrap()
}

fn secret() -> String {
    vigil_core::tenancy::secrets::new_webhook_secret()
}

async fn event(vigil: &TestApp, key: &str, id: &str) -> Value {
    let (status, event) = vigil.get(&format!("/api/v1/events/{id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    event
}

fn delivery<'a>(event: &'a Value, channel: &str) -> &'a Value {
    event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == channel)
        .unwrap_or_else(|| panic!("no delivery to {channel}: {event}"))
}

async fn a_test_alert_reaches_every_routed_channel_once(kind: Kind) {
    // GIVEN a tenant with a Slack channel `sev1` and a webhook channel `default`
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "sev1", "kind": "slack", "url": sink.url("/slack")}),
    )
    .await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;

    // WHEN an admin sends a SEV1 test alert and the dispatcher runs
    let (status, emitted) = vigil
        .send_json(
            "POST",
            "/api/v1/events/test",
            &tenant.api_key,
            &json!({"severity": "SEV1", "title": "Drill"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{emitted}");
    assert_eq!(emitted["type"], "test.alert");
    let id = emitted["id"].as_str().unwrap();
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN Slack got one valid Block Kit message, the webhook nothing (SEV1 routes to sev1),
    // and the inbox one item
    let slack = sink.requests("/slack");
    assert_eq!(slack.len(), 1);
    let message: Value = serde_json::from_slice(&slack[0].body).unwrap();
    check_block_kit_limits(&message).unwrap();
    assert!(message["text"].as_str().unwrap().contains("Drill"));
    assert!(sink.requests("/hook").is_empty());
    let event = event(&vigil, &tenant.api_key, id).await;
    assert_eq!(event["status"], "sent");
    assert_eq!(delivery(&event, "sev1")["status"], "sent");
    assert_eq!(delivery(&event, "sev1")["attempts"], 1);
    assert_eq!(delivery(&event, "inbox")["status"], "sent");
    let (_, inbox) = vigil.get("/api/v1/inbox", &tenant.api_key).await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
    assert_eq!(inbox["items"][0]["notification_id"], id);

    // AND a second emit with the same dedupe key returns the first and sends nothing
    let first = emit(
        &vigil,
        &tenant.tenant_id,
        notification("anomaly:1", Severity::Sev3),
    )
    .await;
    let again = emit(
        &vigil,
        &tenant.tenant_id,
        notification("anomaly:1", Severity::Sev3),
    )
    .await;
    assert!(first.1 && !again.1);
    assert_eq!(first.0.id, again.0.id);
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    assert_eq!(sink.requests("/hook").len(), 1, "SEV3 goes to default once");
}

async fn a_redelivered_message_sends_each_channel_once(kind: Kind) {
    // GIVEN a notification for a webhook channel, queued once
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("dup", Severity::Sev2),
    )
    .await;
    let body = serde_json::to_string(&OutboxMessage {
        tenant_id: tenant.tenant_id.clone(),
        notification_id: n.id.clone(),
    })
    .unwrap();

    // WHEN the same message is handled four times, two at once, twice over (SQS redelivery)
    for _ in 0..2 {
        let dispatcher = &vigil.app.dispatcher();
        let (a, b) = tokio::join!(dispatcher.handle(&body), dispatcher.handle(&body));
        a.unwrap();
        b.unwrap();
    }

    // THEN the webhook got it once and the inbox holds one item
    assert_eq!(sink.requests("/hook").len(), 1);
    let (_, inbox) = vigil.get("/api/v1/inbox", &tenant.api_key).await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1, "{inbox}");
    let (_, counts) = vigil.get("/api/v1/inbox/counts", &tenant.api_key).await;
    assert_eq!(counts["open"], 1, "{counts}");
    let event = event(&vigil, &tenant.api_key, &n.id).await;
    assert_eq!(event["status"], "sent", "{event}");
    assert_eq!(delivery(&event, "default")["attempts"], 1);
}

async fn a_failing_channel_is_retried_until_it_answers(kind: Kind) {
    // GIVEN a webhook that fails twice with 503, then answers 200
    let vigil = TestApp::start_with(kind, &[("VIGIL_RETRY_SCHEDULE", "1s")]).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    sink.script(
        "/hook",
        vec![SinkResponse::status(503), SinkResponse::status(503)],
    );
    add_webhook(&vigil, &tenant.api_key, &sink).await;

    // WHEN a notification is emitted and the dispatcher runs
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("retry", Severity::Sev2),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN it was tried three times and delivered on the third
    assert_eq!(sink.requests("/hook").len(), 3);
    let event = event(&vigil, &tenant.api_key, &n.id).await;
    let record = delivery(&event, "default");
    assert_eq!(record["status"], "sent", "{event}");
    assert_eq!(record["attempts"], 3);
    assert!(record["last_error"].as_str().unwrap().contains("503"));
    assert_eq!(event["status"], "sent");
}

async fn the_last_failed_attempt_dead_letters_the_channel(kind: Kind) {
    // GIVEN a webhook that answers 500 ten times (then 200), and the default ten attempts
    let vigil = TestApp::start_with(kind, &[("VIGIL_RETRY_SCHEDULE", "1s")]).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    sink.script("/hook", vec![SinkResponse::status(500); 10]);
    add_webhook(&vigil, &tenant.api_key, &sink).await;

    // WHEN a notification is emitted and the dispatcher runs
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("dead", Severity::Sev2),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::from_secs(60))
        .await;

    // THEN after ten attempts the channel is failed, with its last error
    assert_eq!(sink.requests("/hook").len(), 10);
    let event = event(&vigil, &tenant.api_key, &n.id).await;
    let record = delivery(&event, "default");
    assert_eq!(record["status"], "failed", "{event}");
    assert_eq!(record["attempts"], 10);
    assert!(record["last_error"].as_str().unwrap().contains("500"));
    assert_eq!(event["status"], "failed");

    // AND the inbox tells the admins
    let (_, inbox) = vigil
        .get("/api/v1/inbox?type=delivery.dead_lettered", &tenant.api_key)
        .await;
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{inbox}");
    assert!(items[0]["title"].as_str().unwrap().contains("default"));

    // AND it is listed as a dead letter, which an admin queues again by its id
    let (status, letters) = vigil.get("/api/v1/dead-letters", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK, "{letters}");
    let letters = letters["items"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["kind"], "delivery");
    assert_eq!(letters[0]["id"], n.id.as_str());
    assert_eq!(letters[0]["channels"], json!(["default"]));
    let (status, body) = vigil
        .send_json(
            "POST",
            "/api/v1/dead-letters/requeue",
            &tenant.api_key,
            &json!({"ids": [n.id]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["requeued"], json!([n.id]));
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    let retried = self::event(&vigil, &tenant.api_key, &n.id).await;
    assert_eq!(retried["status"], "sent", "{retried}");
    assert_eq!(sink.requests("/hook").len(), 11);
}

async fn client_errors_are_permanent_but_408_and_429_retry(kind: Kind) {
    // GIVEN three webhooks: one answers 400, one 429 with Retry-After: 3, one 408 then 200
    let vigil = TestApp::start_with(kind, &[("VIGIL_RETRY_SCHEDULE", "1s")]).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    sink.script("/bad", vec![SinkResponse::status(400); 5]);
    sink.script(
        "/busy",
        vec![SinkResponse::status(429).with_header("retry-after", "3")],
    );
    sink.script("/slow", vec![SinkResponse::status(408)]);
    for (name, path) in [("bad", "/bad"), ("busy", "/busy"), ("slow", "/slow")] {
        add_channel(
            &vigil,
            &tenant.api_key,
            json!({"name": name, "kind": "webhook", "url": sink.url(path), "secret": secret()}),
        )
        .await;
    }
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/routing",
            &tenant.api_key,
            &json!({"rules": [{"min_severity": "SEV4", "channels": ["bad", "busy", "slow"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // WHEN a notification is emitted and handled once
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("codes", Severity::Sev2),
    )
    .await;
    let first = vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::ZERO)
        .await;
    assert!(!first.is_empty());

    // THEN 400 failed at once; 429 waits at least its Retry-After; 408 waits its backoff
    let event1 = event(&vigil, &tenant.api_key, &n.id).await;
    assert_eq!(delivery(&event1, "bad")["status"], "failed");
    assert_eq!(delivery(&event1, "bad")["attempts"], 1);
    let busy = delivery(&event1, "busy");
    assert_eq!(busy["status"], "pending");
    let next =
        chrono::DateTime::parse_from_rfc3339(busy["next_attempt_at"].as_str().unwrap()).unwrap();
    let updated =
        chrono::DateTime::parse_from_rfc3339(busy["updated_at"].as_str().unwrap()).unwrap();
    assert!(
        next - updated >= chrono::Duration::seconds(3),
        "Retry-After honoured: {busy}"
    );
    assert_eq!(delivery(&event1, "slow")["status"], "pending");

    // AND in the end 429 and 408 are delivered on their second attempt
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    let event2 = event(&vigil, &tenant.api_key, &n.id).await;
    for name in ["busy", "slow"] {
        assert_eq!(delivery(&event2, name)["status"], "sent", "{event2}");
        assert_eq!(delivery(&event2, name)["attempts"], 2);
    }
    assert_eq!(sink.requests("/bad").len(), 1);
    assert_eq!(event2["status"], "failed", "one channel failed for good");
}

async fn webhooks_are_signed_with_every_active_secret(kind: Kind) {
    // GIVEN a webhook channel whose secret is being rotated (two active)
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    let (old, new) = (secret(), secret());
    let channel = add_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "default", "kind": "webhook", "url": sink.url("/hook"), "secret": old}),
    )
    .await;
    let (status, patched) = vigil
        .send_json(
            "PATCH",
            &format!("/api/v1/channels/{}", channel["id"].as_str().unwrap()),
            &tenant.api_key,
            &json!({"secret": new}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active_secrets"], 2);

    // WHEN a notification is delivered
    emit(
        &vigil,
        &tenant.tenant_id,
        notification("signed", Severity::Sev3),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN the standardwebhooks reference implementation verifies it with either secret
    let requests = sink.requests("/hook");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    for secret in [&old, &new] {
        verify_with_standardwebhooks(secret, &request.headers, &request.body)
            .unwrap_or_else(|e| panic!("signature with one secret does not verify: {e}"));
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "anomaly.opened");
    let signature = request
        .headers
        .iter()
        .find(|(k, _)| k == "webhook-signature")
        .unwrap();
    assert_eq!(signature.1.split(' ').count(), 2);
}

async fn email_channels_send_mail(kind: Kind) {
    // GIVEN an email channel
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let to = format!(
        "oncall-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    add_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "default", "kind": "email", "to": [to]}),
    )
    .await;

    // WHEN a notification is delivered
    let event = delivered(&vigil, &tenant, "mail").await;

    // THEN the channel is sent, and the mail arrived where this backend sends it
    assert_eq!(delivery(&event, "default")["status"], "sent", "{event}");
    let (subject, text) = match kind {
        Kind::Embedded => {
            let mail = mailbox()
                .wait_for(&to, "Payment failures spiked", PATIENCE)
                .await
                .expect("the SMTP sink received the mail");
            (mail.subject, mail.text)
        }
        Kind::Aws => {
            let endpoint = vigil_aws::testing::moto_endpoint();
            let mail = ses_messages(&endpoint)
                .await
                .into_iter()
                .find(|m| m.destinations.to.contains(&to))
                .expect("the emulator's SES accepted the mail");
            assert_eq!(mail.source, crate::harness::SENDER);
            (mail.subject, mail.body)
        }
    };
    assert!(
        subject.contains("[SEV2] Payment failures spiked"),
        "{subject}"
    );
    assert!(text.contains("5 failed payments"), "{text}");
}

/// Emits a SEV2 notification for `tenant`, runs the dispatcher until it settles, and returns the
/// notification as the API shows it (with its deliveries).
async fn delivered(vigil: &TestApp, tenant: &CreatedTenant, dedupe_key: &str) -> Value {
    let (n, _) = emit(
        vigil,
        &tenant.tenant_id,
        notification(dedupe_key, Severity::Sev2),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    event(vigil, &tenant.api_key, &n.id).await
}

/// The mails `to` received where this backend sends them.
async fn mails_to(kind: Kind, to: &str) -> usize {
    match kind {
        Kind::Embedded => mailbox().received_by(to).len(),
        Kind::Aws => ses_messages(&vigil_aws::testing::moto_endpoint())
            .await
            .into_iter()
            .filter(|m| m.destinations.to.iter().any(|t| t == to))
            .count(),
    }
}

async fn an_email_channel_past_its_daily_quota_sends_nothing_more_that_day(kind: Kind) {
    // GIVEN a quota of 2 emails per channel and day, and two tenants with an email channel each
    let clock = pinned_clock();
    let vigil =
        TestApp::start_with_clock(kind, &[("VIGIL_EMAIL_DAILY_QUOTA", "2")], clock.clone()).await;
    let (acme, globex) = (vigil.tenant("Acme").await, vigil.tenant("Globex").await);
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    let (acme_to, globex_to) = (
        format!("acme-{unique}@example.com"),
        format!("globex-{unique}@example.com"),
    );
    for (tenant, to) in [(&acme, &acme_to), (&globex, &globex_to)] {
        add_channel(
            &vigil,
            &tenant.api_key,
            json!({"name": "default", "kind": "email", "to": [to]}),
        )
        .await;
    }

    // WHEN Acme's channel is given four notifications in a day, and Globex's one
    let mut acme_events = Vec::new();
    for i in 0..4 {
        acme_events.push(delivered(&vigil, &acme, &format!("quota-{i}")).await);
    }
    delivered(&vigil, &globex, "quota-g").await;

    // THEN the first two were sent, and the last two failed for good with the quota's code
    for (i, event) in acme_events.iter().enumerate() {
        let record = delivery(event, "default");
        if i < 2 {
            assert_eq!(record["status"], "sent", "{event}");
        } else {
            assert_eq!(record["status"], "failed", "{event}");
            assert_eq!(record["attempts"], 1, "not retried: {event}");
            let error = record["last_error"].as_str().unwrap_or_default();
            assert!(error.starts_with("email_quota_exceeded"), "{error}");
        }
    }
    // AND exactly two mails reached Acme's address, and Globex's channel sent its own
    if let Kind::Embedded = kind {
        mailbox()
            .wait_for(&globex_to, "Payment failures spiked", PATIENCE)
            .await
            .expect("Globex's mail arrived");
    }
    assert_eq!(mails_to(kind, &acme_to).await, 2);
    assert_eq!(mails_to(kind, &globex_to).await, 1);
    // AND Acme's inbox has one notice of the quota (not one per refused mail)
    let (status, inbox) = vigil.get("/api/v1/inbox", &acme.api_key).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    let notices: Vec<&Value> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| {
            item["title"]
                .as_str()
                .is_some_and(|t| t.contains("reached its daily quota of 2"))
        })
        .collect();
    assert_eq!(notices.len(), 1, "{inbox}");

    // WHEN the next UTC day begins, THEN Acme's channel sends again
    clock.advance(chrono::Duration::days(1));
    let event = delivered(&vigil, &acme, "quota-next-day").await;
    assert_eq!(delivery(&event, "default")["status"], "sent", "{event}");
}

async fn the_failure_drill_delivers_once_after_a_manual_retry(kind: Kind) {
    // GIVEN every send forced to fail, two attempts allowed
    let mut vigil = TestApp::start_with(
        kind,
        &[
            ("VIGIL_DISPATCH_FORCE_FAIL", "1"),
            ("VIGIL_RETRY_SCHEDULE", "1s"),
            ("VIGIL_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;

    // WHEN events are ingested and a test alert is sent
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    let (status, _) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/events", tenant.tenant_id),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            json!({"id": "evt_1", "type": "client.activity", "occurred_at": "2026-11-22T10:00:00Z",
                   "subject": {"client_id": "c_1"}, "data": {}})
            .to_string(),
        )
        .await;
    let (_, emitted) = vigil
        .send_json(
            "POST",
            "/api/v1/events/test",
            &tenant.api_key,
            &json!({"severity": "SEV2", "title": "Drill"}),
        )
        .await;
    let id = emitted["id"].as_str().unwrap().to_owned();
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN ingestion still succeeded, and the alert failed on every channel with last_error
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed = event(&vigil, &tenant.api_key, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    for channel in ["default", "inbox"] {
        let record = delivery(&failed, channel);
        assert_eq!(record["status"], "failed");
        assert!(record["last_error"].as_str().unwrap().contains("forced"));
    }
    assert!(sink.requests("/hook").is_empty());
    let (_, listed) = vigil
        .get("/api/v1/events?status=failed", &tenant.api_key)
        .await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str())
    );

    // WHEN the drill ends (no forced failure) and an admin retries the event
    vigil.reconfigure(&[("VIGIL_RETRY_SCHEDULE", "1s")]);
    let (status, retried) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/events/{id}/retry"),
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN it is delivered once, and the inbox has it
    let delivered = event(&vigil, &tenant.api_key, &id).await;
    assert_eq!(delivered["status"], "sent", "{delivered}");
    assert_eq!(sink.requests("/hook").len(), 1);
    let (_, inbox) = vigil
        .get("/api/v1/inbox?type=test.alert", &tenant.api_key)
        .await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);

    // AND a second retry has nothing to do
    let (status, body) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/events/{id}/retry"),
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn the_inbox_has_a_lifecycle_and_a_badge(kind: Kind) {
    // GIVEN three notifications in the inbox: SEV1, SEV1, SEV3
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    for (key, severity) in [
        ("a", Severity::Sev1),
        ("b", Severity::Sev1),
        ("c", Severity::Sev3),
    ] {
        vigil
            .app
            .outbox()
            .emit(&tenant.tenant_id, notification(key, severity))
            .await
            .unwrap();
    }
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    let (_, counts) = vigil.get("/api/v1/inbox/counts", &tenant.api_key).await;
    assert_eq!(counts["open"], 3, "{counts}");
    assert_eq!(counts["by_severity"]["SEV1"], 2);

    // WHEN one is acknowledged, then resolved
    let (_, sev1) = vigil
        .get("/api/v1/inbox?severity=SEV1", &tenant.api_key)
        .await;
    let items = sev1["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["link_ref"], "anomaly:anm_1");
    let id = items[0]["id"].as_str().unwrap();
    let act = |action: &str| format!("/api/v1/inbox/{id}/{action}");
    let (status, acked) = vigil
        .send_json("POST", &act("acknowledge"), &tenant.api_key, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    let (status, _) = vigil
        .send_json("POST", &act("resolve"), &tenant.api_key, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // THEN illegal transitions are refused, the badge dropped and filters see it
    let (status, body) = vigil
        .send_json("POST", &act("acknowledge"), &tenant.api_key, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = vigil
        .send_json("POST", &act("snooze"), &tenant.api_key, &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, counts) = vigil.get("/api/v1/inbox/counts", &tenant.api_key).await;
    assert_eq!(counts["open"], 2);
    assert_eq!(counts["by_severity"]["SEV1"], 1);
    let (_, resolved) = vigil
        .get("/api/v1/inbox?status=resolved", &tenant.api_key)
        .await;
    assert_eq!(resolved["items"].as_array().unwrap().len(), 1);
    let (status, _) = vigil
        .get("/api/v1/inbox?status=closed", &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // AND a viewer may read but not act
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let other = items[1]["id"].as_str().unwrap();
    let (status, _) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/inbox/{other}/dismiss"),
            &viewer,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn channel_secrets_are_write_only_and_admin_only(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    let signing = secret();
    let url = sink.url("/private/path-token");

    // GIVEN a webhook channel
    let channel = add_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "default", "kind": "webhook", "url": url, "secret": signing}),
    )
    .await;
    let id = channel["id"].as_str().unwrap();

    // THEN neither its URL path nor its secret is ever shown
    let (_, list) = vigil.get("/api/v1/channels", &tenant.api_key).await;
    let (_, one) = vigil
        .get(&format!("/api/v1/channels/{id}"), &tenant.api_key)
        .await;
    for shown in [&channel, &list, &one] {
        let text = shown.to_string();
        assert!(
            !text.contains("path-token") && !text.contains(&signing),
            "{text}"
        );
    }

    // AND bad input and duplicates are refused, and only admins manage channels
    let (status, body) = vigil
        .send_json(
            "POST",
            "/api/v1/channels",
            &tenant.api_key,
            &json!({"name": "default", "kind": "webhook", "url": url, "secret": secret()}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for bad in [
        json!({"name": "x", "kind": "pager", "url": url}),
        json!({"name": "x", "kind": "webhook", "url": url}),
        json!({"name": "x", "kind": "slack", "url": "ftp://example.com"}),
        json!({"name": "x", "kind": "email", "to": ["nobody"]}),
        json!({"name": "Bad Name", "kind": "slack", "url": url}),
    ] {
        let (status, body) = vigil
            .send_json("POST", "/api/v1/channels", &tenant.api_key, &bad)
            .await;
        // A field the kind needs or does not take is a rule between fields: 422.
        let expected = if bad["kind"] == "webhook" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{bad} → {body}");
        assert!(body["error"]["code"].is_string());
    }
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let (status, _) = vigil
        .send_json(
            "POST",
            "/api/v1/channels",
            &viewer,
            &json!({"name": "sev0", "kind": "slack", "url": url}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // WHEN the channel is tested, THEN the sink's answer comes back at once
    let (status, tested) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/channels/{id}/test"),
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["delivered"], true);
    assert_eq!(tested["status"], 200);
    sink.script("/private/path-token", vec![SinkResponse::status(500)]);
    let (_, tested) = vigil
        .send_json(
            "POST",
            &format!("/api/v1/channels/{id}/test"),
            &tenant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(tested["delivered"], false);
    assert_eq!(tested["status"], 500);

    // AND it can be deleted, after which it is gone
    let auth = format!("Bearer {}", tenant.api_key.expose());
    let (status, _) = vigil
        .call(
            "DELETE",
            &format!("/api/v1/channels/{id}"),
            &[("authorization", &auth)],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = vigil
        .get(&format!("/api/v1/channels/{id}"), &tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn routing_is_validated_and_followed(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_channel(
        &vigil,
        &tenant.api_key,
        json!({"name": "finance", "kind": "slack", "url": sink.url("/finance")}),
    )
    .await;

    // GIVEN the default routing
    let (_, routing) = vigil.get("/api/v1/routing", &tenant.api_key).await;
    assert_eq!(routing["source"], "default");

    // WHEN routes name a missing channel, THEN they are refused
    let (status, body) = vigil
        .send_json(
            "PUT",
            "/api/v1/routing",
            &tenant.api_key,
            &json!({"rules": [{"min_severity": "SEV4", "channels": ["nowhere"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/routing",
            &tenant.api_key,
            &json!({"rules": [{"min_severity": "SEV9", "channels": ["finance"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // WHEN summaries go to finance only
    let (status, body) = vigil
        .send_json(
            "PUT",
            "/api/v1/routing",
            &tenant.api_key,
            &json!({"rules": [{"types": ["summary.ready"], "min_severity": "SEV4", "channels": ["finance"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let summary = NewNotification {
        kind: NotificationType::SummaryReady,
        ..notification("summary", Severity::Sev4)
    };
    vigil
        .app
        .outbox()
        .emit(&tenant.tenant_id, summary)
        .await
        .unwrap();
    emit(
        &vigil,
        &tenant.tenant_id,
        notification("other", Severity::Sev0),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN finance got the summary only, and nothing reached the inbox
    assert_eq!(sink.requests("/finance").len(), 1);
    let (_, inbox) = vigil.get("/api/v1/inbox", &tenant.api_key).await;
    assert!(inbox["items"].as_array().unwrap().is_empty());
}

async fn payloads_are_redacted_before_they_are_stored_or_sent(kind: Kind) {
    // GIVEN a webhook channel
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;

    // WHEN a notification carries an email address, a card number and a Stripe key
    let leaky = NewNotification {
        summary: "Refund for jane.doe@example.com on card 4242 4242 4242 4242".into(),
        payload: json!({"customer": {"email": "jane.doe@example.com"}, "note": "key sk_live_abcdefghijklmnop1234"}),
        ..notification("leak", Severity::Sev3)
    };
    let (n, _) = vigil
        .app
        .outbox()
        .emit(&tenant.tenant_id, leaky)
        .await
        .unwrap();
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN neither the stored event nor what was sent contains them
    let stored = event(&vigil, &tenant.api_key, &n.id).await.to_string();
    let sent = String::from_utf8(sink.requests("/hook")[0].body.clone()).unwrap();
    for text in [&stored, &sent] {
        assert!(!text.contains("jane.doe@example.com"), "{text}");
        assert!(!text.contains("4242 4242 4242 4242"), "{text}");
        assert!(!text.contains("sk_live_abcdefghijklmnop1234"), "{text}");
        assert!(text.contains("[redacted:email]"), "{text}");
    }
}

async fn a_delivered_notification_costs_at_most_three_writes_per_channel(kind: Kind) {
    // GIVEN a webhook channel and the default routing (webhook + inbox)
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;
    vigil
        .app
        .outbox()
        .redaction(&tenant.tenant_id)
        .await
        .unwrap();
    let before = vigil.app.ports.request_counts();

    // WHEN a notification is emitted and delivered to both channels
    emit(
        &vigil,
        &tenant.tenant_id,
        notification("cost", Severity::Sev3),
    )
    .await;
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;

    // THEN it cost at most three store writes per channel, the delivery records included
    let spent = vigil.app.ports.request_counts().since(&before);
    assert_eq!(sink.requests("/hook").len(), 1);
    assert!(spent.writes <= 6, "{spent:?}");
    println!("store requests for one notification to 2 channels: {spent:?}");
}

async fn the_sweeper_queues_again_what_never_reached_the_dispatcher(kind: Kind) {
    // GIVEN a notification whose queue message was lost (received and deleted unhandled)
    let clock = pinned_clock();
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &tenant.api_key, &sink).await;
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("lost", Severity::Sev2),
    )
    .await;
    let outbox = &vigil.app.ports.outbox;
    let mut lost = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while lost == 0 && std::time::Instant::now() < deadline {
        for message in outbox
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
        {
            outbox.delete(&message.receipt).await.unwrap();
            lost += 1;
        }
    }
    assert_eq!(
        lost, 1,
        "the notification's queue message was received and deleted"
    );

    // WHEN the minute sweep runs before and after the notification is a minute overdue
    let early = vigil.app.outbox().sweep(&tenant.tenant_id).await.unwrap();
    clock.advance(chrono::Duration::seconds(90));
    let late = vigil_dispatcher::run_flow(
        &vigil_dispatcher::Services::new(&vigil.app),
        vigil_runtime::deployment::FlowInvocation {
            flow: vigil_runtime::deployment::Flow::OutboxSweep,
        },
    )
    .await
    .unwrap();

    // THEN only the late sweep queues it, and the dispatcher then delivers it once
    assert_eq!(early, 0);
    assert_eq!(
        late.detail["requeued_notifications"], 1,
        "{:?}",
        late.detail
    );
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    assert_eq!(sink.requests("/hook").len(), 1);
    assert_eq!(
        event(&vigil, &tenant.api_key, &n.id).await["status"],
        "sent"
    );
    let again = vigil.app.outbox().sweep(&tenant.tenant_id).await.unwrap();
    assert_eq!(again, 0, "a delivered notification is not queued again");
}

async fn a_slow_channel_is_retried_alone_and_never_resends_a_delivered_one(kind: Kind) {
    // GIVEN a tenant routing everything to a fast Slack channel and a slow one (its first answer
    // comes long after the delivery deadline), with quick retries
    let vigil = TestApp::start_with(
        kind,
        &[
            ("VIGIL_DELIVERY_DEADLINE_SECONDS", "5"),
            ("VIGIL_RETRY_SCHEDULE", "1s"),
        ],
    )
    .await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    sink.script(
        "/slow",
        vec![SinkResponse::status(200).with_delay(Duration::from_secs(60))],
    );
    for name in ["fast", "slow"] {
        add_channel(
            &vigil,
            &tenant.api_key,
            json!({"name": name, "kind": "slack", "url": sink.url(&format!("/{name}"))}),
        )
        .await;
    }
    let (status, body) = vigil
        .send_json(
            "PUT",
            "/api/v1/routing",
            &tenant.api_key,
            &json!({"rules": [{"min_severity": "SEV4", "channels": ["fast", "slow"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // WHEN a notification is dispatched
    let (n, _) = emit(
        &vigil,
        &tenant.tenant_id,
        notification("slow", Severity::Sev2),
    )
    .await;
    let message = serde_json::to_string(&OutboxMessage {
        tenant_id: tenant.tenant_id.clone(),
        notification_id: n.id.clone(),
    })
    .unwrap();
    let app = vigil.app.clone();
    let first = tokio::spawn(async move { app.dispatcher().handle(&message).await });

    // THEN both channels are sent to at once, and the fast one's delivery is recorded while the
    // slow one is still waiting for its answer
    assert_eq!(sink.wait_for("/fast", 1, PATIENCE).await.len(), 1);
    assert_eq!(sink.wait_for("/slow", 1, PATIENCE).await.len(), 1);
    let mut fast = Value::Null;
    while !first.is_finished() {
        fast = delivery(&event(&vigil, &tenant.api_key, &n.id).await, "fast").clone();
        if fast["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fast["status"], "sent",
        "recorded only after the slow channel"
    );
    assert!(!first.is_finished());

    // AND the slow one misses the deadline: a retryable failure of that channel only
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.sent, vec!["fast".to_owned()], "{report:?}");
    assert_eq!(report.retrying, vec!["slow".to_owned()], "{report:?}");
    let slow = delivery(&event(&vigil, &tenant.api_key, &n.id).await, "slow").clone();
    assert_eq!(slow["status"], "pending", "{slow}");
    assert!(
        slow["last_error"].as_str().unwrap().contains("deadline"),
        "{slow}"
    );

    // AND its retry reaches it, while the fast one still has exactly one request
    vigil
        .dispatch_until_settled(&tenant.tenant_id, PATIENCE)
        .await;
    let event = event(&vigil, &tenant.api_key, &n.id).await;
    assert_eq!(event["status"], "sent", "{event}");
    assert_eq!(delivery(&event, "slow")["attempts"], 2, "{event}");
    assert_eq!(delivery(&event, "fast")["attempts"], 1, "{event}");
    assert_eq!(sink.requests("/slow").len(), 2);
    assert_eq!(sink.requests("/fast").len(), 1);
}

async fn a_message_the_outbox_queue_gave_up_on_is_noticed_listed_and_requeued(kind: Kind) {
    // GIVEN two tenants with a webhook each, and an outbox message of the first that the queue
    // gave up on (received as often as allowed, never handled)
    let vigil = TestApp::start(kind).await;
    let acme = vigil.tenant("Acme").await;
    let other = vigil.tenant("Other").await;
    let sink = HttpSink::start().await;
    add_webhook(&vigil, &acme.api_key, &sink).await;
    let (n, _) = emit(
        &vigil,
        &acme.tenant_id,
        notification("poison", Severity::Sev2),
    )
    .await;
    let outbox = &vigil.app.ports.outbox;
    let dead = &vigil.app.ports.outbox_dead_letters;
    let deadline = std::time::Instant::now() + PATIENCE;
    while dead.depth().await.unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        outbox
            .receive(10, Duration::ZERO, Duration::from_secs(1))
            .await
            .unwrap();
    }

    // WHEN the outbox sweep runs (twice: its notice is made once) and the dispatcher delivers
    for _ in 0..2 {
        vigil_dispatcher::run_flow(
            &vigil_dispatcher::Services::new(&vigil.app),
            vigil_runtime::deployment::FlowInvocation {
                flow: vigil_runtime::deployment::Flow::OutboxSweep,
            },
        )
        .await
        .unwrap();
    }
    vigil
        .dispatch_until_settled(&acme.tenant_id, PATIENCE)
        .await;

    // THEN the tenant's inbox has one notice of it, and the webhook nothing yet
    let (_, inbox) = vigil
        .get("/api/v1/inbox?type=delivery.dead_lettered", &acme.api_key)
        .await;
    let notices = inbox["items"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{inbox}");
    assert!(
        notices[0]["title"]
            .as_str()
            .unwrap()
            .contains("Payment failures"),
        "{inbox}"
    );
    let sent_of = |id: &str| {
        sink.requests("/hook")
            .iter()
            .filter(|r| r.headers.iter().any(|(k, v)| k == "webhook-id" && v == id))
            .count()
    };
    assert_eq!(sent_of(&n.id), 0, "the dead-lettered notification was sent");

    // AND admins of that tenant list it; a viewer may not, and the other tenant sees nothing
    let (status, listed) = vigil.get("/api/v1/dead-letters", &acme.api_key).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let letters = listed["items"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(letters[0]["kind"], "message");
    assert_eq!(letters[0]["notification_id"], n.id.as_str());
    let id = letters[0]["id"].as_str().unwrap().to_owned();
    let viewer = vigil.viewer_key(&acme.tenant_id).await;
    let (status, body) = vigil.get("/api/v1/dead-letters", &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, others) = vigil.get("/api/v1/dead-letters", &other.api_key).await;
    assert_eq!(others["items"], json!([]), "{others}");

    // WHEN the other tenant, then a viewer, then an admin asking for two things, try to requeue it
    let requeue = |key: &str, body: Value| {
        let key = key.to_owned();
        let vigil = &vigil;
        async move {
            vigil
                .send_json("POST", "/api/v1/dead-letters/requeue", &key, &body)
                .await
        }
    };
    let (status, body) = requeue(&other.api_key, json!({"ids": [id]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (status, _) = requeue(&viewer, json!({"ids": [id]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = requeue(&acme.api_key, json!({"ids": [id], "all": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // THEN it is still dead; WHEN its admin requeues it, THEN it is delivered once and audited
    assert_eq!(dead.depth().await.unwrap(), 1);
    let (status, body) = requeue(&acme.api_key, json!({"ids": [id]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["requeued"], json!([id]));
    vigil
        .dispatch_until_settled(&acme.tenant_id, PATIENCE)
        .await;
    let event = event(&vigil, &acme.api_key, &n.id).await;
    assert_eq!(event["status"], "sent", "{event}");
    assert_eq!(sent_of(&n.id), 1);
    let (_, letters) = vigil.get("/api/v1/dead-letters", &acme.api_key).await;
    assert_eq!(letters["items"], json!([]), "{letters}");
    let (_, audit) = vigil.get("/api/v1/audit", &acme.api_key).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "dead_letter.requeue" && e["target"] == id.as_str()),
        "{audit}"
    );
}
