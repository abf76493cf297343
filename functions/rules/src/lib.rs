//! The rule runner: every 5 minutes, evaluates each tenant's due rule windows.
#![forbid(unsafe_code)]

use chrono::{DateTime, Utc};
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::rules::RunReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::RulesTick => {
            let report = run_all(app, app.clock.now()).await?;
            Ok(FlowReport {
                flow: Flow::RulesTick,
                detail: serde_json::to_value(&report)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            })
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the rules function does not run {other:?}"),
        )),
    }
}

/// Evaluates every tenant's rules as of `now`; one tenant's failure does not stop the others.
pub async fn run_all(app: &App, now: DateTime<Utc>) -> Result<RunReport> {
    let mut total = RunReport::default();
    let mut failed = 0;
    for tenant in app.tenants.all_ids().await? {
        match app.rules.run(&tenant, now).await {
            Ok(report) => {
                total.windows_evaluated += report.windows_evaluated;
                total.anomalies_opened += report.anomalies_opened;
                total.store_reads += report.store_reads;
                total.store_writes += report.store_writes;
            }
            Err(error) => {
                failed += 1;
                tracing::error!(tenant, %error, "rule run failed for a tenant");
            }
        }
    }
    if failed > 0 {
        return Err(Error::Unavailable(format!(
            "the rule run failed for {failed} tenant(s); the next run catches up"
        )));
    }
    Ok(total)
}
