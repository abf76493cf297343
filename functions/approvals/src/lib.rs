//! Approvals: rejects the approval requests nobody decided within their time-out, with a
//! notification for each.
#![forbid(unsafe_code)]

use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::ApprovalExpiry => {
            let mut expired = 0;
            for tenant in app.tenants.all_ids().await? {
                expired += app.engine.expire_approvals(&tenant).await?;
            }
            Ok(FlowReport {
                flow: Flow::ApprovalExpiry,
                detail: serde_json::json!({"expired": expired}),
            })
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the approvals function does not run {other:?}"),
        )),
    }
}
