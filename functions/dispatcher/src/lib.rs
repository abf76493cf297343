//! The dispatcher: delivers outbox notifications (SQS, partial batch failures), and every minute
//! sweeps what was stored but never queued.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::delivery::dead_letters::DeadLetterService;
use vigil_core::delivery::dispatcher::Dispatcher;
use vigil_core::delivery::outbox::OutboxService;
use vigil_core::ingest::IngestService;
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::{Error, Result};
use vigil_runtime::App;
use vigil_runtime::deployment::{Flow, FlowInvocation};
use vigil_runtime::jobs::{FlowReport, Message, MessageHandler, each_tenant};

/// What the dispatcher function uses.
#[derive(Clone)]
pub struct Services {
    dispatcher: Arc<Dispatcher>,
    dead_letters: Arc<DeadLetterService>,
    ingest: Arc<IngestService>,
    outbox: Arc<OutboxService>,
    tenants: Arc<TenantService>,
}

impl Services {
    pub fn new(app: &App) -> Self {
        Self {
            dispatcher: app.dispatcher().clone(),
            dead_letters: app.dead_letters().clone(),
            ingest: app.ingest().clone(),
            outbox: app.outbox().clone(),
            tenants: app.tenants().clone(),
        }
    }

    /// The consumer of the outbox queue.
    pub fn handler(&self) -> OutboxHandler {
        OutboxHandler::new(self.dispatcher.clone())
    }
}

/// Handles one message of the outbox queue.
pub struct OutboxHandler {
    dispatcher: Arc<Dispatcher>,
}

impl OutboxHandler {
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        Self { dispatcher }
    }
}

#[async_trait]
impl MessageHandler for OutboxHandler {
    async fn handle(&self, message: &Message) -> Result<()> {
        self.dispatcher.handle(&message.body).await.map(drop)
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(services: &Services, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::OutboxSweep => {
            // What the outbox queue gave up on gets a notice in its tenant's inbox. A failure
            // here must not stop the sweep: the next one looks again.
            let dead_letter_notices = match services.dead_letters.notify().await {
                Ok(new) => new,
                Err(error) => {
                    tracing::error!(%error, "could not look for dead-lettered outbox messages");
                    0
                }
            };
            let tenants = services.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::OutboxSweep, tenants, |tenant| async move {
                let republished = services.ingest.republish_parked(&tenant).await?;
                let requeued = services.outbox.sweep(&tenant).await?;
                Ok((republished, requeued))
            })
            .await;
            Ok(outcome.report(Flow::OutboxSweep, |done| {
                let republished: usize = done.iter().map(|(_, (r, _))| *r).sum();
                let requeued: usize = done.iter().map(|(_, (_, q))| *q).sum();
                serde_json::json!({
                    "republished_events": republished,
                    "requeued_notifications": requeued,
                    "dead_letter_notices": dead_letter_notices,
                })
            }))
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the dispatcher does not run {other:?}"),
        )),
    }
}
