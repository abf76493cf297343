//! Scenarios: the list, and one scenario's page with its baseline (set by hand by an operator,
//! through the same service and audit as `PUT /api/v1/scenarios/{id}/baseline`), its metrics
//! over a window, its failure trend, recent failures and a chart of credits per run against the
//! baseline.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::automation_runs::{BaselineSource, Run, RunFilter, Scenario};
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;

use super::fields::{Field, Problems};
use super::runs::{RunRow, maybe_number};
use super::settings::may_change;
use super::{Chrome, ErrorPage, PAGE, actor, cursor, render, when};
use crate::ConsoleState;
use crate::charts::{BarChart, Svg, number};
use crate::session::{SignedIn, url_encode};

/// The windows the metrics offer, in hours, with their names.
const WINDOWS: [(u32, &str); 3] = [(24, "24 hours"), (168, "7 days"), (720, "30 days")];
/// The window a scenario's page opens with, as the API's metrics.
const DEFAULT_WINDOW: u32 = 24;
/// Runs the chart shows: the latest ones.
const CHART_RUNS: u32 = 50;

#[derive(Template)]
#[template(path = "scenarios.html")]
struct ScenariosPage {
    chrome: Chrome,
    rows: Vec<ScenarioRow>,
    next_page: Option<String>,
}

struct ScenarioRow {
    id: String,
    name: String,
    platform: &'static str,
    baseline: String,
    source: &'static str,
    first_seen: String,
}

fn source_of(source: BaselineSource) -> &'static str {
    match source {
        BaselineSource::Auto => "learned",
        BaselineSource::Manual => "set by hand",
    }
}

impl From<&Scenario> for ScenarioRow {
    fn from(s: &Scenario) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone().unwrap_or_else(|| s.id.clone()),
            platform: s.platform.label(),
            baseline: maybe_number(s.baseline.as_ref().map(|b| b.expected_credits)),
            source: s
                .baseline
                .as_ref()
                .map_or("none yet", |b| source_of(b.source)),
            first_seen: when(s.first_seen_at),
        }
    }
}

#[derive(Deserialize)]
pub struct ScenariosQuery {
    cursor: Option<String>,
}

pub async fn scenarios(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<ScenariosQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (found, next) = console
        .automation_runs
        .list_scenarios(&session.tenant_id, PAGE, cursor(query.cursor.as_deref())?)
        .await?;
    let page = ScenariosPage {
        chrome: Chrome::of(session, "runs"),
        rows: found.iter().map(ScenarioRow::from).collect(),
        next_page: next
            .map(|next| format!("/runs/scenarios?cursor={}", url_encode(&next.encode()))),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "scenario.html")]
