//! The dispatcher: delivers outbox notifications (SQS, partial batch failures), and every minute
//! sweeps what was stored but never queued.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler};
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
            let (republished, requeued) = sweep(app).await?;
            Ok(FlowReport {
                flow: Flow::OutboxSweep,
                detail: serde_json::json!({
                    "republished_events": republished,
                    "requeued_notifications": requeued,
                }),
            })
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the dispatcher does not run {other:?}"),
        )),
    }
}

/// For every tenant: publishes domain events whose publish failed at ingest, and queues again
/// notifications overdue for dispatch. Returns both counts.
async fn sweep(app: &App) -> Result<(usize, usize)> {
    let (mut republished, mut requeued) = (0, 0);
    for tenant in app.tenants.all_ids().await? {
        republished += app.ingest.republish_parked(&tenant).await?;
        requeued += app.outbox.sweep(&tenant).await?;
    }
    Ok((republished, requeued))
}
