//! Anomalies: the list with its filters, and one anomaly with its evidence, window and history,
//! moved through its lifecycle (acknowledge, resolve, reopen) with a note.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::anomaly::{Anomaly, AnomalyFilter, AnomalyStatus};
use vigil_core::tenancy::Role;
use vigil_core::tenancy::audit::Actor;

use super::{
    Chrome, ErrorPage, PAGE, actor, choices, csrf_ok, cursor, forbidden, next_page, render,
    severity_choices, when, word,
};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

/// The lifecycle's states, as the filter offers them.
const STATUSES: [AnomalyStatus; 3] = [
    AnomalyStatus::Open,
    AnomalyStatus::Acknowledged,
    AnomalyStatus::Resolved,
];

#[derive(Template)]
#[template(path = "anomalies.html")]
struct AnomaliesPage {
    chrome: Chrome,
    rows: Vec<AnomalyRow>,
    statuses: Vec<(&'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    demo_only: bool,
    /// The rule filtered on, as typed.
    rule: String,
    next_page: Option<String>,
}

struct AnomalyRow {
    id: String,
    title: String,
    rule: String,
    severity: &'static str,
    status: &'static str,
    detected_at: String,
    demo: bool,
}

impl From<&Anomaly> for AnomalyRow {
    fn from(a: &Anomaly) -> Self {
        Self {
            id: a.id.clone(),
            title: a.title.clone(),
            rule: a.rule.clone(),
            severity: a.severity.as_str(),
            status: a.status.as_str(),
            detected_at: when(a.detected_at),
            demo: a.demo,
        }
    }
}

#[derive(Deserialize)]
pub struct AnomaliesQuery {
    status: Option<String>,
    severity: Option<String>,
    demo_only: Option<String>,
    rule: Option<String>,
    cursor: Option<String>,
}

pub async fn anomalies(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<AnomaliesQuery>,
) -> Result<Response, ErrorPage> {
    let demo_only = query
        .demo_only
        .as_deref()
        .is_some_and(|v| v == "true" || v == "on");
    let rule = query.rule.as_deref().unwrap_or_default().trim().to_owned();
    let filter = AnomalyFilter {
        status: word(query.status.as_deref(), "status")?,
        severity: word(query.severity.as_deref(), "severity")?,
        rule: (!rule.is_empty()).then(|| rule.clone()),
        demo_only,
        ..AnomalyFilter::default()
    };
    let session = &signed_in.session;
    let (items, next) = console
        .anomalies
        .list(
            &session.tenant_id,
            &filter,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    let status = query.status.unwrap_or_default();
    let severity = query.severity.unwrap_or_default();
    let demo = if demo_only { "true" } else { "" };
    let filters = [
        ("status", status.as_str()),
        ("severity", severity.as_str()),
        ("rule", rule.as_str()),
        ("demo_only", demo),
    ];
    let next_page = next.map(|next| next_page("/anomalies", &filters, &next));
    let page = AnomaliesPage {
        chrome: Chrome::of(session, "anomalies"),
        rows: items.iter().map(AnomalyRow::from).collect(),
        statuses: choices(STATUSES.map(AnomalyStatus::as_str), &status),
        severities: severity_choices(&severity),
        demo_only,
        rule,
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "anomaly.html")]
struct AnomalyPage {
    chrome: Chrome,
    row: AnomalyRow,
    subject: String,
    window: String,
    evidence: String,
    /// (when, from, to, who, note)
    history: Vec<(String, String, String, String, String)>,
    /// The moves this caller may make from here: (status, button label).
    moves: Vec<(&'static str, &'static str)>,
}

pub async fn anomaly(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (anomaly, _) = console.anomalies.get(&session.tenant_id, &id).await?;
    let moves = if session.role.at_least(Role::Operator) {
        [
            (AnomalyStatus::Acknowledged, "Acknowledge"),
            (AnomalyStatus::Resolved, "Resolve"),
            (AnomalyStatus::Open, "Reopen"),
        ]
        .into_iter()
        .filter(|(next, _)| anomaly.status.can_become(*next))
        .map(|(next, label)| (next.as_str(), label))
        .collect()
    } else {
        Vec::new()
    };
    let history = anomaly
        .history
        .iter()
        .map(|t| {
            let who = match &t.actor {
                Actor::ApiKey { key_id } => format!("key {key_id}"),
                Actor::Cli => "the CLI".to_owned(),
                Actor::System => "Vigil".to_owned(),
            };
            (
                when(t.at),
                t.from.as_str().to_owned(),
                t.to.as_str().to_owned(),
                who,
                t.note.clone().unwrap_or_default(),
            )
        })
        .collect();
    let page = AnomalyPage {
        chrome: Chrome::of(session, "anomalies"),
        subject: anomaly.subject.clone(),
        window: format!(
            "{} to {}",
            when(anomaly.window_start),
            when(anomaly.window_end)
        ),
        evidence: serde_json::to_string_pretty(&anomaly.evidence).unwrap_or_default(),
        history,
        moves,
        row: AnomalyRow::from(&anomaly),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct AnomalyChange {
    csrf: Option<String>,
    status: String,
    note: Option<String>,
}

pub async fn change_anomaly(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<AnomalyChange>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    if !csrf_ok(session, form.csrf.as_deref()) {
        return Ok(forbidden(
            "This form has expired; reload the page and try again.",
        ));
    }
    session.principal().require(Role::Operator)?;
    let next: AnomalyStatus = word(Some(&form.status), "status")?
        .ok_or_else(|| vigil_core::Error::invalid("invalid_status", "choose a status"))?;
    let note = form.note.filter(|n| !n.trim().is_empty());
    console
        .anomalies
        .transition(&session.tenant_id, &id, next, note, &actor(session))
        .await?;
    Ok(Redirect::to(&format!("/anomalies/{}", url_encode(&id))).into_response())
}
