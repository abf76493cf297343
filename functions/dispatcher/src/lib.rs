//! The dispatcher: delivers outbox notifications, and sweeps what was stored but never queued.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler};
use vigil_core::{App, Error, Result};

/// Handles one message of the outbox queue.
pub struct OutboxHandler {
    #[allow(dead_code)] // used once notifications are delivered
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
        tracing::info!(bytes = message.body.len(), "outbox message received");
        Ok(())
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::OutboxSweep => {
            let republished = republish_parked_events(app).await?;
            Ok(FlowReport {
                flow: Flow::OutboxSweep,
                detail: serde_json::json!({"republished_events": republished}),
            })
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the dispatcher does not run {other:?}"),
        )),
    }
}

/// Publishes domain events whose publish failed at ingest, for every tenant.
async fn republish_parked_events(app: &App) -> Result<usize> {
    let mut total = 0;
    let mut cursor = None;
    loop {
        let (tenants, next) = app.tenants.list(100, cursor).await?;
        for tenant in &tenants {
            total += app.ingest.republish_parked(&tenant.id).await?;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(total),
        }
    }
}
