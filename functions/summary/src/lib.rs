//! Reports and timed per-tenant work: daily summaries, weekly reviews, baseline updates, scans.
#![forbid(unsafe_code)]

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Timelike as _, Utc};
use vigil_core::deployment::{Flow, FlowInvocation};
use vigil_core::flows::FlowReport;
use vigil_core::runs::baselines::BaselineUpdateReport;
use vigil_core::{App, Error, Result};

/// Runs a scheduled flow of this function.
pub async fn run_flow(app: &App, invocation: FlowInvocation) -> Result<FlowReport> {
    let now = app.clock.now();
    let detail = match invocation.flow {
        Flow::SummaryTick => {
            // After the configured hour, yesterday is complete and its summary goes out (once).
            let sent = if now.hour() >= app.settings.summary_hour {
                daily_summaries(app, (now - Duration::days(1)).date_naive()).await?
            } else {
                0
            };
            let scans = app.runs.run_due_scans().await?;
            serde_json::json!({"daily_summaries_sent": sent, "scans": scans})
        }
        Flow::WeeklyReview => {
            let week = previous_week(now);
            let sent = weekly_reviews(app, week).await?;
            serde_json::json!({"week_start": week, "weekly_reviews_sent": sent})
        }
        Flow::BaselineUpdate => {
            let reports = update_baselines(app).await?;
            let updated: usize = reports.iter().map(|(_, r)| r.updated.len()).sum();
            let unchanged: usize = reports.iter().map(|(_, r)| r.unchanged.len()).sum();
            serde_json::json!({"tenants": reports.len(), "updated": updated, "unchanged": unchanged})
        }
        other => {
            return Err(Error::invalid(
                "unknown_flow",
                format!("the summary function does not run {other:?}"),
            ));
        }
    };
    Ok(FlowReport {
        flow: invocation.flow,
        detail,
    })
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

/// The Monday starting the last full week (UTC) before `now`.
pub fn previous_week(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    this_monday - Duration::days(7)
}

/// Builds and sends every tenant's weekly review of the week from `week_start`; returns how
/// many were new.
pub async fn weekly_reviews(app: &App, week_start: NaiveDate) -> Result<usize> {
    let mut sent = 0;
    for tenant in app.tenants.all_ids().await? {
        let (_, created) = app
            .reports
            .weekly_review(&tenant, week_start, &app.runs)
            .await?;
        sent += usize::from(created);
    }
    Ok(sent)
}

/// Learns every tenant's scenario baselines from their last 30 days.
pub async fn update_baselines(app: &App) -> Result<Vec<(String, BaselineUpdateReport)>> {
    let mut reports = Vec::new();
    for tenant in app.tenants.all_ids().await? {
        let report = app.runs.update_baselines(&tenant).await?;
        reports.push((tenant, report));
    }
    Ok(reports)
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