struct ScenarioPage {
    chrome: Chrome,
    row: ScenarioRow,
    /// The baseline and the figures learned with it: (what, value).
    baseline: Vec<(&'static str, String)>,
    can_set_baseline: bool,
    /// The baseline's field: as stored, or as sent with its problem when it was refused.
    fields: Vec<Field>,
    problems: Problems,
    /// (hours, name, chosen)
    windows: Vec<(u32, &'static str, bool)>,
    window_name: &'static str,
    metrics: Vec<(&'static str, String)>,
    trend: &'static str,
    failures: Vec<RunRow>,
    chart: Svg,
}

#[derive(Deserialize)]
pub struct ScenarioQuery {
    hours: Option<String>,
}

pub async fn scenario(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<ScenarioQuery>,
) -> Result<Response, ErrorPage> {
    let hours = match query.hours.as_deref().filter(|h| !h.is_empty()) {
        None => DEFAULT_WINDOW,
        Some(text) => text.parse().map_err(|_| {
            vigil_core::Error::invalid(
                "invalid_query",
                format!("{text:?} is not a number of hours"),
            )
        })?,
    };
    scenario_page(&console, &signed_in.session, &id, hours, None).await
}

/// The baseline's field of the page's form, with `value` in it.
fn baseline_field(value: String) -> Field {
    Field::text(
        "expected_credits",
        "Credits a healthy run uses",
        "Set by hand, it stays until someone changes it; the weekly update leaves it alone. \
         The change is recorded in the audit log.",
    )
    .with_value(value)
}

async fn scenario_page(
    console: &ConsoleState,
    session: &Session,
    id: &str,
    hours: u32,
    refused: Option<(Field, Problems)>,
) -> Result<Response, ErrorPage> {
    let runs = &console.automation_runs;
    let tenant = &session.tenant_id;
    let (scenario, _) = runs.get_scenario(tenant, id).await?;
    let metrics = runs.metrics(tenant, id, hours).await?;
    let failures = runs.failures(tenant, id, hours).await?;
    let latest = RunFilter {
        scenario: Some(id.to_owned()),
        ..RunFilter::default()
    };
    let (mut recent, _) = runs.list(tenant, &latest, CHART_RUNS, None).await?;
    recent.reverse();
    let expected = scenario.baseline.as_ref().map(|b| b.expected_credits);
    let (field, problems) = refused.unwrap_or_else(|| {
        let stored = expected.map(number).unwrap_or_default();
        (baseline_field(stored), Problems::default())
    });
    let status = problems.status.unwrap_or(StatusCode::OK);
    let page = ScenarioPage {
        chrome: Chrome::of(session, "runs"),
        baseline: baseline_facts(&scenario),
        can_set_baseline: session.role.at_least(Role::Operator),
        fields: vec![field],
        problems,
        windows: WINDOWS
            .iter()
            .map(|(h, name)| (*h, *name, *h == hours))
            .collect(),
        window_name: WINDOWS
            .iter()
            .find(|(h, _)| *h == hours)
            .map_or("the window", |(_, name)| *name),
        metrics: vec![
            ("Runs", metrics.total.to_string()),
            ("Failed", metrics.failed.to_string()),
            (
                "Failure rate",
                format!("{:.1}%", metrics.failure_rate * 100.0),
            ),
            ("Credits used", number(metrics.credits_total)),
            ("Credits per run", maybe_number(metrics.credits_per_run)),
            ("Average time", ms(metrics.avg_execution_ms)),
            ("95th percentile time", ms(metrics.p95_execution_ms)),
        ],
        trend: metrics.failure_trend.as_str(),
        failures: failures.iter().map(RunRow::from).collect(),
        chart: credits_chart(
            scenario.name.as_deref().unwrap_or(&scenario.id),
            &recent,
            expected,
        ),
        row: ScenarioRow::from(&scenario),
    };
    Ok(render(&page, status))
}

/// `text` as one segment of a path (a space is `%20` there, not `+`).
fn segment(text: &str) -> String {
    url_encode(text).replace('+', "%20")
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{} ms", number(v)))
}

fn baseline_facts(scenario: &Scenario) -> Vec<(&'static str, String)> {
    let Some(b) = &scenario.baseline else {
        return Vec::new();
    };
    let mut facts = vec![
        ("Credits per run", number(b.expected_credits)),
        ("Source", source_of(b.source).to_owned()),
        ("Since", when(b.updated_at)),
    ];
    if b.source == BaselineSource::Auto {
        facts.push(("Learned from", format!("{} runs", b.sample_size)));
        if let Some(cv) = b.coefficient_of_variation {
            facts.push(("Spread", format!("{:.0}%", cv * 100.0)));
        }
    }
    if let Some(stats) = &scenario.stats {
        facts.push(("99th percentile credits", maybe_number(stats.credits_p99)));
    }
    facts
}

/// Credits of the latest runs (oldest first, those that reported credits) against the baseline.
fn credits_chart(name: &str, runs: &[Run], baseline: Option<f64>) -> Svg {
    let bars: Vec<(String, f64)> = runs
        .iter()
        .filter_map(|r| {
            let label = r.timestamp.format("%m-%d %H:%M").to_string();
            r.report.credits_total.map(|credits| (label, credits))
        })
        .collect();
    // The figure's caption adds the baseline's value.
    let against = if baseline.is_some() {
        "against its baseline"
    } else {
        "no baseline yet"
    };
    let title = format!(
        "Credits used by each of the last {} runs of {name}, {against}",
        bars.len()
    );
    BarChart::new(title, bars)
        .with_baseline(baseline)
        .with_unit(" credits")
        .draw()
}

#[derive(Deserialize)]
pub struct BaselineForm {
    csrf: Option<String>,
    expected_credits: String,
}

pub async fn set_baseline(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<BaselineForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Operator)?;
    let mut fields = [baseline_field(form.expected_credits.clone())];
    let Ok(credits) = form.expected_credits.trim().parse::<f64>() else {
        let message = "expected_credits: enter the credits a healthy run uses, e.g. 250";
        let problems = Problems::at(&mut fields, "expected_credits", message);
        let [field] = fields;
        return scenario_page(
            &console,
            session,
            &id,
            DEFAULT_WINDOW,
            Some((field, problems)),
        )
        .await;
    };
    let saved = console
        .automation_runs
        .set_baseline(&session.tenant_id, &id, credits, &actor(session))
        .await;
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/runs/scenarios/{}", segment(&id))).into_response()),
        Err(error) => {
            let problems = Problems::place(error, &mut fields)?;
            let [field] = fields;
            scenario_page(
                &console,
                session,
                &id,
                DEFAULT_WINDOW,
                Some((field, problems)),
            )
            .await
        }
    }
}
