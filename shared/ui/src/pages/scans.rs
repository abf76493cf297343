//! Health scans: the tenant's scan schedule (admin, as `PUT /api/v1/scan-schedule`; each problem
//! shown at its field with the values kept), a scan on demand (operator, as
//! `POST /api/v1/scan-schedule/run-now`), past scans with summary cards, and one scan's
//! scenarios with the findings behind each score.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use vigil_core::automation_runs::scans::{ALERT_BELOW, Scan, ScanTrigger};
use vigil_core::automation_runs::schedule::{
    ScanFrequency, ScanSchedule, ScanScheduleInput, ScanScope,
};
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;

use super::fields::{Field, Problems};
use super::settings::may_change;
use super::{Chrome, ErrorPage, PAGE, actor, choices, cursor, render, when, word};
use crate::ConsoleState;
use crate::charts::number;
use crate::session::{SignedIn, url_encode};

#[derive(Template)]
#[template(path = "scans.html")]
struct ScansPage {
    chrome: Chrome,
    /// Admins edit the schedule; operators may scan now; viewers only read.
    can_edit: bool,
    can_run: bool,
    form: ScheduleForm,
    /// What was wrong with a schedule sent back.
    problems: Problems,
    /// The schedule in words, or that there is none.
    schedule_note: String,
    latest: Option<ScanRow>,
    rows: Vec<ScanRow>,
    next_page: Option<String>,
}

/// The schedule form: the values shown (as stored, or as sent when refused), each problem at
/// its field.
struct ScheduleForm {
    enabled: bool,
    /// (word, words, chosen)
    frequencies: Vec<(&'static str, &'static str, bool)>,
    scopes: Vec<(&'static str, bool)>,
    /// The time of day, the timezone and the selected scenarios.
    fields: Vec<Field>,
}

impl ScheduleForm {
    fn of(input: &ScanScheduleInput) -> Self {
        let time = Field {
            input_type: "time",
            ..Field::text(
                "preferred_time",
                "At (local time)",
                "The time of day of the first scan, on the timezone's clock.",
            )
        };
        Self {
            enabled: input.enabled,
            frequencies: ScanFrequency::ALL
                .iter()
                .map(|f| (f.as_str(), f.describe(), *f == input.frequency))
                .collect(),
            scopes: choices(ScanScope::ALL.map(ScanScope::as_str), input.scope.as_str()),
            fields: vec![
                time.with_value(&input.preferred_time),
                Field::text(
                    "timezone",
                    "Timezone",
                    "An IANA name, such as Europe/Berlin or America/Chicago.",
                )
                .with_value(&input.timezone),
                Field::lines(
                    "scenario_ids",
                    "Scenario ids",
                    "For the “selected” scope: one a line.",
                )
                .with_value(input.scenario_ids.join("\n")),
            ],
        }
    }
}

pub(super) struct ScanRow {
    id: String,
    /// The scan's page (a scan is found by its id and the time it was for).
    href: String,
    at: String,
    trigger: &'static str,
    scope: &'static str,
    scanned: u32,
    average: String,
    below: u32,
}

impl From<&Scan> for ScanRow {
    fn from(scan: &Scan) -> Self {
        let at = scan
            .scheduled_for
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        Self {
            href: format!("/scans/{}?at={}", url_encode(&scan.id), url_encode(&at)),
            id: scan.id.clone(),
            at: when(scan.scheduled_for),
            trigger: match scan.trigger {
                ScanTrigger::Scheduled => "scheduled",
                ScanTrigger::Manual => "run by hand",
            },
            scope: scan.scope.as_str(),
            scanned: scan.scenarios_scanned,
            average: scan.average_score.map_or_else(|| "—".to_owned(), number),
            below: scan.below_threshold,
        }
    }
}

/// The schedule in words: when it scans next, in its own timezone and in UTC.
fn describe(schedule: &ScanSchedule) -> String {
    let s = &schedule.settings;
    let cadence = format!(
        "Scans {} scenarios {} at {} {}",
        s.scope.as_str(),
        s.frequency.describe(),
        s.preferred_time,
        s.timezone
    );
    match schedule.next_scan_at {
        None => format!("{cadence}, but the schedule is off."),
        Some(next) => {
            let local = schedule
                .next_scan_local()
                .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            format!(
                "{cadence}. Next scan: {local} {} ({}).",
                s.timezone,
                when(next)
            )
        }
    }
}

#[derive(Deserialize)]
pub struct ScansQuery {
    cursor: Option<String>,
}

pub async fn scans(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<ScansQuery>,
) -> Result<Response, ErrorPage> {
    let cursor = cursor(query.cursor.as_deref())?;
    let refused = (None, Problems::default());
    scans_page(&console, &signed_in.session, refused, cursor).await
}

/// The scans page; `refused` is a schedule form that was sent back, with its problems.
async fn scans_page(
    console: &ConsoleState,
    session: &Session,
    (refused, problems): (Option<ScheduleForm>, Problems),
    cursor: Option<vigil_core::ports::Cursor>,
) -> Result<Response, ErrorPage> {
    let runs = &console.automation_runs;
    let stored = match runs.scan_schedule(&session.tenant_id).await {
        Ok((schedule, _)) => Some(schedule),
        Err(vigil_core::Error::NotFound(_)) => None,
        Err(other) => return Err(other.into()),
    };
    let schedule_note = stored.as_ref().map_or_else(
        || "No schedule yet: scenarios are scanned only when someone runs a scan.".to_owned(),
        describe,
    );
    let form = refused.unwrap_or_else(|| {
        ScheduleForm::of(
            stored
                .as_ref()
                .map_or(&ScanScheduleInput::default(), |s| &s.settings),
        )
    });
    let is_first_page = cursor.is_none();
    let (found, next) = runs.list_scans(&session.tenant_id, PAGE, cursor).await?;
    let rows: Vec<ScanRow> = found.iter().map(ScanRow::from).collect();
    let status = problems.status.unwrap_or(StatusCode::OK);
    let page = ScansPage {
        chrome: Chrome::of(session, "scans"),
        can_edit: session.role.at_least(Role::Admin),
        can_run: session.role.at_least(Role::Operator),
        form,
        problems,
        schedule_note,
        latest: found.first().filter(|_| is_first_page).map(ScanRow::from),
        rows,
        next_page: next.map(|next| format!("/scans?cursor={}", url_encode(&next.encode()))),
    };
    Ok(render(&page, status))
}

#[derive(Deserialize)]
pub struct ScheduleSent {
    csrf: Option<String>,
    enabled: Option<String>,
    frequency: String,
    preferred_time: String,
    timezone: String,
    scope: String,
    #[serde(default)]
    scenario_ids: String,
}

pub async fn save_schedule(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(sent): Form<ScheduleSent>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, sent.csrf.as_deref(), Role::Admin)?;
    let input = ScanScheduleInput {
        enabled: sent.enabled.is_some(),
        frequency: word(Some(&sent.frequency), "frequency")?.unwrap_or_default(),
        preferred_time: sent.preferred_time.trim().to_owned(),
        timezone: sent.timezone.trim().to_owned(),
        scope: word(Some(&sent.scope), "scope")?.unwrap_or_default(),
        scenario_ids: sent
            .scenario_ids
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let saved = console
        .automation_runs
        .set_scan_schedule(&session.tenant_id, input.clone(), &actor(session))
        .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/scans").into_response()),
        Err(error) => {
            let mut form = ScheduleForm::of(&input);
            let problems = Problems::place(error, &mut form.fields)?;
            scans_page(&console, session, (Some(form), problems), None).await
        }
    }
}

