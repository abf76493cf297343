//! The rule runner: every 5 minutes, evaluates each tenant's due rule windows.
#![forbid(unsafe_code)]

use chrono::{DateTime, Utc};
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::{FlowReport, TenantFailure, each_tenant};
use vigil_core::rules::RunReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::RulesTick => {
            let (report, failed_tenants) = run_all(app, app.clock.now()).await?;
            Ok(FlowReport {
                flow: Flow::RulesTick,
                detail: serde_json::to_value(&report)
                    .map_err(|e| Error::Internal(e.to_string()))?,
                failed_tenants,
            })
        }
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the rules function does not run {other:?}"),
        )),
    }
}

/// Evaluates every tenant's rules as of `now`; one tenant's failure does not stop the others
/// (its windows are evaluated by the next run). Returns the totals and the failed tenants.
pub async fn run_all(app: &App, now: DateTime<Utc>) -> Result<(RunReport, Vec<TenantFailure>)> {
    let tenants = app.tenants.all_ids().await?;
    let outcome = each_tenant(Flow::RulesTick, tenants, |tenant| async move {
        app.rules.run(&tenant, now).await
    })
    .await;
    let mut total = RunReport::default();
    for (_, report) in &outcome.done {
        total.windows_evaluated += report.windows_evaluated;
        total.anomalies_opened += report.anomalies_opened;
        total.store_reads += report.store_reads;
        total.store_writes += report.store_writes;
    }
    Ok((total, outcome.failed))
}
