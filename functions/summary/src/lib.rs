//! Reports and timed per-tenant work: daily summaries, weekly reviews, baseline updates, scans.
#![forbid(unsafe_code)]

use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(_app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        flow @ (Flow::SummaryTick | Flow::WeeklyReview | Flow::BaselineUpdate) => Ok(FlowReport {
            flow,
            detail: serde_json::json!({"tenants": 0}),
        }),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the summary function does not run {other:?}"),
        )),
    }
}
