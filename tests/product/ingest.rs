//! `POST /hooks/{tenant}/events`: authentication, idempotency, publishing, cost per event.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_core::ports::BusEnvelope;
use vigil_core::table_keys;

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};

both!(
    an_event_is_stored_once_when_posted_twice,
    signed_events_are_accepted_with_any_active_signature,
    unauthenticated_hooks_are_refused_and_counted,
    malformed_and_oversized_events_are_refused_and_not_stored,
    accepted_events_are_published_to_the_bus,
    one_write_and_no_read_per_event,
    concurrent_repeats_store_one_event,
    signature_headers_with_thousands_of_entries_are_answered_in_about_the_time_of_one,
    a_flood_of_rejected_hooks_costs_one_write_each,
);

fn event(id: &str) -> Value {
    json!({
        "id": id,
        "type": "client.stage_changed",
        "occurred_at": "2026-11-22T10:00:00Z",
        "subject": {"client_id": "c_42"},
        "data": {"from": "active", "to": "at_risk"}
    })
}

async fn post_with_token(
    vigil: &TestApp,
    tenant: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    vigil
        .call(
            "POST",
            &format!("/hooks/{tenant}/events"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
}

/// Posts `body` to `/hooks/{tenant}/{hook}` with a Standard Webhooks signature.
pub(crate) async fn post_signed(
    vigil: &TestApp,
    tenant: &str,
    hook: &str,
    signature: &str,
    timestamp: i64,
    body: &str,
) -> (StatusCode, Value) {
    let ts = timestamp.to_string();
    vigil
        .call(
            "POST",
            &format!("/hooks/{tenant}/{hook}"),
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &ts),
                ("webhook-signature", signature),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
}

async fn an_event_is_stored_once_when_posted_twice(kind: Kind) {
    // GIVEN a tenant and its ingest token
    let vigil = TestApp::start(kind).await;
    let t = vigil.tenant("Acme").await;
    // WHEN the same event is posted twice
    let (first, body1) =
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_1")).await;
    let (second, body2) =
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_1")).await;
    // THEN the first is accepted and the second reported as a duplicate
    assert_eq!(first, StatusCode::ACCEPTED, "{body1}");
    assert_eq!(body1, json!({"id": "evt_1", "duplicate": false}));
    assert_eq!(second, StatusCode::OK);
    assert_eq!(body2, json!({"id": "evt_1", "duplicate": true}));
    // AND it is stored once
    let (status, list) = vigil.get("/api/v1/domain-events", &t.api_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, stored) = vigil.get("/api/v1/domain-events/evt_1", &t.api_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["type"], "client.stage_changed");
    assert_eq!(stored["subject"]["client_id"], "c_42");
    assert!(stored["received_at"].as_str().unwrap().ends_with('Z'));
}

async fn signed_events_are_accepted_with_any_active_signature(kind: Kind) {
    // The app's clock is pinned, and the signature is made at its now.
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let t = vigil.tenant("Acme").await;
    let body = event("evt_signed").to_string();
    let ts = vigil.now().timestamp();
    let good = vigil_core::standard_webhooks::sign(&t.webhook_secret, "msg_1", ts, body.as_bytes())
        .unwrap();
    let other = vigil_core::standard_webhooks::sign(
        &vigil_core::tenancy::secrets::new_webhook_secret(),
        "msg_1",
        ts,
        body.as_bytes(),
    )
    .unwrap();
    // WHEN the request carries a wrong and a right signature (as during rotation)
    let (status, answer) = post_signed(
        &vigil,
        &t.tenant_id,
        "events",
        &format!("{other} {good}"),
        ts,
        &body,
    )
    .await;
    // THEN it is accepted
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

async fn unauthenticated_hooks_are_refused_and_counted(kind: Kind) {
    // GIVEN the app's clock pinned, so every rejected hook falls in one 5-minute bucket
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let t = vigil.tenant("Acme").await;
    let body = event("evt_x").to_string();
    let ts = vigil.now().timestamp();
    let signature =
        vigil_core::standard_webhooks::sign(&t.webhook_secret, "msg_1", ts, body.as_bytes())
            .unwrap();
    let altered = body.replace("at_risk", "at_riskk");
    // WHEN hooks arrive without credentials, with a wrong token, a signature over another body,
    // and a stale timestamp
    let (s1, e1) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/events", t.tenant_id),
            &[],
            body.clone(),
        )
        .await;
    let (s2, e2) = post_with_token(&vigil, &t.tenant_id, "vgl_it_wrong", &event("evt_x")).await;
    let (s3, e3) = post_signed(&vigil, &t.tenant_id, "events", &signature, ts, &altered).await;
    let stale = ts - 600;
    let stale_sig =
        vigil_core::standard_webhooks::sign(&t.webhook_secret, "msg_1", stale, body.as_bytes())
            .unwrap();
    let (s4, _) = post_signed(&vigil, &t.tenant_id, "events", &stale_sig, stale, &body).await;
    // THEN each is a 401 with a JSON error
    assert_eq!([s1, s2, s3, s4], [StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(e1["error"]["code"], "unauthenticated");
    // AND each attempt is counted for the webhook-integrity rule
    let bucket = vigil_core::ingest::integrity::bucket_start(vigil.now());
    let item = vigil
        .app
        .ports
        .store
        .get(&table_keys::integrity_bucket(&t.tenant_id, &bucket))
        .await
        .unwrap()
        .expect("integrity counters");
    assert_eq!(item.counters.get("failures"), Some(&4));
    assert_eq!(item.counters.get("stale_timestamp"), Some(&1));
    // AND an unknown tenant (well-formed or not) gets the same answer as bad credentials (each
    // with its own request id)
    let without_request_id = |(status, mut body): (StatusCode, Value)| {
        let id = body["error"]
            .as_object_mut()
            .and_then(|e| e.remove("request_id"));
        assert!(id.is_some_and(|id| id.is_string()), "{body}");
        (status, body)
    };
    let (e2, e3) = (
        without_request_id((s2, e2)).1,
        without_request_id((s3, e3)).1,
    );
    for unknown in ["tnt_01jd0000000000000000000000", "not-a-tenant"] {
        let answer = post_with_token(&vigil, unknown, &t.ingest_token, &event("evt_y")).await;
        assert_eq!(without_request_id(answer), (s2, e2.clone()), "{unknown}");
        let answer = post_signed(&vigil, unknown, "events", &signature, ts, &altered).await;
        assert_eq!(without_request_id(answer), (s3, e3.clone()), "{unknown}");
    }
    // AND nothing was stored
    let (_, list) = vigil.get("/api/v1/domain-events", &t.api_key).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

async fn malformed_and_oversized_events_are_refused_and_not_stored(kind: Kind) {
    let vigil = TestApp::start_with(kind, &[("VIGIL_MAX_BODY_BYTES", "4096")]).await;
    let t = vigil.tenant("Acme").await;
    let auth = format!("Bearer {}", t.ingest_token.expose());
    let path = format!("/hooks/{}/events", t.tenant_id);
    let cases = [
        ("not JSON", "{".to_string(), StatusCode::BAD_REQUEST, "invalid_event"),
        ("missing id", json!({"type": "a", "occurred_at": "2026-11-22T10:00:00Z"}).to_string(), StatusCode::BAD_REQUEST, "invalid_event"),
        ("bad time", json!({"id": "e", "type": "a", "occurred_at": "soon"}).to_string(), StatusCode::BAD_REQUEST, "invalid_event"),
        ("too large", json!({"id": "e", "type": "a", "occurred_at": "2026-11-22T10:00:00Z", "data": {"pad": "x".repeat(5000)}}).to_string(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (what, body, status, code) in cases {
        let (got, answer) = vigil
            .call("POST", &path, &[("authorization", &auth)], body)
            .await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}");
    }
    let (_, list) = vigil.get("/api/v1/domain-events", &t.api_key).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

async fn accepted_events_are_published_to_the_bus(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let t = vigil.tenant("Acme").await;
    // WHEN an event is accepted
    let (status, _) =
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_bus")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // THEN the workflow queue receives it in the EventBridge envelope, with its tenant
    let queue = &vigil.app.ports.workflow_queue;
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.is_empty() && Instant::now() < deadline {
        received = queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap();
    }
    assert_eq!(received.len(), 1);
    let envelope: BusEnvelope = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(envelope.source, "vigil");
    assert_eq!(envelope.detail_type, "client.stage_changed");
    assert_eq!(envelope.detail["tenant_id"], t.tenant_id.as_str());
    assert_eq!(envelope.detail["event"]["id"], "evt_bus");
}

async fn one_write_and_no_read_per_event(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let t = vigil.tenant("Acme").await;
    // GIVEN the tenant's credentials are cached by a first event
    post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_warm")).await;
    let store = &vigil.app.ports.store;
    // WHEN a new event, then its duplicate, are posted
    let before = store.request_counts();
    let (status, _) =
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_new")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let after_new = store.request_counts();
    let (status, _) =
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, &event("evt_new")).await;
    assert_eq!(status, StatusCode::OK);
    let after_dup = store.request_counts();
    // THEN each cost exactly one store write and no read
    let new = after_new.since(&before);
    let dup = after_dup.since(&after_new);
    assert_eq!((new.writes, new.reads), (1, 0), "new event");
    assert_eq!((dup.writes, dup.reads), (1, 0), "duplicate");
}

async fn concurrent_repeats_store_one_event(kind: Kind) {
    let vigil = std::sync::Arc::new(TestApp::start(kind).await);
    let t = vigil.tenant("Acme").await;
    // WHEN 32 copies of one event arrive at once
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let vigil = vigil.clone();
        let (tenant, token) = (t.tenant_id.clone(), t.ingest_token.clone());
        tasks.spawn(async move {
            post_with_token(&vigil, &tenant, &token, &event("evt_race"))
                .await
                .0
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    // THEN exactly one is accepted and 31 are duplicates
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::ACCEPTED)
            .count(),
        1
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        31
    );
}

/// The bounds that keep a signature header's cost that of one signature: over 2 KiB it is
/// refused before any MAC, and of a shorter one only the first 8 entries are read. (That each
/// configured secret costs exactly one MAC, whatever the header holds, is counted by the unit
/// tests of `vigil_core::standard_webhooks` and `vigil_core::stripe::signature`; the time, by
/// `cargo bench --bench ingest -- signature`.)
async fn signature_headers_with_thousands_of_entries_are_answered_in_about_the_time_of_one(
    kind: Kind,
) {
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let t = vigil.tenant("Acme").await;
    let ts = vigil.now().timestamp();
    let body = event("evt_many").to_string();
    let good = vigil_core::standard_webhooks::sign(&t.webhook_secret, "msg_1", ts, body.as_bytes())
        .unwrap();
    let wrong = |i: usize| {
        vigil_core::standard_webhooks::sign(
            &t.webhook_secret,
            "msg_1",
            ts - 1 - i as i64,
            body.as_bytes(),
        )
        .unwrap()
    };

    // WHEN the right signature comes first among 1,500 entries
    let mut thousands = vec![good.clone()];
    thousands.extend((1..1_500).map(wrong));
    let (status, answer) = post_signed(
        &vigil,
        &t.tenant_id,
        "events",
        &thousands.join(" "),
        ts,
        &body,
    )
    .await;
    // THEN the header is refused at once, and counted as an oversized signature
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2048 bytes")),
        "{answer}"
    );
    let bucket = vigil_core::ingest::integrity::bucket_start(vigil.now());
    let counters = vigil
        .app
        .ports
        .store
        .get(&table_keys::integrity_bucket(&t.tenant_id, &bucket))
        .await
        .unwrap()
        .expect("integrity counters")
        .counters;
    assert_eq!(counters.get("oversized_signature"), Some(&1));

    // WHEN it is the ninth of nine entries (under 2 KiB), THEN it is not looked at
    let mut nine: Vec<String> = (0..8).map(wrong).collect();
    nine.push(good.clone());
    let (status, _) = post_signed(&vigil, &t.tenant_id, "events", &nine.join(" "), ts, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // AND as the eighth, it is accepted
    let eight = nine[1..].join(" ");
    let (status, answer) = post_signed(&vigil, &t.tenant_id, "events", &eight, ts, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    // AND a Stripe-Signature of 1,500 entries is refused the same way
    let stripe_secret = "whsec_acme_endpoint_secret_1";
    let (status, view) = vigil
        .send_json(
            "PUT",
            "/api/v1/sources/stripe",
            &t.api_key,
            &json!({"secrets": [stripe_secret]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let stripe_body = json!({"id": "evt_s", "type": "charge.failed", "created": ts,
                             "data": {"object": {"amount": 1}}})
    .to_string();
    let signed = vigil_core::stripe::signature::sign(stripe_secret, ts, stripe_body.as_bytes());
    let header = format!("{signed}{}", ",v1=00".repeat(1_499));
    let (status, answer) = vigil
        .call(
            "POST",
            &format!("/hooks/{}/stripe", t.tenant_id),
            &[
                ("stripe-signature", &header),
                ("content-type", "application/json"),
            ],
            stripe_body,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "oversized_signature");
}

async fn a_flood_of_rejected_hooks_costs_one_write_each(kind: Kind) {
    use vigil_core::ingest::integrity::{RECORDS_PER_BUCKET, bucket_start};
    // A clock held inside one 5-minute bucket.
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let t = vigil.tenant("Acme").await;
    let store = &vigil.app.ports.store;
    // GIVEN the first rejections of a bucket, which are also kept as records
    let first = RECORDS_PER_BUCKET as usize;
    for _ in 0..first {
        let (status, _) = post_with_token(&vigil, &t.tenant_id, "vgl_it_wrong", &event("e")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // WHEN twenty more arrive
    let before = store.request_counts();
    for _ in 0..20 {
        let (status, _) = post_with_token(&vigil, &t.tenant_id, "vgl_it_wrong", &event("e")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let spent = store.request_counts().since(&before);
    // THEN each cost one store write (the bucket's counter) and no read
    assert_eq!((spent.writes, spent.reads), (20, 0));
    // AND all are counted, the first ones kept as records
    let counters = store
        .get(&table_keys::integrity_bucket(
            &t.tenant_id,
            &bucket_start(vigil.now()),
        ))
        .await
        .unwrap()
        .expect("integrity counters")
        .counters;
    assert_eq!(counters.get("failures"), Some(&(RECORDS_PER_BUCKET + 20)));
    assert_eq!(counters.get("bad_token"), Some(&(RECORDS_PER_BUCKET + 20)));
    let records = store
        .query(vigil_core::ports::Query::partition(
            vigil_core::ports::Index::Primary,
            table_keys::integrity_record(&t.tenant_id, "").pk,
        ))
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(records, first);
}
