//! The overview: what is open (inbox and anomalies by severity), the last seven days of
//! automation runs (failure rate and credits per day, as charts), the workflows' success rate,
//! the approvals waiting and yesterday's daily summary. Every figure comes from a bounded read:
//! counters, one page of open anomalies, day and hour aggregates, and one report by its id.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use futures_util::future::try_join5;
use vigil_core::anomaly::{AnomalyFilter, AnomalyStatus};
use vigil_core::automation_runs::days::RunDay;
use vigil_core::reports::daily::{money, percent};
use vigil_core::reports::{ReportFacts, ReportKind, report_id};
use vigil_core::severity::Severity;

use super::reports::title_of;
use super::{Chrome, ErrorPage, render};
use crate::ConsoleState;
use crate::charts::{BarChart, Svg, number};
use crate::session::SignedIn;

/// Open anomalies counted on the overview.
const OVERVIEW_ANOMALIES: u32 = 200;
/// Days the charts and the workflow figures cover, today included.
const DAYS: u32 = 7;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    inbox_open: u64,
    /// (severity, open inbox items, open anomalies)
    by_severity: Vec<(&'static str, u64, usize)>,
    anomalies_open: usize,
    /// More open anomalies than were counted.
    anomalies_more: bool,
    runs: RunWeek,
    workflows: WorkflowWeek,
    yesterday: Yesterday,
}

/// The last days of automation runs, as charts and totals.
struct RunWeek {
    failure_chart: Svg,
    credits_chart: Svg,
    runs: u64,
    failed: u64,
    credits: String,
}

impl RunWeek {
    fn of(days: &[RunDay]) -> Self {
        let label = |day: &RunDay| day.date.format("%a %-d").to_string();
        let failure = days
            .iter()
            .map(|d| (label(d), d.failure_rate().unwrap_or(0.0) * 100.0))
            .collect();
        let credits = days.iter().map(|d| (label(d), d.credits)).collect();
        Self {
            failure_chart: BarChart::new(
                format!("Failure rate of automation runs per day, last {DAYS} days"),
                failure,
            )
            .with_unit("%")
            .draw(),
            // No unit after each figure: the title says they are credits, and the scale stays
            // narrow.
            credits_chart: BarChart::new(
                format!("Credits used by automation runs per day, last {DAYS} days"),
                credits,
            )
            .draw(),
            runs: days.iter().map(|d| d.runs).sum(),
            failed: days.iter().map(|d| d.failed).sum(),
            credits: number(days.iter().map(|d| d.credits).sum()),
        }
    }
}

/// The workflows' runs of the last days and the approvals waiting.
struct WorkflowWeek {
    runs: i64,
    /// "87.5%", when some run finished.
    success_rate: Option<String>,
    approvals_waiting: usize,
    /// How long the oldest approval has waited, in words.
    oldest_approval: Option<String>,
}

/// Yesterday's daily summary, when it was made.
enum Yesterday {
    Missing(NaiveDate),
    Made {
        id: String,
        title: String,
        overall: String,
        /// (figure, value) shown as cards.
        headline: Vec<(&'static str, String)>,
    },
}

/// How long something has waited, as a person says it ("40 min", "3 h", "2 days").
pub(super) fn age_in_words(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    match minutes {
        0 => "under a minute".to_owned(),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

pub async fn overview(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let tenant = signed_in.session.tenant_id.as_str();
    let yesterday = (console.engine.clock().now() - Duration::days(1)).date_naive();
    let open = AnomalyFilter {
        status: Some(AnomalyStatus::Open),
        ..AnomalyFilter::default()
    };
    // Each read is independent of the others: they go out together.
    let (counts, (anomalies, more), run_days, analytics, summary) = try_join5(
        console.inbox.counts(tenant),
        console
            .anomalies
            .list(tenant, &open, OVERVIEW_ANOMALIES, None),
        console.automation_runs.daily(tenant, DAYS),
        console.engine.analytics(tenant, DAYS),
        async {
            let id = report_id(tenant, ReportKind::DailySummary, yesterday);
            match console.reports.get(tenant, &id).await {
                Ok(report) => Ok(Some(report)),
                Err(vigil_core::Error::NotFound(_)) => Ok(None),
                Err(other) => Err(other),
            }
        },
    )
    .await?;
    let by_severity = Severity::ALL
        .into_iter()
        .map(|severity| {
            let inbox = counts
                .by_severity
                .get(severity.as_str())
                .copied()
                .unwrap_or(0);
            let open = anomalies.iter().filter(|a| a.severity == severity).count();
            (severity.as_str(), inbox, open)
        })
        .collect();
    let overall = &analytics.overall;
    let page = OverviewPage {
        chrome: Chrome::of(&signed_in.session, "overview"),
        inbox_open: counts.open,
        by_severity,
        anomalies_open: anomalies.len(),
        anomalies_more: more.is_some(),
        runs: RunWeek::of(&run_days),
        workflows: WorkflowWeek {
            runs: overall.runs,
            success_rate: overall
                .success_rate
                .map(|rate| format!("{}%", percent(rate * 100.0))),
            approvals_waiting: overall.approvals_waiting,
            oldest_approval: overall.oldest_approval_age_seconds.map(age_in_words),
        },
        yesterday: match summary {
            None => Yesterday::Missing(yesterday),
            Some(report) => Yesterday::Made {
                title: title_of(&report),
                headline: match &report.facts {
                    ReportFacts::Daily(facts) => vec![
                        ("payment attempts", facts.attempts().to_string()),
                        (
                            "of payments failed",
                            format!("{}%", percent(facts.failure_rate())),
                        ),
                        ("charged", money(facts.charge_volume)),
                        ("anomalies still open", facts.open_anomalies().to_string()),
                    ],
                    ReportFacts::WeeklyReview(_) => Vec::new(),
                },
                overall: report.rendered.overall,
                id: report.id,
            },
        },
    };
    Ok(render(&page, StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_reads_in_the_unit_a_person_would_use() {
        assert_eq!(age_in_words(-5), "under a minute");
        assert_eq!(age_in_words(59), "under a minute");
        assert_eq!(age_in_words(40 * 60), "40 min");
        assert_eq!(age_in_words(2 * 3600 + 59 * 60), "2 h");
        assert_eq!(age_in_words(47 * 3600), "47 h");
        assert_eq!(age_in_words(3 * 86_400), "3 days");
    }

    #[test]
    fn a_week_of_runs_sums_and_charts_each_day() -> Result<(), askama::Error> {
        // GIVEN two days, one without runs
        let day = |date: &str, runs, failed, credits| RunDay {
            date: date.parse().unwrap_or_default(),
            runs,
            failed,
            credits,
        };
        let days = [day("2026-05-04", 4, 1, 12.5), day("2026-05-05", 0, 0, 0.0)];
        // WHEN they are charted
        let week = RunWeek::of(&days);
        // THEN the totals add up and each chart names itself and lists each day's number
        assert_eq!(
            (week.runs, week.failed, week.credits.as_str()),
            (4, 1, "12.5")
        );
        let failures = week.failure_chart.render()?;
        assert!(failures.contains("aria-label=\"Failure rate of automation runs per day"));
        assert!(
            failures.contains("<th scope=\"row\">Mon 4</th><td>25%</td>"),
            "{failures}"
        );
        assert!(failures.contains("<th scope=\"row\">Tue 5</th><td>0%</td>"));
        let credits = week.credits_chart.render()?;
        assert!(credits.contains("<td>12.5</td>"), "{credits}");
        Ok(())
    }
}
