//! Workflow engine overhead on the embedded store (durable: WAL + fsync):
//! - `workflow_run_1_step` / `workflow_run_10_steps`: a domain event handed to the executor
//!   starts a run of a workflow of 1 or 10 `create_task` steps, walked to its end.
//! - after criterion: the cost per step (each 10-step run less a typical 1-step run, over its 9
//!   extra steps) at p50 and p99 over 2,000 runs, on the durable store and on an in-memory store
//!   (the engine's own cost without the disk), and the store writes per completed step (the
//!   run's own write plus the task the step creates).
//!
//! Run: `cargo bench --bench workflows`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use vigil_core::ingest::DomainEvent;
use vigil_core::tenancy::audit::Actor;
use vigil_core::workflows::clients::ClientFields;
use vigil_core::workflows::engine::StartOutcome;
use vigil_core::workflows::follow_ups::{RecordFields, RecordKind};
use vigil_core::workflows::messages::PublishedEvent;
use vigil_runtime::App;

fn chain(steps: usize) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|i| json!({"type": "create_task", "title": format!("Step {i} for {{{{client.name}}}}")}))
        .collect();
    json!({"name": format!("{} steps", steps.len()), "dedupe_minutes": 0,
           "triggers": [{"type": "ticket_created", "category": format!("c{}", steps.len())}],
           "steps": steps})
}

fn event(tenant: &str, id: u64, category: &str) -> PublishedEvent {
    let event: DomainEvent = serde_json::from_value(json!({
        "id": format!("e{id}"), "type": "ticket.created", "occurred_at": Utc::now(),
        "subject": {"client_id": "c1"}, "data": {"category": category}}))
    .expect("event");
    PublishedEvent {
        tenant_id: tenant.to_owned(),
        event,
        caused_by: None,
    }
}

async fn one_run(app: &App, tenant: &str, id: u64, category: &str) {
    let outcomes = app
        .engine()
        .on_event(&event(tenant, id, category))
        .await
        .expect("handled");
    assert!(
        matches!(outcomes.as_slice(), [StartOutcome::Started { .. }]),
        "{outcomes:?}"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A tenant with one client and workflows of 1 and 10 `create_task` steps.
fn prepare(runtime: &tokio::runtime::Runtime, app: &App) -> String {
    runtime.block_on(async {
        let tenant = app
            .tenants()
            .create("Bench", None, &Actor::Cli)
            .await
            .expect("tenant")
            .tenant_id;
        app.clients()
            .create(
                &tenant,
                ClientFields {
                    id: Some("c1".into()),
                    name: Some("Acme".into()),
                    ..ClientFields::default()
                },
            )
            .await
            .expect("client");
        for steps in [1, 10] {
            app.workflows()
                .create(&tenant, &chain(steps), &Actor::Cli)
                .await
                .expect("workflow");
        }
        tenant
    })
}

/// Per-step cost at p50 and p99 over 2,000 runs of each workflow, and store requests per step.
fn per_step(
    runtime: &tokio::runtime::Runtime,
    app: &App,
    tenant: &str,
    counter: &AtomicU64,
    label: &str,
) {
    let samples = 2_000;
    let timings = |category: &str| {
        let mut all: Vec<Duration> = (0..samples)
            .map(|_| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                runtime.block_on(one_run(app, tenant, n, category));
                started.elapsed()
            })
            .collect();
        all.sort_unstable();
        all
    };
    let one = timings("c1");
    let ten = timings("c10");
    // Each 10-step run less a typical 1-step run (the start), shared among its 9 extra steps.
    let start = percentile(&one, 0.5);
    let mut steps: Vec<Duration> = ten.iter().map(|t| t.saturating_sub(start) / 9).collect();
    steps.sort_unstable();
    println!(
        "{label}: 1-step run p50 {:?}; 10-step run p50 {:?} p99 {:?}; per step p50 {:?} p99 {:?}",
        percentile(&one, 0.5),
        percentile(&ten, 0.5),
        percentile(&ten, 0.99),
        percentile(&steps, 0.5),
        percentile(&steps, 0.99),
    );
    // What the step's action costs alone: creating the same task outside any run.
    let mut tasks: Vec<Duration> = (0..samples)
        .map(|i| {
            let fields = RecordFields {
                client_id: Some("c1".into()),
                title: Some(format!("Step {i} for Acme")),
                ..RecordFields::default()
            };
            let started = Instant::now();
            runtime
                .block_on(
                    app.follow_ups()
                        .create(tenant, RecordKind::Task, fields, None),
                )
                .expect("task");
            started.elapsed()
        })
        .collect();
    tasks.sort_unstable();
    println!(
        "{label}: the action alone (one task write) p50 {:?} p99 {:?}; engine overhead per step ≈ p50 {:?} p99 {:?}",
        percentile(&tasks, 0.5),
        percentile(&tasks, 0.99),
        percentile(&steps, 0.5).saturating_sub(percentile(&tasks, 0.5)),
        percentile(&steps, 0.99).saturating_sub(percentile(&tasks, 0.99)),
    );
    let requests = |category: &str| {
        let before = app.ports.request_counts();
        let n = counter.fetch_add(1, Ordering::Relaxed);
        runtime.block_on(one_run(app, tenant, n, category));
        app.ports.request_counts().since(&before)
    };
    let (r1, r10) = (requests("c1"), requests("c10"));
    println!(
        "{label}: store writes 1-step run {}, 10-step run {}, per completed step {:.1} (the run's write + the task); reads {} and {}",
        r1.writes,
        r10.writes,
        (r10.writes - r1.writes) as f64 / 9.0,
        r1.reads,
        r10.reads
    );
}

fn workflows(c: &mut Criterion) {
    let runtime = support::runtime();
    // No rate limit in the way of the measurement.
    let unlimited = ("VIGIL_WORKFLOW_RUNS_PER_MINUTE", "100000000");
    let (_dir, _backend, app) = support::embedded_app_with(unlimited);
    let tenant = prepare(&runtime, &app);
    let counter = AtomicU64::new(0);
    for (name, category) in [
        ("workflow_run_1_step", "c1"),
        ("workflow_run_10_steps", "c10"),
    ] {
        c.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (app, tenant) = (&app, &tenant);
                async move { one_run(app, tenant, n, category).await }
            })
        });
    }
    per_step(
        &runtime,
        &app,
        &tenant,
        &counter,
        "durable store (fsync per commit)",
    );
    // The engine's own cost, without the disk: the same on an in-memory store.
    let (_memory_backend, memory) = support::memory_app_with(unlimited);
    let memory_tenant = prepare(&runtime, &memory);
    per_step(
        &runtime,
        &memory,
        &memory_tenant,
        &counter,
        "in-memory store (engine and SQLite CPU only)",
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = workflows
}
criterion_main!(benches);
