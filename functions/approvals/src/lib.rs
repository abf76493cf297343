//! Approvals: rejects the approval requests nobody decided within their time-out, with a
//! notification for each.
#![forbid(unsafe_code)]

use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, each_tenant};
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::ApprovalExpiry => {
            let tenants = app.tenants.all_ids().await?;
            let outcome = each_tenant(Flow::ApprovalExpiry, tenants, |tenant| async move {
                app.engine.expire_approvals(&tenant).await
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
