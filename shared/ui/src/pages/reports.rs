//! Reports: the daily summaries and weekly reviews, listed by kind and paged like
//! `GET /api/v1/reports`, and each one readable: its words, its figures as tables and its
//! SHA-256 digest explained.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use vigil_core::reports::daily::{money, percent};
use vigil_core::reports::weekly::{ScenarioWeek, VarianceEntry};
use vigil_core::reports::{DailyFacts, Report, ReportFacts, ReportKind, WeeklyFacts};

use super::{Chrome, ErrorPage, PAGE, cursor, render, when, word};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

/// The kinds, as the filter offers them.
const KINDS: [ReportKind; 2] = [ReportKind::DailySummary, ReportKind::WeeklyReview];

/// What a report is called on its page and in the list.
pub(super) fn title_of(report: &Report) -> String {
    match report.kind {
        ReportKind::DailySummary => format!("Daily summary for {}", report.date),
        ReportKind::WeeklyReview => format!("Weekly review of the week of {}", report.date),
    }
}

fn kind_label(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::DailySummary => "Daily summaries",
        ReportKind::WeeklyReview => "Weekly reviews",
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    /// (word, label, chosen)
    kinds: Vec<(&'static str, &'static str, bool)>,
    kind_label: &'static str,
    rows: Vec<ReportRow>,
    next_page: Option<String>,
}

struct ReportRow {
    id: String,
    title: String,
    overall: String,
    created_at: String,
}

#[derive(Deserialize)]
pub struct ReportsQuery {
    kind: Option<String>,
    cursor: Option<String>,
}

