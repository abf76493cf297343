//! The dispatcher against a local HTTP sink, on the embedded store (durable: WAL + fsync).
//! - `dispatch_batch_of_10`: ten queued notifications, each to a signed webhook and the inbox,
//!   handled concurrently as one SQS batch is; throughput is in notifications.
//! - after the criterion run: p50/p99 of the time a batch adds, and store requests per
//!   delivered notification, printed for `docs/PERFORMANCE.md`.
//!
//! Run: `cargo bench --bench dispatch`

use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vigil_contract::sinks::HttpSink;
use vigil_core::delivery::channels::{ChannelKind, NewChannel};
use vigil_core::delivery::{NewNotification, NotificationType};
use vigil_core::severity::Severity;
use vigil_core::tenancy::audit::Actor;
use vigil_runtime::App;
use vigil_runtime::jobs::{Message, handle_batch};

const BATCH: usize = 10;

struct Bench {
    app: Arc<App>,
    handler: vigil_dispatcher::OutboxHandler,
    tenant: String,
    next: usize,
}

impl Bench {
    /// Emits a batch, then receives and handles it as the SQS event source would.
    async fn one_batch(&mut self) -> Duration {
        for _ in 0..BATCH {
            self.next += 1;
            let new = NewNotification {
                kind: NotificationType::AnomalyOpened,
                severity: Severity::Sev2,
                title: "Payment failures spiked".into(),
                summary: "5 failed payments in 30 minutes".into(),
                link_ref: Some("anomaly:anm_1".into()),
                dedupe_key: format!("bench-{}", self.next),
                payload: json!({"rule": "payment_failure_spike"}),
            };
            self.app
                .outbox()
                .emit(&self.tenant, new)
                .await
                .expect("emit");
        }
        let queue = &self.app.ports.outbox;
        let received = queue
            .receive(BATCH as u32, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
        let messages: Vec<Message> = received.iter().map(Message::from).collect();
        let started = Instant::now();
        let failed = handle_batch(&self.handler, &messages).await;
        let took = started.elapsed();
        assert!(failed.is_empty(), "no message fails");
        for m in &received {
            queue.delete(&m.receipt).await.expect("delete");
        }
        took
    }
}

fn dispatch(c: &mut Criterion) {
    let runtime = support::runtime();
    let sink = runtime.block_on(HttpSink::start());
    let (_dir, _backend, app) = support::embedded_app();
    let tenant = runtime
        .block_on(app.tenants().create("Bench", None, &Actor::Cli))
        .expect("tenant");
    let channel = NewChannel {
        name: "default".into(),
        kind: ChannelKind::Webhook,
        url: Some(sink.url("/hook")),
        secret: Some(vigil_core::tenancy::secrets::new_webhook_secret()),
        to: None,
        enabled: true,
    };
    runtime
        .block_on(
            app.channels()
                .create(&tenant.tenant_id, channel, &Actor::Cli),
        )
        .expect("channel");
    let mut bench = Bench {
        handler: vigil_dispatcher::Services::new(&app).handler(),
        app: app.clone(),
        tenant: tenant.tenant_id.clone(),
        next: 0,
    };

    let mut group = c.benchmark_group("dispatcher");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("dispatch_batch_of_10 (webhook + inbox each)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                total += runtime.block_on(bench.one_batch());
            }
            total
        })
    });
    group.finish();

    // Latency per batch and cost per notification, measured apart from criterion's loop.
    let before = app.ports.request_counts();
    let sent_before = sink.requests("/hook").len();
    let mut batches: Vec<Duration> = (0..200)
        .map(|_| runtime.block_on(bench.one_batch()))
        .collect();
    let spent = app.ports.request_counts().since(&before);
    let delivered = sink.requests("/hook").len() - sent_before;
    batches.sort();
    let pick = |q: f64| batches[((batches.len() - 1) as f64 * q) as usize];
    let notifications = (batches.len() * BATCH) as f64;
    println!(
        "dispatch: {} batches of {BATCH}: batch p50 {:?}, p99 {:?}; {:.0} notifications/s \
         ({delivered} webhook deliveries); per notification (emit + dispatch, 2 channels): \
         writes {:.2}, reads {:.2}, queue sends {:.2}",
        batches.len(),
        pick(0.50),
        pick(0.99),
        notifications / batches.iter().sum::<Duration>().as_secs_f64(),
        spent.writes as f64 / notifications,
        spent.reads as f64 / notifications,
        spent.queue_sends as f64 / notifications,
    );
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
