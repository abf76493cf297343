//! `POST /hooks/{tenant}/stripe`: Stripe's signature scheme over the raw body, storage once per
//! Stripe event id, integrity records for rejects, and per-bucket aggregates by event time.

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_core::ingest::integrity::bucket_start;
use vigil_core::ports::{Index, Query};
use vigil_core::stripe::signature::sign;
use vigil_core::table_keys;

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};

both!(
    a_signed_stripe_event_is_stored_once_and_counted_once,
    bad_signatures_and_bodies_are_refused_with_an_integrity_record,
    stripe_secrets_are_set_and_rotated_by_admins,
);

const SECRET: &str = "whsec_acme_endpoint_secret_1";

fn charge_failed(id: &str, created: i64) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": "charge.failed",
        "created": created,
        "livemode": false,
        "data": {"object": {"id": "ch_1", "amount": 4200, "currency": "usd"}}
    })
    .to_string()
}

async fn post(
    vigil: &TestApp,
    tenant: &str,
    signature: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-forwarded-for", "198.51.100.66"),
    ];
    if let Some(signature) = signature {
        headers.push(("stripe-signature", signature));
    }
    // The address comes from the connection, never from the client's X-Forwarded-For.
    vigil
        .call_from(
            "192.0.2.10:40000".parse().expect("an address"),
            "POST",
            &format!("/hooks/{tenant}/stripe"),
            &headers,
            body.to_owned(),
        )
        .await
}

