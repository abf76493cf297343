//! The workflow builder: the whole draft is one form, each button posts it and gets it back
//! changed (no script needed), and "Save" creates or updates the workflow through the workflow
//! service, which validates it as it validates an API body; each problem it finds is shown at
//! its field with the values as entered. Admins build; others see a workflow's form read-only.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::error::FieldProblem;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;
use vigil_core::workflows::templates;

use super::workflows::refusal;
use super::{Chrome, ErrorPage, actor, forbidden, render};
use crate::ConsoleState;
use crate::builder::{BuilderView, Draft, Op, catalogue};
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "workflow_builder.html")]
struct BuilderPage {
    chrome: Chrome,
    heading: String,
    /// Where the form posts: `/workflows/new` or `/workflows/{id}/edit`.
    action: String,
    back: String,
    view: BuilderView,
    /// Read-only: the caller may not change workflows.
    locked: bool,
}

fn builder_page(
    console: &ConsoleState,
    session: &Session,
    workflow_id: Option<&str>,
    draft: &Draft,
    problems: &[FieldProblem],
    status: StatusCode,
) -> Response {
    let (heading, action, back) = match workflow_id {
        None => (
            "New workflow".to_owned(),
            "/workflows/new".to_owned(),
            "/workflows".to_owned(),
        ),
        Some(id) => (
            format!("Edit {}", draft.name),
            format!("/workflows/{id}/edit"),
            format!("/workflows/{id}"),
        ),
    };
    let page = BuilderPage {
        chrome: Chrome::of(session, "workflows"),
        heading,
        action,
        back,
        view: BuilderView::of(draft, catalogue(), problems, console.engine.clock().now()),
        locked: !session.role.at_least(Role::Admin),
    };
    render(&page, status)
}

#[derive(Deserialize)]
pub struct NewQuery {
    template: Option<String>,
}

/// A blank builder, or one filled from a template of the gallery.
pub async fn new_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<NewQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    if !session.role.at_least(Role::Admin) {
        return Ok(forbidden("Only admins create workflows."));
    }
    let draft = match query.template.as_deref().filter(|t| !t.is_empty()) {
        None => Draft::default(),
        Some(id) => templates::all()
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| Draft::from_body(&t.workflow))
            .ok_or_else(|| vigil_core::Error::NotFound("workflow template".into()))?,
    };
    Ok(builder_page(
        &console,
        session,
        None,
        &draft,
        &[],
        StatusCode::OK,
    ))
}

/// A stored workflow in the builder (as the caller may see it: URLs masked below admin).
pub async fn edit_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (workflow, _) = console
        .engine
        .workflows()
        .get(&session.tenant_id, &id)
        .await?;
    let workflow = workflow.as_seen_by(session.role);
    let body = serde_json::to_value(&workflow.spec)
        .map_err(|e| vigil_core::Error::Internal(e.to_string()))?;
    Ok(builder_page(
        &console,
        session,
        Some(&id),
        &Draft::from_body(&body),
        &[],
        StatusCode::OK,
    ))
}

pub async fn post_new_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ErrorPage> {
    build(&console, &signed_in.session, None, &pairs).await
}

pub async fn post_edit_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ErrorPage> {
    build(&console, &signed_in.session, Some(&id), &pairs).await
}

/// One button of the builder: the draft changed and shown again, or saved.
async fn build(
    console: &ConsoleState,
    session: &Session,
    workflow_id: Option<&str>,
    pairs: &[(String, String)],
) -> Result<Response, ErrorPage> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let who_may = "Only admins create or change workflows.";
    if let Some(refused) = refusal(session, field("csrf"), Role::Admin, who_may) {
        return Ok(refused);
    }
    let op = field("op").and_then(Op::parse).ok_or_else(|| {
        vigil_core::Error::invalid("invalid_form", "the builder does not know that button")
    })?;
    let mut draft = Draft::from_form(pairs);
    if op != Op::Save {
        draft.apply(&op);
        return Ok(builder_page(
            console,
            session,
            workflow_id,
            &draft,
            &[],
            StatusCode::OK,
        ));
    }
    let body = draft.to_body(catalogue());
    let service = console.engine.workflows();
    let who = actor(session);
    let saved = match workflow_id {
        None => service.create(&session.tenant_id, &body, &who).await,
        Some(id) => service.update(&session.tenant_id, id, &body, &who).await,
    };
    match saved {
        Ok(workflow) => Ok(Redirect::to(&format!("/workflows/{}", workflow.id)).into_response()),
        Err(vigil_core::Error::InvalidFields { problems, .. }) => Ok(builder_page(
            console,
            session,
            workflow_id,
            &draft,
            &problems,
            StatusCode::BAD_REQUEST,
        )),
        Err(vigil_core::Error::UnprocessableFields { problems, .. }) => Ok(builder_page(
            console,
            session,
            workflow_id,
            &draft,
            &problems,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(other) => Err(other.into()),
    }
}
