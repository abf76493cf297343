//! Revenue path on the embedded store (durable: WAL + fsync):
//! - `stripe_verify_parse`: `Stripe-Signature` check and parse of a 1.5 KB event (CPU only).
//! - `stripe_ingest_sqlite`: one signed Stripe event through the full router, stored with its
//!   bucket counters in one transaction, one request at a time.
//! - after criterion: a rule run over 30 days holding 1,000,000 events (the aggregates ingest
//!   keeps: one bucket per 5 minutes and one per day), with its time and store requests; then
//!   the same with 10,000 events, to show the cost follows buckets, not events.
//!
//! Run: `cargo bench --bench revenue`

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use chrono::{Duration, DurationRound as _, SecondsFormat, Utc};
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tower::ServiceExt as _;
use vigil_core::ports::WriteOp;
use vigil_core::stripe::{StripeEvent, signature};
use vigil_core::tenancy::audit::Actor;

const SECRET: &str = "whsec_bench_endpoint_secret";

fn event(id: &str) -> String {
    json!({
        "id": id, "object": "event", "type": "charge.failed", "created": Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": {"id": "ch_1", "amount": 4200, "currency": "usd", "description": "x".repeat(1200)}}
    })
    .to_string()
}

fn stripe_cpu(c: &mut Criterion) {
    let body = event("evt_bench");
    let now = Utc::now();
    let header = signature::sign(SECRET, now.timestamp(), body.as_bytes());
    let secrets = vec![SECRET.to_owned()];
    c.bench_function("stripe_verify_parse (1.5 KB)", |b| {
        b.iter(|| {
            signature::verify(Some(&header), body.as_bytes(), &secrets, now).expect("valid");
            StripeEvent::parse(body.as_bytes())
                .expect("parses")
                .signal()
        })
    });
}

fn revenue(c: &mut Criterion) {
    let runtime = support::runtime();
    let (_dir, _backend, app) = support::embedded_app();
    let router = vigil_http::all_routes(&app);
    let tenant = runtime
        .block_on(app.tenants().create("Bench", Some(SECRET), &Actor::Cli))
        .expect("tenant");
    let path = format!("/hooks/{}/stripe", tenant.tenant_id);
    let mut n = 0_u64;
    c.bench_function("stripe_ingest_sqlite (router + durable write)", |b| {
        b.iter(|| {
            n += 1;
            let body = event(&format!("evt_{n}"));
            let header = signature::sign(SECRET, Utc::now().timestamp(), body.as_bytes());
            let request = Request::post(&path)
                .header("stripe-signature", header)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request");
            let response = runtime
                .block_on(router.clone().oneshot(request))
                .expect("answer");
            assert_eq!(response.status(), 200);
        })
    });

    for events in [1_000_000_u64, 10_000] {
        let name = format!("Rules{events}");
        let tenant = runtime
            .block_on(app.tenants().create(&name, Some(SECRET), &Actor::Cli))
            .expect("tenant");
        let now = Utc::now()
            .duration_trunc(Duration::minutes(5))
            .expect("now");
        runtime.block_on(seed_aggregates(&app, &tenant.tenant_id, now, events));
        // The first run catches up 2 days; the steady-state run evaluates what became due.
        let started = Instant::now();
        let first = runtime
            .block_on(app.rules().evaluate_due(&tenant.tenant_id, now))
            .expect("run");
        let first_took = started.elapsed();
        let started = Instant::now();
        let steady = runtime
            .block_on(
                app.rules()
                    .evaluate_due(&tenant.tenant_id, now + Duration::minutes(5)),
            )
            .expect("run");
        println!(
            "rule run over 30 days holding {events} events: first run (2-day catch-up) {first_took:?}, \
             {} windows, reads {}, writes {}; steady 5-minute run {:?}, {} windows, reads {}, writes {}",
            first.windows_evaluated,
            first.store_reads,
            first.store_writes,
            started.elapsed(),
            steady.windows_evaluated,
            steady.store_reads,
            steady.store_writes,
        );
    }
}

/// The counters ingest would have kept for `events` failed and succeeded charges spread evenly
/// over 30 days: one 5-minute bucket each, and one per day.
async fn seed_aggregates(
    app: &vigil_runtime::App,
    tenant: &str,
    now: chrono::DateTime<Utc>,
    events: u64,
) {
    let buckets = 30 * 288_u64;
    let per_bucket = i64::try_from(events / buckets).unwrap_or(0).max(1);
    let mut days: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut ops = Vec::new();
    for i in 0..buckets {
        let start = now - Duration::minutes(5 * i64::try_from(i + 1).unwrap_or(0));
        let counters = BTreeMap::from([
            ("charge_succeeded".to_owned(), per_bucket),
            ("charge_amount".to_owned(), per_bucket * 1000),
        ]);
        for (name, value) in &counters {
            *days
                .entry(start.format("%Y-%m-%d").to_string())
                .or_default()
                .entry(name.clone())
                .or_insert(0) += value;
        }
        ops.push(WriteOp::Add {
            key: vigil_core::table_keys::revenue_bucket(
                tenant,
                &start.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            deltas: counters,
        });
    }
    for (day, counters) in days {
        ops.push(WriteOp::Add {
            key: vigil_core::table_keys::revenue_day(tenant, &day),
            deltas: counters,
        });
    }
    for chunk in ops.chunks(vigil_core::ports::store::MAX_TRANSACTION_OPS) {
        app.ports
            .store
            .transact(chunk.to_vec())
            .await
            .expect("seed");
    }
}

criterion_group!(benches, stripe_cpu, revenue);
criterion_main!(benches);
