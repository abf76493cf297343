//! Reports and timed per-tenant work: daily summaries, weekly reviews, baseline updates, scans.
#![forbid(unsafe_code)]

use std::sync::Arc;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Timelike as _, Utc};
use vigil_core::automation_runs::RunService;
use vigil_core::automation_runs::baselines::BaselineUpdateReport;
use vigil_core::reports::ReportService;
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::{Clock, Error, Result};
use vigil_runtime::App;
use vigil_runtime::deployment::{Flow, FlowInvocation};
use vigil_runtime::jobs::{EachTenant, FlowReport, each_tenant};

/// What the summary function uses.
#[derive(Clone)]
pub struct Services {
    reports: Arc<ReportService>,
    automation_runs: Arc<RunService>,
    tenants: Arc<TenantService>,
    clock: Arc<dyn Clock>,
    /// UTC hour after which yesterday's daily summary goes out.
    summary_hour: u32,
}

impl Services {
    pub fn new(app: &App) -> Self {
        Self {
            reports: app.reports().clone(),
            automation_runs: app.automation_runs().clone(),
            tenants: app.tenants().clone(),
            clock: app.clock.clone(),
            summary_hour: app.settings.summary_hour,
        }
    }
}

/// Runs a scheduled flow of this function. Each tenant's part runs on its own: a failure is
/// recorded in the report and the other tenants go on.
pub async fn run_flow(services: &Services, invocation: FlowInvocation) -> Result<FlowReport> {
    let now = services.clock.now();
    match invocation.flow {
        Flow::SummaryTick => {
            // After the configured hour, yesterday is complete and its summary goes out (once).
            let daily = if now.hour() >= services.summary_hour {
                daily_summaries(services, (now - Duration::days(1)).date_naive()).await?
            } else {
                EachTenant {
                    done: Vec::new(),
                    failed: Vec::new(),
                }
            };
            let mut scans = services.automation_runs.run_due_scans().await?;
            let failed_scans = std::mem::take(&mut scans.failed);
            let mut report = daily.report(Flow::SummaryTick, |done| {
                let sent = done.iter().filter(|(_, created)| *created).count();
                serde_json::json!({"daily_summaries_sent": sent, "scans": scans})
            });
            report.failed_tenants.extend(failed_scans);
            Ok(report)
        }
        Flow::WeeklyReview => {
            let week = previous_week(now);
            Ok(weekly_reviews(services, week).await?.report(Flow::WeeklyReview, |done| {
                let sent = done.iter().filter(|(_, created)| *created).count();
                serde_json::json!({"week_start": week, "weekly_reviews_sent": sent})
            }))
        }
        Flow::BaselineUpdate => Ok(update_baselines(services).await?.report(
            Flow::BaselineUpdate,
            |done| {
                let updated: usize = done.iter().map(|(_, r)| r.updated.len()).sum();
                let unchanged: usize = done.iter().map(|(_, r)| r.unchanged.len()).sum();
                serde_json::json!({"tenants": done.len(), "updated": updated, "unchanged": unchanged})
            },
        )),
        other => Err(Error::invalid(
            "unknown_flow",
            format!("the summary function does not run {other:?}"),
        )),
    }
}

/// Builds and sends every tenant's daily summary of `date`; each part says whether it was new.
pub async fn daily_summaries(services: &Services, date: NaiveDate) -> Result<EachTenant<bool>> {
    let tenants = services.tenants.all_ids().await?;
    Ok(
        each_tenant(Flow::SummaryTick, tenants, |tenant| async move {
            let (_, created) = services.reports.daily_summary(&tenant, date).await?;
            Ok(created)
        })
        .await,
    )
}

/// The Monday starting the last full week (UTC) before `now`.
pub fn previous_week(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    this_monday - Duration::days(7)
}

/// Builds and sends every tenant's weekly review of the week from `week_start`; each part says
/// whether it was new.
pub async fn weekly_reviews(
    services: &Services,
    week_start: NaiveDate,
) -> Result<EachTenant<bool>> {
    let tenants = services.tenants.all_ids().await?;
    Ok(
        each_tenant(Flow::WeeklyReview, tenants, |tenant| async move {
            let (_, created) = services
                .reports
                .weekly_review(&tenant, week_start, &services.automation_runs)
                .await?;
            Ok(created)
        })
        .await,
    )
}

/// Learns every tenant's scenario baselines from their last 30 days.
pub async fn update_baselines(services: &Services) -> Result<EachTenant<BaselineUpdateReport>> {
    let tenants = services.tenants.all_ids().await?;
    Ok(
        each_tenant(Flow::BaselineUpdate, tenants, |tenant| async move {
            services.automation_runs.update_baselines(&tenant).await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_covers_the_last_full_week() {
        let monday_nine = DateTime::parse_from_rfc3339("2026-03-16T09:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(previous_week(monday_nine).to_string(), "2026-03-09");
        let sunday = monday_nine - Duration::hours(12);
        assert_eq!(previous_week(sunday).to_string(), "2026-03-02");
    }
}
