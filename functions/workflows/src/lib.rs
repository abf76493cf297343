//! The workflow executor: consumes domain events (EventBridge envelopes) and delayed steps
//! from the workflow queue.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, HandleError, Message, MessageHandler};
use vigil_core::ingest::DomainEvent;
use vigil_core::ports::BusEnvelope;
use vigil_core::{App, Error, Result};

/// Handles one message of the workflow queue.
pub struct WorkflowHandler {
    app: Arc<App>,
}

/// The detail of a domain event as ingest publishes it.
#[derive(Debug, Deserialize)]
struct Published {
    tenant_id: String,
    event: DomainEvent,
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
        tracing::debug!(detail_type = %envelope.detail_type, source = %envelope.source, "domain event received");
        let published: Published = serde_json::from_value(envelope.detail)
            .map_err(|e| HandleError::Permanent(format!("not a published domain event: {e}")))?;
        // Keeps the event's client current (applying an event twice changes nothing more).
        match self
            .app
            .clients
            .apply(&published.tenant_id, &published.event)
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::Invalid { message, .. }) => Err(HandleError::Permanent(message)),
            Err(other) => Err(HandleError::Retryable(other.to_string())),
        }
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
