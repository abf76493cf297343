//! The dispatcher: delivers outbox notifications (SQS, partial batch failures), and every minute
//! sweeps what was stored but never queued.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler, each_tenant};
use vigil_core::{App, Error, Result};

/// Handles one message of the outbox queue.
pub struct OutboxHandler {
    app: Arc<App>,
}

impl OutboxHandler {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[async_trait]
impl MessageHandler for OutboxHandler {
    async fn handle(&self, message: &Message) -> std::result::Result<(), HandleError> {
        match self.app.dispatcher.handle(&message.body).await {
            Ok(_) => Ok(()),
            Err(Error::Invalid { message, .. } | Error::Unprocessable { message, .. }) => {
                Err(HandleError::Permanent(message))
            }
            Err(other) => Err(HandleError::Retryable(other.to_string())),
        }
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::OutboxSweep => {
            // What the outbox queue gave up on gets a notice in its tenant's inbox. A failure
            // here must not stop the sweep: the next one looks again.
            let dead_letter_notices = match app.dead_letters.notify().await {
                Ok(new) => new,
                Err(error) => {
                    tracing::error!(%error, "could not look for dead-lettered outbox messages");
                    0
                }
            };
            let tenants = app.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::OutboxSweep, tenants, |tenant| async move {
                let republished = app.ingest.republish_parked(&tenant).await?;
                let requeued = app.outbox.sweep(&tenant).await?;
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
