//! Workflows: the list (each with its switch, success rate and last run) and the templates
//! gallery. Turning a workflow on or off is the engine's (it cancels what a disabled workflow
//! left waiting), for admins, as through the API.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;
use vigil_core::workflows::run::status_word;
use vigil_core::workflows::templates;

use super::{Chrome, ErrorPage, PAGE, actor, csrf_ok, cursor, forbidden, render, when};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

/// The days the success rate is taken over.
const RATE_DAYS: u32 = 30;

#[derive(Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    chrome: Chrome,
    rows: Vec<WorkflowRow>,
    can_edit: bool,
    next_page: Option<String>,
}

struct WorkflowRow {
    id: String,
    name: String,
    enabled: bool,
    success_rate: String,
    last_run: Option<(String, String, &'static str)>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
}

pub async fn workflows(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<PageQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let tenant = &session.tenant_id;
    let (items, next) = console
        .engine
        .workflows()
        .list(tenant, PAGE, cursor(query.cursor.as_deref())?)
        .await?;
    let rates: BTreeMap<String, Option<f64>> = console
        .engine
        .analytics(tenant, RATE_DAYS)
        .await?
        .workflows
        .into_iter()
        .map(|w| (w.workflow_id, w.figures.success_rate))
        .collect();
    let mut rows = Vec::with_capacity(items.len());
    for workflow in items {
        let (last, _) = console
            .engine
            .list_runs(tenant, &workflow.id, None, None, 1, None)
            .await?;
        rows.push(WorkflowRow {
            success_rate: match rates.get(&workflow.id).copied().flatten() {
                Some(rate) => format!("{:.0}%", rate * 100.0),
                None => "no decided runs".to_owned(),
            },
            last_run: last
                .first()
                .map(|r| (r.run_id.clone(), when(r.started_at), status_word(r.status))),
            id: workflow.id,
            name: workflow.spec.name,
            enabled: workflow.spec.enabled,
        });
    }
    let page = WorkflowsPage {
        chrome: Chrome::of(session, "workflows"),
        rows,
        can_edit: session.role.at_least(Role::Admin),
        next_page: next.map(|c| format!("/workflows?cursor={}", url_encode(&c.encode()))),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct ToggleForm {
    csrf: Option<String>,
    enabled: Option<String>,
}

pub async fn toggle_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ToggleForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let who_may = "Only admins turn workflows on or off.";
    if let Some(refused) = refusal(session, form.csrf.as_deref(), Role::Admin, who_may) {
        return Ok(refused);
    }
    let enabled = match form.enabled.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    console
        .engine
        .set_enabled(&session.tenant_id, &id, enabled, &actor(session))
        .await?;
    Ok(Redirect::to("/workflows").into_response())
}

/// Why a posted change is refused: a form without the session's CSRF token, or a role below the
/// one the API asks for (`who_may` says which); none when it may be made.
pub(super) fn refusal(
    session: &Session,
    csrf: Option<&str>,
    needed: Role,
    who_may: &str,
) -> Option<Response> {
    if !csrf_ok(session, csrf) {
        return Some(forbidden(
            "This form has expired; reload the page and try again.",
        ));
    }
    (!session.role.at_least(needed)).then(|| forbidden(who_may))
}

#[derive(Template)]
#[template(path = "workflow_templates.html")]
struct TemplatesPage {
    chrome: Chrome,
    can_edit: bool,
    templates: Vec<TemplateCard>,
}

struct TemplateCard {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    steps: Vec<(usize, String)>,
    triggers: Vec<String>,
}

pub async fn workflow_templates(signed_in: SignedIn) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let mut cards = Vec::new();
    for template in templates::all() {
        let spec = vigil_core::workflows::definition::parse_workflow(&template.workflow)
            .map_err(|refusal| refusal.into_error("invalid_workflow"))?
            .spec;
        let mut steps = Vec::new();
        super::workflow_words::step_lines(&spec.steps, 0, &mut steps);
        cards.push(TemplateCard {
            id: template.id,
            name: template.name,
            description: template.description,
            triggers: spec
                .triggers
                .iter()
                .map(super::workflow_words::trigger_words)
                .collect(),
            steps,
        });
    }
    let page = TemplatesPage {
        chrome: Chrome::of(session, "workflows"),
        can_edit: session.role.at_least(Role::Admin),
        templates: cards,
    };
    Ok(render(&page, StatusCode::OK))
}
