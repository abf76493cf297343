//! The workflow executor: consumes domain events, Vigil's own events (anomalies opened) and its
//! own "go on with this run" messages from the workflow queue, and runs the frequent tick.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler, each_tenant};
use vigil_core::workflows::messages::{self, Incoming, RunMessage};
use vigil_core::{App, Error, Result};

/// Handles one message of the workflow queue.
pub struct WorkflowHandler {
    app: Arc<App>,
}

impl WorkflowHandler {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[async_trait]
impl MessageHandler for WorkflowHandler {
    async fn handle(&self, message: &Message) -> std::result::Result<(), HandleError> {
        let engine = &self.app.engine;
        let done = match messages::read(&message.body).map_err(HandleError::Permanent)? {
            Incoming::Event(published) => engine.on_event(&published).await.map(drop),
            Incoming::Anomaly(opened) => engine.on_anomaly(&opened).await.map(drop),
            Incoming::Run(RunMessage::Advance { tenant_id, run_id }) => {
                engine.advance(&tenant_id, &run_id).await
            }
            Incoming::Other { detail_type } => {
                tracing::debug!(%detail_type, "not an event workflows act on");
                Ok(())
            }
        };
        done.map_err(|error| match error {
            Error::Invalid { message, .. } | Error::Unprocessable { message, .. } => {
                HandleError::Permanent(message)
            }
            other => HandleError::Retryable(other.to_string()),
        })
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::WorkflowTick => {
            let tenants = app.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::WorkflowTick, tenants, |tenant| async move {
                app.engine.tick(&tenant).await
            })
            .await;
            Ok(outcome.report(Flow::WorkflowTick, |done| {
                let resumed: usize = done.iter().map(|(_, r)| r.resumed).sum();
                let started: usize = done.iter().map(|(_, r)| r.started).sum();
                serde_json::json!({"resumed": resumed, "started": started})
            }))
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the workflows function does not run {other:?}"),
        )),
    }
}
