//! Approvals: rejects the approval requests nobody decided within their time-out, with a
//! notification for each.
#![forbid(unsafe_code)]

use std::sync::Arc;

use vigil_core::tenancy::tenants::TenantService;
use vigil_core::workflows::WorkflowEngine;
use vigil_core::{Error, Result};
use vigil_runtime::App;
use vigil_runtime::deployment::{Flow, FlowInvocation};
use vigil_runtime::jobs::{FlowReport, each_tenant};

/// What the approvals function uses.
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
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(services: &Services, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::ApprovalExpiry => {
            let tenants = services.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::ApprovalExpiry, tenants, |tenant| async move {
                services.engine.expire_approvals(&tenant).await
            })
            .await;
            Ok(outcome.report(Flow::ApprovalExpiry, |done| {
                let expired: usize = done.iter().map(|(_, n)| *n).sum();
                serde_json::json!({"expired": expired})
            }))
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the approvals function does not run {other:?}"),
        )),
    }
}
