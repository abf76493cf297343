//! The rule runner: evaluates every due rule window on its schedule.
#![forbid(unsafe_code)]

use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(_app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::RulesTick => Ok(FlowReport {
            flow: Flow::RulesTick,
            detail: serde_json::json!({"rules_evaluated": 0}),
        }),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the rules function does not run {other:?}"),
        )),
    }
}
