//! `vigil serve`: the whole of Vigil in one process — every HTTP route on one port, a task per
//! queue consumer polling its queue, and the cron flows of `CRON_FLOWS` on an in-process clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use vigil_core::ports::{Queue, QueueRole, ReceivedMessage};
use vigil_runtime::deployment::{CRON_FLOWS, CronFlow, Flow, FlowInvocation, FunctionName};
use vigil_runtime::jobs::{FlowReport, Message, MessageHandler, handle_batch, run_logged};
use vigil_runtime::{App, Backend, Config};

/// Pollers per queue.
const CONSUMERS_PER_QUEUE: usize = 8;

/// How long a received message stays hidden while a consumer works on it.
const VISIBILITY: Duration = Duration::from_secs(60);
/// Long-poll time of a consumer; bounds how long shutdown waits for it.
const POLL_WAIT: Duration = Duration::from_millis(500);

pub async fn run(config: &Config, addr: SocketAddr, flows: ScheduledFlows) -> anyhow::Result<()> {
    let backend = Backend::connect(config).await?;
    let app = vigil_runtime::build_app_reading(config, &backend, vigil_runtime::ssm_parameters)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    println!(
        "Vigil {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    match &backend {
        Backend::Embedded(_) => println!(
            "data: {} (embedded SQLite store)",
            config.data_dir.display()
        ),
        Backend::Aws(_) => println!(
            "data: AWS resources prefixed {}",
            config.resource_names.prefix
        ),
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    let consumers: [(QueueRole, Arc<dyn MessageHandler>); 2] = [
        (
            QueueRole::Outbox,
            Arc::new(vigil_dispatcher::Services::new(&app).handler()),
        ),
        (
            QueueRole::Workflows,
            Arc::new(vigil_workflows::Services::new(&app).handler()),
        ),
    ];
    for (role, handler) in consumers {
        // Several pollers per queue, as SQS runs several Lambda batches at once: one batch's
        // slow message does not hold up the next, and their writes share group commits.
        for _ in 0..CONSUMERS_PER_QUEUE {
            let queue = app.ports.queue(role).clone();
            workers.spawn(consume(queue, handler.clone(), stop_rx.clone()));
        }
    }
    workers.spawn(run_schedules(
        app.clone(),
        backend.clone(),
        flows,
        stop_rx.clone(),
    ));

    let router = vigil_http::all_routes(&app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server failed")?;

    println!("shutting down: finishing in-flight work");
    let _ = stop_tx.send(true);
    while workers.join_next().await.is_some() {}
    backend.shutdown().await;
    let store = app.ports.store.request_counts();
    println!(
        "store requests: reads {} writes {}",
        store.reads, store.writes
    );
    println!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Polls one queue and hands batches to its handler, as the SQS event source does in AWS:
/// handled messages are deleted, failed ones reappear after their visibility timeout.
/// A batch in progress is finished before stopping; unreceived messages stay queued.
async fn consume(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn MessageHandler>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let received = tokio::select! {
            received = queue.receive(10, VISIBILITY, POLL_WAIT) => received,
            _ = stop.changed() => break,
        };
        let batch = match received {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "queue receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let messages: Vec<Message> = batch.iter().map(Message::from).collect();
        let failed = handle_batch(handler.as_ref(), &messages).await;
        let handled: Vec<&ReceivedMessage> = batch
            .iter()
            .filter(|m| !failed.contains(&m.message_id))
            .collect();
        let receipts: Vec<&str> = handled.iter().map(|m| m.receipt.as_str()).collect();
        let deleted = queue.delete_batch(&receipts).await;
        for (message, outcome) in handled.iter().zip(deleted) {
            if let Err(e) = outcome {
                tracing::warn!(error = %e, id = %message.message_id, "could not delete a handled message");
            }
        }
    }
}

/// Runs a cron flow through the function that owns it.
pub async fn run_flow(app: &App, cron: &CronFlow) -> vigil_core::Result<FlowReport> {
    let invocation = FlowInvocation { flow: cron.flow };
    match cron.function {
        FunctionName::Rules => {
            vigil_rules::run_flow(&vigil_rules::Services::new(app), invocation).await
        }
        FunctionName::Summary => {
            vigil_summary::run_flow(&vigil_summary::Services::new(app), invocation).await
        }
        FunctionName::Dispatcher => {
            vigil_dispatcher::run_flow(&vigil_dispatcher::Services::new(app), invocation).await
        }
        FunctionName::Workflows => {
            vigil_workflows::run_flow(&vigil_workflows::Services::new(app), invocation).await
        }
        FunctionName::Approvals => {
            vigil_approvals::run_flow(&vigil_approvals::Services::new(app), invocation).await
        }
        FunctionName::Ingest | FunctionName::Api | FunctionName::Console => Err(
            vigil_core::Error::Internal(format!("{:?} has no scheduled flows", cron.function)),
        ),
    }
}

/// The cron flows one `vigil serve` runs (all by default). Leaving some out suits a process that
/// shares its data with another one running them, or a drill that must not meet the daily
/// summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFlows(Vec<Flow>);

impl ScheduledFlows {
    /// `all`, `none`, or flow names separated by commas.
    pub fn parse(list: &str) -> Result<ScheduledFlows, String> {
        let flows = match list.trim() {
            "all" => CRON_FLOWS.iter().map(|cron| cron.flow).collect(),
            "none" => Vec::new(),
            names => names
                .split(',')
                .map(|name| {
                    serde_json::from_value(serde_json::Value::String(name.trim().to_owned()))
                        .map_err(|_| {
                            format!(
                                "unknown flow {:?}: use all, none, or some of {}",
                                name.trim(),
                                flow_names().join(", ")
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(ScheduledFlows(flows))
    }

    fn includes(&self, flow: Flow) -> bool {
        self.0.contains(&flow)
    }
}

fn flow_names() -> Vec<String> {
    CRON_FLOWS
        .iter()
        .filter_map(|cron| serde_json::to_value(cron.flow).ok())
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

/// The in-process scheduler: fires each selected cron flow when due (UTC, as in the template),
/// fires the embedded scheduler's one-time and cron schedules, and purges expired items hourly.
async fn run_schedules(
    app: Arc<App>,
    backend: Backend,
    flows: ScheduledFlows,
    mut stop: watch::Receiver<bool>,
) {
    let mut next: Vec<Option<chrono::DateTime<Utc>>> = CRON_FLOWS
        .iter()
        .map(|cron| {
            if flows.includes(cron.flow) {
                next_fire(cron, Utc::now())
            } else {
                None
            }
        })
        .collect();
    let mut next_purge = Utc::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = stop.changed() => return,
        }
        let now = Utc::now();
        for (flow, due) in CRON_FLOWS.iter().zip(next.iter_mut()) {
            if due.is_some_and(|at| at <= now) {
                // Its outcome is in the job's log line.
                let _ = run_logged(flow.flow, run_flow(&app, flow)).await;
                *due = next_fire(flow, now);
            }
        }
        if let Backend::Embedded(embedded) = &backend {
            if let Err(e) = embedded.scheduler().fire_due(now).await {
                tracing::warn!(error = %e, "firing one-time schedules failed");
            }
            if now >= next_purge {
                match embedded.purge_expired(now).await {
                    Ok(purged) if purged > 0 => tracing::info!(purged, "expired items purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging expired items failed"),
                }
                next_purge = now + chrono::Duration::hours(1);
            }
        }
    }
}

fn next_fire(flow: &CronFlow, after: chrono::DateTime<Utc>) -> Option<chrono::DateTime<Utc>> {
    match vigil_embedded::cron::next_fire(flow.cron, "UTC", after) {
        Ok(next) => next,
        Err(e) => {
            tracing::error!(flow = ?flow.flow, error = %e, "cron expression does not parse");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cron_flow_has_a_next_fire_time() {
        for cron in CRON_FLOWS {
            assert!(next_fire(cron, Utc::now()).is_some(), "{}", cron.cron);
        }
    }

    #[test]
    fn scheduled_flows_are_all_none_or_a_list() {
        let all = ScheduledFlows::parse("all").unwrap();
        assert!(CRON_FLOWS.iter().all(|cron| all.includes(cron.flow)));
        assert_eq!(
            ScheduledFlows::parse("none").unwrap(),
            ScheduledFlows(vec![])
        );
        assert_eq!(
            ScheduledFlows::parse("outbox_sweep, workflow_tick").unwrap(),
            ScheduledFlows(vec![Flow::OutboxSweep, Flow::WorkflowTick])
        );
        let error = ScheduledFlows::parse("outbox_sweep,daily").unwrap_err();
        assert!(
            error.contains("\"daily\"") && error.contains("summary_tick"),
            "{error}"
        );
    }
}