pub async fn reports(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<ReportsQuery>,
) -> Result<Response, ErrorPage> {
    // Daily summaries unless another kind is asked for, as the API lists them.
    let kind = word(query.kind.as_deref(), "kind")?.unwrap_or(ReportKind::DailySummary);
    let session = &signed_in.session;
    let (reports, next) = console
        .reports
        .list(
            &session.tenant_id,
            kind,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    let next_page = next.map(|next| {
        format!(
            "/reports?kind={}&cursor={}",
            kind.as_str(),
            url_encode(&next.encode())
        )
    });
    let page = ReportsPage {
        chrome: Chrome::of(session, "reports"),
        kinds: KINDS
            .into_iter()
            .map(|k| (k.as_str(), kind_label(k), k == kind))
            .collect(),
        kind_label: kind_label(kind),
        rows: reports
            .iter()
            .map(|report| ReportRow {
                id: report.id.clone(),
                title: title_of(report),
                overall: report.rendered.overall.clone(),
                created_at: when(report.created_at),
            })
            .collect(),
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

/// A table of a report's figures: the first cell of each row names it.
#[derive(Debug, PartialEq)]
pub(super) struct FigureTable {
    pub caption: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// A report's figures, from its facts, as tables a person reads.
pub(super) fn figure_tables(facts: &ReportFacts) -> Vec<FigureTable> {
    match facts {
        ReportFacts::Daily(facts) => daily_tables(facts),
        ReportFacts::WeeklyReview(facts) => weekly_tables(facts),
    }
}

fn counts_table(
    caption: &'static str,
    header: &'static str,
    counts: &std::collections::BTreeMap<String, i64>,
) -> Option<FigureTable> {
    (!counts.is_empty()).then(|| FigureTable {
        caption,
        headers: vec![header, "Anomalies"],
        rows: counts
            .iter()
            .map(|(name, n)| vec![name.clone(), n.to_string()])
            .collect(),
    })
}

fn daily_tables(facts: &DailyFacts) -> Vec<FigureTable> {
    let figure = |name: &str, value: String| vec![name.to_owned(), value];
    let mut tables = vec![FigureTable {
        caption: "Payments and subscriptions",
        headers: vec!["Figure", "Value"],
        rows: vec![
            figure("Payments succeeded", facts.payments_succeeded.to_string()),
            figure("Payments failed", facts.payments_failed.to_string()),
            figure(
                "Payment failure rate",
                format!("{}%", percent(facts.failure_rate())),
            ),
            figure("Charge volume", money(facts.charge_volume)),
            figure("Refunds", facts.refunds.to_string()),
            figure("Refund volume", money(facts.refund_volume)),
            figure(
                "Subscriptions created",
                facts.subscriptions_created.to_string(),
            ),
            figure(
                "Subscriptions cancelled",
                facts.subscriptions_cancelled.to_string(),
            ),
            figure("Invoices failed", facts.invoices_failed.to_string()),
        ],
    }];
    tables.extend(counts_table(
        "Anomalies by severity",
        "Severity",
        &facts.anomalies_by_severity,
    ));
    tables.extend(counts_table(
        "Anomalies by status",
        "Status",
        &facts.anomalies_by_status,
    ));
    if !facts.top_rules.is_empty() {
        tables.push(FigureTable {
            caption: "Rules that fired most",
            headers: vec!["Rule", "Times fired"],
            rows: facts
                .top_rules
                .iter()
                .map(|(rule, n)| vec![rule.clone(), n.to_string()])
                .collect(),
        });
    }
    tables
}

fn scenario_rows(weeks: &[ScenarioWeek]) -> Vec<Vec<String>> {
    weeks
        .iter()
        .map(|w| {
            vec![
                w.name.clone().unwrap_or_else(|| w.scenario_id.clone()),
                w.runs.to_string(),
                w.failed.to_string(),
                format!("{}%", percent(w.failure_rate * 100.0)),
                format!("{:.1}", w.credits),
            ]
        })
        .collect()
}

fn variance_row(v: &VarianceEntry) -> Vec<String> {
    let credits = |c: Option<f64>| c.map_or_else(|| "—".to_owned(), |c| format!("{c:.1}"));
    vec![
        v.run_id.clone(),
        v.scenario_id.clone(),
        format!("{:.1}×", v.variance),
        credits(v.credits_total),
        credits(v.baseline_credits),
        v.severity.as_str().to_owned(),
    ]
}

fn weekly_tables(facts: &WeeklyFacts) -> Vec<FigureTable> {
    let scenario_headers = vec!["Scenario", "Runs", "Failed", "Failure rate", "Credits"];
    let mut tables = vec![FigureTable {
        caption: "Runs of the week",
        headers: vec!["Figure", "Value"],
        rows: vec![
            vec!["Runs".to_owned(), facts.total_runs.to_string()],
            vec!["Failed runs".to_owned(), facts.failed_runs.to_string()],
            vec!["Credits".to_owned(), format!("{:.1}", facts.total_credits)],
        ],
    }];
    if !facts.top_scenarios.is_empty() {
        tables.push(FigureTable {
            caption: "Scenarios that used the most credits",
            headers: scenario_headers.clone(),
            rows: scenario_rows(&facts.top_scenarios),
        });
    }
    if !facts.largest_variances.is_empty() {
        tables.push(FigureTable {
            caption: "Runs furthest above their baseline",
            headers: vec![
                "Run",
                "Scenario",
                "Of baseline",
                "Credits",
                "Baseline",
                "Severity",
            ],
            rows: facts.largest_variances.iter().map(variance_row).collect(),
        });
    }
    if !facts.failure_rates.is_empty() {
        tables.push(FigureTable {
            caption: "Scenarios with failures",
            headers: scenario_headers,
            rows: scenario_rows(&facts.failure_rates),
        });
    }
    tables.extend(counts_table(
        "Anomalies by severity",
        "Severity",
        &facts.anomalies_by_severity,
    ));
    tables
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    chrome: Chrome,
    title: String,
    kind: &'static str,
    period: String,
    created_at: String,
    overall: String,
    highlights: Vec<String>,
    watch: Vec<String>,
    ai_text: Option<String>,
    tables: Vec<FigureTable>,
    digest: String,
}

pub async fn report(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let report = console.reports.get(&session.tenant_id, &id).await?;
    let page = ReportPage {
        chrome: Chrome::of(session, "reports"),
        title: title_of(&report),
        kind: report.kind.as_str(),
        period: format!(
            "{} to {}",
            when(report.period_start),
            when(report.period_end)
        ),
        created_at: when(report.created_at),
        tables: figure_tables(&report.facts),
        overall: report.rendered.overall,
        highlights: report.rendered.highlights,
        watch: report.rendered.watch,
        ai_text: report.ai_text,
        digest: report.digest,
    };
    Ok(render(&page, StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_days_figures_read_as_money_percent_and_counts() {
        // GIVEN a day with 3 of 4 payments succeeded and one anomaly
        let facts = DailyFacts {
            payments_succeeded: 3,
            payments_failed: 1,
            charge_volume: 123_456,
            anomalies_by_severity: BTreeMap::from([("SEV2".to_owned(), 1)]),
            top_rules: vec![("payment_failures".to_owned(), 1)],
            ..DailyFacts::default()
        };
        // WHEN its figures are tabled
        let tables = figure_tables(&ReportFacts::Daily(facts));
        // THEN money and rates read as a person writes them, and empty counts are left out
        let first = &tables[0].rows;
        assert!(first.contains(&vec!["Payment failure rate".to_owned(), "25.0%".to_owned()]));
        assert!(first.contains(&vec!["Charge volume".to_owned(), "1234.56".to_owned()]));
        let captions: Vec<&str> = tables.iter().map(|t| t.caption).collect();
        assert_eq!(
            captions,
            [
                "Payments and subscriptions",
                "Anomalies by severity",
                "Rules that fired most"
            ]
        );
    }

    #[test]
    fn a_weeks_scenarios_are_named_and_variances_are_multiples() {
        let week = ScenarioWeek {
            scenario_id: "S1".to_owned(),
            name: Some("Nightly export".to_owned()),
            runs: 4,
            failed: 1,
            failure_rate: 0.25,
            credits: 50.0,
        };
        let facts = WeeklyFacts {
            total_runs: 4,
            failed_runs: 1,
            total_credits: 50.0,
            top_scenarios: vec![week.clone()],
            largest_variances: vec![VarianceEntry {
                run_id: "r1".to_owned(),
                scenario_id: "S1".to_owned(),
                variance: 3.0,
                credits_total: Some(30.0),
                baseline_credits: None,
                severity: vigil_core::severity::Severity::Sev2,
            }],
            failure_rates: vec![week],
            ..WeeklyFacts::default()
        };
        let tables = figure_tables(&ReportFacts::WeeklyReview(facts));
        assert_eq!(
            tables[1].rows[0],
            ["Nightly export", "4", "1", "25.0%", "50.0"]
        );
        assert_eq!(tables[2].rows[0], ["r1", "S1", "3.0×", "30.0", "—", "SEV2"]);
        assert_eq!(tables.len(), 4, "no anomalies, no anomaly table");
    }
}
