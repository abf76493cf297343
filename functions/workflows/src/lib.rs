//! The workflow executor: consumes domain events, Vigil's own events (anomalies opened) and its
//! own "go on with this run" messages from the workflow queue, and runs the frequent tick.
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::workflows::WorkflowEngine;
use vigil_core::workflows::messages::{self, Incoming, RunMessage};
use vigil_core::{Error, Result};
use vigil_runtime::App;
use vigil_runtime::deployment::{Flow, FlowInvocation};
use vigil_runtime::jobs::{FlowReport, Message, MessageHandler, each_tenant};

/// What the workflow executor uses.
#[derive(Clone)]
pub struct Services {
    engine: Arc<WorkflowEngine>,
    tenants: Arc<TenantService>,
}

impl Services {
    pub fn new(app: &App) -> Self {
        Self {
            engine: app.engine().clone(),
            tenants: app.tenants().clone(),
        }
    }

    /// The consumer of the workflow queue.
    pub fn handler(&self) -> WorkflowHandler {
        WorkflowHandler::new(self.engine.clone())
    }
}

/// Handles one message of the workflow queue.
pub struct WorkflowHandler {
    engine: Arc<WorkflowEngine>,
}

impl WorkflowHandler {
    pub fn new(engine: Arc<WorkflowEngine>) -> Self {
        Self { engine }
    }
}

#[async_trait]
impl MessageHandler for WorkflowHandler {
    async fn handle(&self, message: &Message) -> Result<()> {
        let engine = &self.engine;
        let incoming = messages::read(&message.body)
            .map_err(|reason| Error::invalid("unreadable_message", reason))?;
        match incoming {
            Incoming::Event(published) => engine.on_event(&published).await.map(drop),
            Incoming::Anomaly(opened) => engine.on_anomaly(&opened).await.map(drop),
            Incoming::Run(RunMessage::Advance { tenant_id, run_id }) => {
                engine.advance(&tenant_id, &run_id).await
            }
            Incoming::Other { detail_type } => {
                tracing::debug!(%detail_type, "not an event workflows act on");
                Ok(())
            }
        }
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(services: &Services, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::WorkflowTick => {
            let tenants = services.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::WorkflowTick, tenants, |tenant| async move {
                services.engine.tick(&tenant).await
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