async fn a_signed_stripe_event_is_stored_once_and_counted_once(kind: Kind) {
    // GIVEN a tenant with a Stripe endpoint secret and a charge.failed event created 10 min ago
    // (on a pinned clock; Stripe signs at its now)
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let tenant = vigil.tenant_with_stripe(SECRET).await;
    let created = vigil.now() - chrono::Duration::minutes(10);
    let body = charge_failed("evt_1", created.timestamp());
    let signature = sign(SECRET, vigil.now().timestamp(), body.as_bytes());

    // WHEN Stripe delivers it twice
    let (first, answer) = post(&vigil, &tenant.tenant_id, Some(&signature), &body).await;
    let before = vigil.app.ports.request_counts();
    let (second, again) = post(&vigil, &tenant.tenant_id, Some(&signature), &body).await;
    let spent = vigil.app.ports.request_counts().since(&before);

    // THEN both answer 200, the second as a duplicate that wrote nothing new
    assert_eq!(
        (first, second),
        (StatusCode::OK, StatusCode::OK),
        "{answer} {again}"
    );
    assert_eq!(answer, json!({"id": "evt_1", "duplicate": false}));
    assert_eq!(again, json!({"id": "evt_1", "duplicate": true}));
    assert_eq!(
        (spent.writes, spent.reads),
        (1, 0),
        "one refused transaction, no read"
    );

    // AND the event is stored with its raw body, and counted once in the bucket of its created time
    let stored = vigil
        .app
        .ports
        .store
        .get(&table_keys::stripe_event(&tenant.tenant_id, "evt_1"))
        .await
        .unwrap()
        .expect("stored");
    let stored: Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(stored["raw"], body.as_str());
    assert_eq!(stored["type"], "charge.failed");
    let bucket = vigil
        .app
        .ports
        .store
        .get(&table_keys::revenue_bucket(
            &tenant.tenant_id,
            &bucket_start(created),
        ))
        .await
        .unwrap()
        .expect("bucket");
    assert_eq!(bucket.counters.get("payment_failed"), Some(&1));

    // AND an unknown type is stored but counted nowhere
    let other = json!({"id": "evt_2", "type": "customer.created", "created": created.timestamp(),
                       "data": {"object": {}}})
    .to_string();
    let signature = sign(SECRET, vigil.now().timestamp(), other.as_bytes());
    let (status, _) = post(&vigil, &tenant.tenant_id, Some(&signature), &other).await;
    assert_eq!(status, StatusCode::OK);
    let bucket = vigil
        .app
        .ports
        .store
        .get(&table_keys::revenue_bucket(
            &tenant.tenant_id,
            &bucket_start(created),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bucket.counters.len(), 1, "{:?}", bucket.counters);
}

async fn bad_signatures_and_bodies_are_refused_with_an_integrity_record(kind: Kind) {
    // On a pinned clock, "stale" and "future" are exactly 10 minutes off however long this takes.
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let tenant = vigil.tenant_with_stripe(SECRET).await;
    let now = vigil.now().timestamp();
    let body = charge_failed("evt_bad", now);
    let mut altered = body.clone().into_bytes();
    altered[12] ^= 1;
    let altered = String::from_utf8(altered).unwrap();
    let malformed = "{\"id\": \"evt_x\", \"type\": 42}";
    let cases = [
        ("no header", None, body.clone(), "missing_signature"),
        (
            "wrong secret",
            Some(sign("whsec_someone_else_entirely", now, body.as_bytes())),
            body.clone(),
            "invalid_signature",
        ),
        (
            "stale",
            Some(sign(SECRET, now - 600, body.as_bytes())),
            body.clone(),
            "stale_timestamp",
        ),
        (
            "future",
            Some(sign(SECRET, now + 600, body.as_bytes())),
            body.clone(),
            "stale_timestamp",
        ),
        (
            "altered body",
            Some(sign(SECRET, now, body.as_bytes())),
            altered,
            "invalid_signature",
        ),
        (
            "malformed header",
            Some("v1=abc".to_owned()),
            body.clone(),
            "malformed_signature",
        ),
        (
            "malformed body",
            Some(sign(SECRET, now, malformed.as_bytes())),
            malformed.to_owned(),
            "malformed_event",
        ),
    ];
    let unconfigured = vigil.tenant("No Stripe").await;
    for (name, signature, body, code) in &cases {
        // WHEN a bad delivery arrives
        let (status, answer) = post(&vigil, &tenant.tenant_id, signature.as_deref(), body).await;
        // THEN 401 for a signature that does not verify, 400 for a signed but malformed body,
        // each with a clear code
        let expected = if *code == "malformed_event" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{name}: {answer}");
        assert_eq!(answer["error"]["code"], *code, "{name}: {answer}");
        // AND an unknown tenant, or one without a Stripe secret, answers as a wrong signature
        // would (a malformed body is never read there: its signature cannot match)
        let expected = if *code == "malformed_event" {
            "invalid_signature"
        } else {
            code
        };
        for other in [
            "tnt_01jd0000000000000000000000",
            "not-a-tenant",
            unconfigured.tenant_id.as_str(),
        ] {
            let (status, answer) = post(&vigil, other, signature.as_deref(), body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} {other}: {answer}");
            assert_eq!(
                answer["error"]["code"], expected,
                "{name} {other}: {answer}"
            );
        }
    }

    // AND nothing was stored but one integrity record per reject, with its reason, IP and size
    for id in ["evt_bad", "evt_x"] {
        let got = vigil
            .app
            .ports
            .store
            .get(&table_keys::stripe_event(&tenant.tenant_id, id))
            .await
            .unwrap();
        assert!(got.is_none(), "{id} was stored");
    }
    let page = vigil
        .app
        .ports
        .store
        .query(Query::partition(
            Index::Primary,
            table_keys::integrity_record(&tenant.tenant_id, "").pk,
        ))
        .await
        .unwrap();
    assert_eq!(page.items.len(), cases.len());
    let record: Value = serde_json::from_str(&page.items[0].body).unwrap();
    assert_eq!(record["source"], "stripe");
    assert_eq!(record["source_ip"], "192.0.2.10");
    assert!(record["size"].as_u64().unwrap() > 0);
    assert!(record["reason"].is_string());
}

async fn stripe_secrets_are_set_and_rotated_by_admins(kind: Kind) {
    // GIVEN a tenant without a Stripe secret (on a pinned clock, signed at its now)
    let vigil = TestApp::start_with_clock(kind, &[], pinned_clock()).await;
    let tenant = vigil.tenant("Acme").await;
    let body = charge_failed("evt_r", vigil.now().timestamp());
    let signed = |secret: &str| sign(secret, vigil.now().timestamp(), body.as_bytes());
    let (status, _) = post(&vigil, &tenant.tenant_id, Some(&signed(SECRET)), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // WHEN an admin sets two secrets (a rotation), THEN either verifies, and none is shown back
    let old = "whsec_old_endpoint_secret";
    let (status, view) = vigil
        .send_json(
            "PUT",
            "/api/v1/sources/stripe",
            &tenant.api_key,
            &json!({"secrets": [SECRET, old]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["stripe_configured"], true);
    assert!(!view.to_string().contains("whsec_"));
    let (status, _) = post(&vigil, &tenant.tenant_id, Some(&signed(old)), &body).await;
    assert_eq!(status, StatusCode::OK);

    // AND bad secrets and non-admins are refused
    for bad in [
        json!({"secrets": []}),
        json!({"secrets": ["sk_live_x"]}),
        json!({"secret": SECRET}),
    ] {
        let (status, _) = vigil
            .send_json("PUT", "/api/v1/sources/stripe", &tenant.api_key, &bad)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let viewer = vigil.viewer_key(&tenant.tenant_id).await;
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/sources/stripe",
            &viewer,
            &json!({"secrets": [SECRET]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
