//! Automation-run monitoring on the embedded store (durable: WAL + fsync):
//! - `run_ingest_single`: one run through the full router (`POST /hooks/{tenant}/runs`), stored,
//!   classified and counted, one request at a time.
//! - `run_ingest_batch_100`: a batch of 100 runs of 10 scenarios in one request.
//! - after criterion: store requests per new run (single and batched), then a health scan of
//!   1,000 scenarios with a week of hour counters each, with its time and store requests.
//!
//! Run: `cargo bench --bench runs`

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chrono::{Duration, Utc};
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use vigil_core::automation_runs::Scenario;
use vigil_core::ports::{Item, PutCondition, WriteOp};
use vigil_core::tenancy::audit::Actor;

fn run(id: &str, scenario: &str) -> Value {
    json!({
        "run_id": id, "scenario_id": scenario, "scenario_name": "Nightly export",
        "platform": "make", "status": "success", "credits_total": 12.5,
        "execution_time_ms": 840, "has_idempotency_key": true, "retry_count": 0
    })
}

async fn post(router: &Router, path: &str, auth: &str, body: String) -> u16 {
    let request = Request::post(path)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    response.status().as_u16()
}

fn runs(c: &mut Criterion) {
    let runtime = support::runtime();
    let (_dir, backend, app) = support::embedded_app();
    let router = vigil_http::all_routes(&app);
    let tenant = runtime
        .block_on(app.tenants().create("Bench", None, &Actor::Cli))
        .expect("tenant");
    let auth = format!("Bearer {}", tenant.ingest_token.expose());
    let path = format!("/hooks/{}/runs", tenant.tenant_id);
    let counter = AtomicU64::new(0);

    c.bench_function("run_ingest_single (one durable run)", |b| {
        b.to_async(&runtime).iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let body = run(&format!("r{n}"), &format!("S{}", n % 10)).to_string();
            let (router, path, auth) = (&router, &path, &auth);
            async move { assert_eq!(post(router, path, auth, body).await, 202) }
        })
    });
    let mut group = c.benchmark_group("runs");
    group.throughput(criterion::Throughput::Elements(100));
    group.bench_function("run_ingest_batch_100 (100 runs, 10 scenarios)", |b| {
        b.to_async(&runtime).iter(|| {
            let n = counter.fetch_add(100, Ordering::Relaxed);
            let batch: Vec<Value> = (n..n + 100)
                .map(|i| run(&format!("r{i}"), &format!("S{}", i % 10)))
                .collect();
            let body = Value::Array(batch).to_string();
            let (router, path, auth) = (&router, &path, &auth);
            async move { assert_eq!(post(router, path, auth, body).await, 200) }
        })
    });
    group.finish();

    // Store requests per new run, single and batched.
    let counts = app.ports.request_counts();
    let n = counter.fetch_add(1, Ordering::Relaxed);
    runtime.block_on(post(
        &router,
        &path,
        &auth,
        run(&format!("r{n}"), "S1").to_string(),
    ));
    let single = app.ports.request_counts().since(&counts);
    println!(
        "store requests, one new run of a known scenario: {} reads, {} writes",
        single.reads, single.writes
    );
    let counts = app.ports.request_counts();
    let n = counter.fetch_add(100, Ordering::Relaxed);
    let batch: Vec<Value> = (n..n + 100)
        .map(|i| run(&format!("r{i}"), &format!("S{}", i % 10)))
        .collect();
    runtime.block_on(post(&router, &path, &auth, Value::Array(batch).to_string()));
    let batched = app.ports.request_counts().since(&counts);
    println!(
        "store requests, a batch of 100 new runs of 10 known scenarios: {} reads, {} writes ({:.2} per run)",
        batched.reads,
        batched.writes,
        (batched.reads + batched.writes) as f64 / 100.0
    );

    scan_1000(&runtime, &app);
    runtime.block_on(backend.shutdown());
}

/// A tenant with 1,000 scenarios, each with a week of hour counters, scanned once.
fn scan_1000(runtime: &tokio::runtime::Runtime, app: &vigil_runtime::App) {
    let tenant = runtime
        .block_on(app.tenants().create("Scan", None, &Actor::Cli))
        .expect("tenant");
    let t = tenant.tenant_id.as_str();
    let now = Utc::now();
    let seeded = Instant::now();
    for s in 0..1000 {
        let id = format!("SCN{s:04}");
        let scenario = Scenario {
            id: id.clone(),
            name: Some(format!("Scenario {s}")),
            platform: Default::default(),
            first_seen_at: now - Duration::days(30),
            writes: true,
            baseline: None,
            stats: None,
        };
        let mut ops = vec![WriteOp::Put {
            item: Item::new(
                vigil_core::table_keys::scenario(t, &id),
                serde_json::to_string(&scenario).expect("json"),
            ),
            condition: PutCondition::None,
        }];
        // One hour in six has runs; every tenth scenario fails all of them.
        for h in (0..168).step_by(6) {
            let hour = (now - Duration::hours(h)).format("%Y-%m-%dT%H").to_string();
            let failed = if s % 10 == 0 { 4 } else { 0 };
            ops.push(WriteOp::Add {
                key: vigil_core::table_keys::scenario_hour(t, &id, &hour),
                deltas: BTreeMap::from([
                    ("runs".to_owned(), 4),
                    ("failed".to_owned(), failed),
                    ("credits_milli".to_owned(), 50_000),
                ]),
            });
        }
        for chunk in ops.chunks(vigil_core::ports::store::MAX_TRANSACTION_OPS) {
            runtime
                .block_on(app.ports.store.transact(chunk.to_vec()))
                .expect("seed");
        }
    }
    println!(
        "seeded 1,000 scenarios with 28 hour counters each in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let counts = app.ports.request_counts();
    let started = Instant::now();
    let scan = runtime
        .block_on(app.automation_runs().scan_now(t))
        .expect("scan");
    let took = started.elapsed();
    let spent = app.ports.request_counts().since(&counts);
    println!(
        "scan of {} scenarios: {:.0} ms, {} below 50, store requests {} reads / {} writes",
        scan.scenarios_scanned,
        took.as_secs_f64() * 1000.0,
        scan.below_threshold,
        spent.reads,
        spent.writes
    );
}

criterion_group!(benches, runs);
criterion_main!(benches);
