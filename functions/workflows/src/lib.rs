//! The workflow executor: consumes domain events (EventBridge envelopes) and delayed steps
//! from the workflow queue.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler};
use vigil_core::ports::BusEnvelope;
use vigil_core::{App, Error, Result};

/// Handles one message of the workflow queue.
pub struct WorkflowHandler {
    #[allow(dead_code)] // used once workflows run
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
        let envelope: BusEnvelope = serde_json::from_str(&message.body)
            .map_err(|e| HandleError::Permanent(format!("not an event envelope: {e}")))?;
        tracing::info!(detail_type = %envelope.detail_type, source = %envelope.source, "domain event received");
        Ok(())
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(_app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::WorkflowTick => Ok(FlowReport {
            flow: Flow::WorkflowTick,
            detail: serde_json::json!({"triggered": 0}),
        }),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the workflows function does not run {other:?}"),
        )),
    }
}
