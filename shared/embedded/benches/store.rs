//! Group-commit throughput: durable conditional puts from 16 concurrent tasks on a file database,
//! the shape of `vigil serve` ingest. After the criterion figure, a fixed run prints p50/p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_core::ports::ResourceNames;
use vigil_core::ports::{BusRoutes, IndexKey, Item, ItemStore, Key, PutCondition};
use vigil_embedded::EmbeddedBackend;

const CLIENTS: u64 = 16;

/// An ingested event: natural key, time-ordered index entry, retention TTL, ~400-byte body.
fn event(n: u64) -> Item {
    let body = format!(
        r#"{{"id":"evt_{n:012}","source":"stripe","type":"invoice.paid","amount":{},"currency":"eur","customer":"cus_{:08}","received_at":"2026-11-22T07:00:00Z","payload":"{}"}}"#,
        n % 100_000,
        n % 5000,
        "x".repeat(240)
    );
    Item::new(
        Key::new(
            format!("T#tenant{}", n % 16),
            format!("EVT#stripe#evt_{n:012}"),
        ),
        body,
    )
    .with_gsi1(IndexKey::new(
        format!("T#tenant{}#EVT", n % 16),
        format!("2026-11-22T07:00:00Z#{n:012}"),
    ))
    .with_expiry(1_900_000_000)
}

/// Runs `total` puts from [`CLIENTS`] tasks; returns the elapsed time and every latency.
async fn run(
    store: &Arc<dyn ItemStore>,
    next: &Arc<AtomicU64>,
    total: u64,
) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (store, next) = (Arc::clone(store), Arc::clone(next));
            let share = total / CLIENTS + u64::from(client < total % CLIENTS);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share as usize);
                for _ in 0..share {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    store
                        .put(event(n), PutCondition::Absent)
                        .await
                        .expect("put");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total as usize);
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    (started.elapsed(), latencies)
}

fn conditional_puts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    // The bench publishes nothing, so the bus routes nothing.
    let backend =
        EmbeddedBackend::open(dir.path(), &ResourceNames::default(), BusRoutes::default())
            .expect("open");
    let store = backend.ports().store;
    let next = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("conditional_put_16_clients", |b| {
        b.iter_custom(|iters| runtime.block_on(run(&store, &next, iters)).0)
    });
    group.finish();

    let (elapsed, mut latencies) = runtime.block_on(run(&store, &next, 60_000));
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "store/conditional_put_16_clients fixed run: {} puts in {:.2?} = {:.0} puts/s, p50 {:.2?}, p99 {:.2?}",
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
    );
    runtime.block_on(backend.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = conditional_puts
}
criterion_main!(benches);
