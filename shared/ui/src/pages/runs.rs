//! Automation runs: the run ledger with the filters of `GET /api/v1/runs`, and one run with its
//! classification (severity, risk flags, recommended actions) and the facts its platform sent.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use vigil_core::automation_runs::{Run, RunFilter, RunStatus};

use super::{Chrome, ErrorPage, PAGE, choices, cursor, render, severity_choices, when, word};
use crate::ConsoleState;
use crate::charts::number;
use crate::session::{SignedIn, url_encode};

/// A number that may be missing, as the charts write numbers.
pub(super) fn maybe_number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), number)
}

/// A time filter as the API reads it (RFC 3339), or as a `datetime-local` field sends it (UTC).
fn instant(text: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, ErrorPage> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").map(|t| t.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").map(|t| t.and_utc()));
    parsed.map(Some).map_err(|_| {
        ErrorPage::from(vigil_core::Error::invalid(
            "invalid_query",
            format!("{text:?} is not a time for {field} (use 2026-05-01T09:00)"),
        ))
    })
}

/// A time as a `datetime-local` field shows it.
fn local_field(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    chrome: Chrome,
    rows: Vec<RunRow>,
    scenario: String,
    statuses: Vec<(&'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    since: String,
    until: String,
    next_page: Option<String>,
}

pub(super) struct RunRow {
    pub(super) run_id: String,
    pub(super) scenario_id: String,
    pub(super) scenario: String,
    pub(super) status: &'static str,
    pub(super) severity: &'static str,
    pub(super) platform: &'static str,
    pub(super) at: String,
    pub(super) credits: String,
}

impl From<&Run> for RunRow {
    fn from(run: &Run) -> Self {
        Self {
            run_id: run.run_id.clone(),
            scenario_id: run.scenario_id.clone(),
            scenario: run
                .report
                .scenario_name
                .clone()
                .unwrap_or_else(|| run.scenario_id.clone()),
            status: run.report.status.as_str(),
            severity: run.classification.severity.as_str(),
            platform: run.report.platform.label(),
            at: when(run.timestamp),
            credits: maybe_number(run.report.credits_total),
        }
    }
}

#[derive(Deserialize)]
pub struct RunsQuery {
    scenario: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

pub async fn runs(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<RunsQuery>,
) -> Result<Response, ErrorPage> {
    let scenario = query.scenario.clone().unwrap_or_default().trim().to_owned();
    let filter = RunFilter {
        scenario: (!scenario.is_empty()).then(|| scenario.clone()),
        status: word::<RunStatus>(query.status.as_deref(), "status")?,
        severity: word(query.severity.as_deref(), "severity")?,
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
    };
    let session = &signed_in.session;
    let (found, next) = console
        .automation_runs
        .list(
            &session.tenant_id,
            &filter,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    let status = query.status.unwrap_or_default();
    let severity = query.severity.unwrap_or_default();
    let (since, until) = (local_field(filter.since), local_field(filter.until));
    let next_page = next.map(|next| {
        format!(
            "/runs?scenario={}&status={}&severity={}&since={}&until={}&cursor={}",
            url_encode(&scenario),
            url_encode(&status),
            url_encode(&severity),
            url_encode(&since),
            url_encode(&until),
            url_encode(&next.encode())
        )
    });
    let page = RunsPage {
        chrome: Chrome::of(session, "runs"),
        rows: found.iter().map(RunRow::from).collect(),
        statuses: choices(RunStatus::ALL.map(RunStatus::as_str), &status),
        severities: severity_choices(&severity),
        scenario,
        since,
        until,
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    row: RunRow,
    likelihood: &'static str,
    summary: String,
    flags: Vec<&'static str>,
    actions: Vec<String>,
    /// What the platform reported, in words: (what, value).
    facts: Vec<(&'static str, String)>,
    /// Fields Vigil does not read, as sent: (name, value).
    extra: Vec<(String, String)>,
    /// Only web addresses become links.
    artifacts_link: Option<String>,
    anomaly_id: Option<String>,
}

pub async fn run(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(run_id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let run = console
        .automation_runs
        .get(&session.tenant_id, &run_id)
        .await?;
    let c = &run.classification;
    let page = RunPage {
        chrome: Chrome::of(session, "runs"),
        likelihood: c.misconfig_likelihood.as_str(),
        summary: c.risk_summary.clone(),
        flags: c.risk_flags.iter().map(|f| f.describe()).collect(),
        actions: c.recommended_actions.clone(),
        facts: facts_of(&run),
        extra: run
            .report
            .extra
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect(),
        artifacts_link: run
            .report
            .artifacts_link
            .clone()
            .filter(|link| link.starts_with("https://") || link.starts_with("http://")),
        anomaly_id: run.anomaly_id.clone(),
        row: RunRow::from(&run),
    };
    Ok(render(&page, StatusCode::OK))
}

/// The facts of a run people ask about, in the order they ask; missing ones are left out.
fn facts_of(run: &Run) -> Vec<(&'static str, String)> {
    let r = &run.report;
    let mut facts = vec![
        ("Received", when(run.received_at)),
        ("Credits used", maybe_number(r.credits_total)),
        ("Baseline credits", maybe_number(run.baseline_credits)),
    ];
    let mut add = |what: &'static str, value: Option<String>| {
        if let Some(value) = value {
            facts.push((what, value));
        }
    };
    add(
        "Against the baseline",
        run.classification
            .variance
            .map(|v| format!("{}×", number(v))),
    );
    add("Credits in", r.credits_in.map(number));
    add("Credits out", r.credits_out.map(number));
    add("Model", r.model.clone());
    add(
        "Tokens (in / out)",
        (r.input_tokens.is_some() || r.output_tokens.is_some()).then(|| {
            let count = |n: Option<u64>| n.map_or_else(|| "—".to_owned(), |n| n.to_string());
            format!("{} / {}", count(r.input_tokens), count(r.output_tokens))
        }),
    );
    add(
        "Execution time",
        r.execution_time_ms.map(|ms| format!("{ms} ms")),
    );
    add("Retries", Some(r.retry_count.to_string()));
    add(
        "Idempotency key",
        r.has_idempotency_key
            .map(|has| if has { "sent" } else { "missing" }.to_owned()),
    );
    add("Job type", r.job_type.clone());
    add(
        "Failed action",
        r.failed_action_name.clone().or(r.failed_action_id.clone()),
    );
    add("Error", r.error_message.clone());
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_number_is_a_dash() {
        assert_eq!(maybe_number(Some(9.92)), "9.92");
        assert_eq!(maybe_number(None), "—");
    }

    #[test]
    fn time_filters_take_rfc3339_or_a_datetime_local_field() {
        let at = |text: &str| instant(Some(text), "since").ok().flatten();
        let expected = DateTime::parse_from_rfc3339("2026-05-01T09:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(at("2026-05-01T09:00:00Z"), expected);
        assert_eq!(at("2026-05-01T11:00:00+02:00"), expected);
        assert_eq!(at("2026-05-01T09:00"), expected);
        assert_eq!(instant(Some(""), "since").ok().flatten(), None);
        assert!(instant(Some("yesterday"), "since").is_err());
        assert_eq!(local_field(expected), "2026-05-01T09:00");
    }
}