pub async fn run_scan_now(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Operator)?;
    console.automation_runs.scan_now(&session.tenant_id).await?;
    Ok(Redirect::to("/scans").into_response())
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage {
    chrome: Chrome,
    row: ScanRow,
    alert_below: u8,
    results: Vec<ScoreRow>,
    truncated: bool,
}

struct ScoreRow {
    scenario_id: String,
    name: String,
    score: u8,
    low: bool,
    findings: Vec<String>,
    anomaly_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ScanQuery {
    at: Option<String>,
}

pub async fn scan(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<ScanQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let at = query
        .at
        .as_deref()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .ok_or_else(|| vigil_core::Error::NotFound("scan".into()))?
        .with_timezone(&Utc);
    let scan = console
        .automation_runs
        .get_scan(&session.tenant_id, &id, at)
        .await?;
    let page = ScanPage {
        chrome: Chrome::of(session, "scans"),
        alert_below: ALERT_BELOW,
        results: scan
            .results
            .iter()
            .map(|r| ScoreRow {
                scenario_id: r.scenario_id.clone(),
                name: r.name.clone().unwrap_or_else(|| r.scenario_id.clone()),
                score: r.score,
                low: r.score < ALERT_BELOW,
                findings: r.findings.iter().map(|f| f.message.clone()).collect(),
                anomaly_id: r.anomaly_id.clone(),
            })
            .collect(),
        truncated: scan.results_truncated,
        row: ScanRow::from(&scan),
    };
    Ok(render(&page, StatusCode::OK))
}
