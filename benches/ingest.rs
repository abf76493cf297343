//! The ingest path in-process.
//! - `ingest_cpu`: what the handler spends per 2 KB signed event before the store write:
//!   verify the Standard Webhooks signature, parse and validate, build the item.
//! - `ingest_router_sqlite`: one request through the full router onto the embedded store
//!   (durable: WAL + fsync), measured one at a time.
//! - `signature/…`: verifying a 2 KB event whose signature header holds 1 entry, the most a
//!   header under 2 KiB can hold (42, of which 8 are read), and 1,500 entries (refused unread);
//!   Standard Webhooks and `Stripe-Signature`.
//!
//! Run: `cargo bench --bench ingest` (`-- signature` for the signature group only)

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tower::ServiceExt as _;
use vigil_core::ingest::{DomainEvent, StoredDomainEvent};
use vigil_core::standard_webhooks::{self, SignedHeaders};
use vigil_core::tenancy::secrets;

fn two_kb_event(id: &str) -> String {
    let body = json!({
        "id": id,
        "type": "client.kpi_updated",
        "occurred_at": "2026-11-22T10:00:00Z",
        "subject": {"client_id": "c_42"},
        "data": {"metric": "health_score", "value": 42, "note": "x".repeat(1800)}
    })
    .to_string();
    assert!((1900..2300).contains(&body.len()));
    body
}

fn ingest_cpu(c: &mut Criterion) {
    let secret = secrets::new_webhook_secret();
    let secrets = vec![secret.clone()];
    let body = two_kb_event("evt_bench");
    let now = chrono::Utc::now();
    let ts = now.timestamp();
    let sig = standard_webhooks::sign(&secret, "msg_1", ts, body.as_bytes()).expect("sign");
    let ts_text = ts.to_string();
    c.bench_function("ingest_cpu (verify + parse + build item, 2 KB)", |b| {
        b.iter(|| {
            let headers = SignedHeaders {
                id: Some("msg_1"),
                timestamp: Some(&ts_text),
                signature: Some(&sig),
            };
            standard_webhooks::verify(&secrets, headers, body.as_bytes(), now).expect("valid");
            let event = DomainEvent::parse(body.as_bytes()).expect("parses");
            let stored = StoredDomainEvent {
                event,
                received_at: now,
            };
            stored
                .to_item("tnt_01jd0000000000000000000000", now)
                .expect("item")
        })
    });
}

fn ingest_router_sqlite(c: &mut Criterion) {
    let runtime = support::runtime();
    let (_dir, backend, app) = support::embedded_app();
    let router = vigil_http::all_routes(&app);
    let tenant = runtime
        .block_on(
            app.tenants()
                .create("Bench", None, &vigil_core::tenancy::audit::Actor::Cli),
        )
        .expect("tenant");
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    let path = format!("/hooks/{}/events", tenant.tenant_id);
    c.bench_function("ingest_router_sqlite (one durable event)", |b| {
        b.to_async(&runtime).iter(|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let request = Request::post(&path)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(Body::from(two_kb_event(&format!("evt_{n}"))))
                .expect("request");
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await.expect("answer");
                assert_eq!(response.status(), 202);
            }
        })
    });
    runtime.block_on(backend.shutdown());
}

fn signature_entries(c: &mut Criterion) {
    let secret = secrets::new_webhook_secret();
    let secrets = vec![secret.clone()];
    let body = two_kb_event("evt_bench");
    let now = chrono::Utc::now();
    let ts = now.timestamp();
    let ts_text = ts.to_string();
    let good = standard_webhooks::sign(&secret, "msg_1", ts, body.as_bytes()).expect("sign");
    let wrong = |i: i64| {
        standard_webhooks::sign(&secret, "msg_1", ts - 1 - i, body.as_bytes()).expect("sign")
    };
    let most: Vec<String> = (0..42).map(wrong).collect();
    let most = most.join(" ");
    assert!(most.len() <= standard_webhooks::MAX_SIGNATURE_HEADER_BYTES);
    let mut thousands = vec![good.clone()];
    thousands.extend((1..1_500).map(wrong));
    let thousands = thousands.join(" ");
    let mut group = c.benchmark_group("signature");
    for (name, header) in [
        ("standard_1_entry", good.as_str()),
        ("standard_42_entries", most.as_str()),
        ("standard_1500_entries", thousands.as_str()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let headers = SignedHeaders {
                    id: Some("msg_1"),
                    timestamp: Some(&ts_text),
                    signature: Some(header),
                };
                standard_webhooks::verify(&secrets, headers, body.as_bytes(), now).is_ok()
            })
        });
    }
    let stripe_secret = vec!["whsec_bench_endpoint_secret".to_owned()];
    let stripe_good = vigil_core::stripe::signature::sign(&stripe_secret[0], ts, body.as_bytes());
    let stripe_thousands = format!(
        "{stripe_good}{}",
        format!(",v1={}", "0".repeat(64)).repeat(1_499)
    );
    for (name, header) in [
        ("stripe_1_entry", stripe_good.as_str()),
        ("stripe_1500_entries", stripe_thousands.as_str()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                vigil_core::stripe::signature::verify(
                    Some(header),
                    body.as_bytes(),
                    &stripe_secret,
                    now,
                )
                .is_ok()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest_cpu, ingest_router_sqlite, signature_entries);
criterion_main!(benches);
