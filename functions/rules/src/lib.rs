//! The rule runner: every 5 minutes, evaluates each tenant's due rule windows.
#![forbid(unsafe_code)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use vigil_core::rules::{EvaluationReport, RuleService};
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::{Clock, Error, Result};
use vigil_runtime::App;
use vigil_runtime::deployment::{Flow, FlowInvocation};
use vigil_runtime::jobs::{FlowReport, TenantFailure, each_tenant};

/// What the rule runner uses.
#[derive(Clone)]
pub struct Services {
    rules: Arc<RuleService>,
    tenants: Arc<TenantService>,
    clock: Arc<dyn Clock>,
}

impl Services {
    pub fn new(app: &App) -> Self {
        Self {
            rules: app.rules().clone(),
            tenants: app.tenants().clone(),
            clock: app.clock.clone(),
        }
    }
}

/// Runs a scheduled flow of this function.
pub async fn run_flow(services: &Services, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::RulesTick => rules_tick(services, services.clock.now()).await,
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the rules function does not run {other:?}"),
        )),
    }
}

/// The rules tick as of `now`: every tenant's due windows, reported as a flow.
pub async fn rules_tick(services: &Services, now: DateTime<Utc>) -> Result<FlowReport> {
    let (report, failed_tenants) = evaluate_all(services, now).await?;
    Ok(FlowReport {
        flow: Flow::RulesTick,
        detail: serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?,
        failed_tenants,
    })
}

/// Evaluates every tenant's rules as of `now`; one tenant's failure does not stop the others
/// (its windows are evaluated by the next run). Returns the totals and the failed tenants.
pub async fn evaluate_all(
    services: &Services,
    now: DateTime<Utc>,
) -> Result<(EvaluationReport, Vec<TenantFailure>)> {
    let tenants = services.tenants.all_ids().await?;
    let outcome = each_tenant(Flow::RulesTick, tenants, |tenant| async move {
        services.rules.evaluate_due(&tenant, now).await
    })
    .await;
    let mut total = EvaluationReport::default();
    for (_, report) in &outcome.done {
        total.windows_evaluated += report.windows_evaluated;
        total.anomalies_opened += report.anomalies_opened;
        total.store_reads += report.store_reads;
        total.store_writes += report.store_writes;
    }
    Ok((total, outcome.failed))
}
