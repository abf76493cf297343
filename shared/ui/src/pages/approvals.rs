//! Approvals: the requests waiting for a person, oldest first, approved or rejected with a
//! reason from any screen down to a phone's, each with what its run would do once approved. Who may decide is the engine's rule (each request
//! names its approvers' role), the same as through the API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use vigil_core::workflows::engine::Decision;
use vigil_core::workflows::run::ApprovalStatus;

use super::workflow_words::trace_words;
use super::{Chrome, ErrorPage, PAGE, actor, csrf_ok, cursor, forbidden, next_page, render, when};
use crate::ConsoleState;
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    rows: Vec<ApprovalRow>,
    next_page: Option<String>,
}

struct ApprovalRow {
    run_id: String,
    workflow_id: String,
    workflow_name: String,
    subject: String,
    step: String,
    approvers: &'static str,
    requested_at: String,
    expires_at: String,
    /// Whether this caller's role may decide it.
    can_decide: bool,
    /// What the run would do once approved, in words.
    next_steps: Vec<String>,
}

#[derive(Deserialize)]
pub struct ApprovalsQuery {
    cursor: Option<String>,
}

pub async fn approvals(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<ApprovalsQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (items, next) = console
        .engine
        .approvals(
            &session.tenant_id,
            ApprovalStatus::Pending,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    // Each card reads its run and workflow version; a few at a time keeps a full page quick on
    // a remote store without flooding it.
    let runs: Vec<String> = items.iter().map(|a| a.run_id.clone()).collect();
    let afters: Vec<_> = futures_util::stream::iter(runs)
        .map(|run_id| {
            let (engine, tenant) = (console.engine.clone(), session.tenant_id.clone());
            async move { engine.steps_after(&tenant, &run_id).await }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut rows = Vec::with_capacity(items.len());
    for (a, after) in items.into_iter().zip(afters) {
        let next_steps = after.trace.steps.iter().map(trace_words).collect();
        rows.push(ApprovalRow {
            can_decide: session.role.at_least(a.approvers),
            run_id: a.run_id,
            workflow_id: a.workflow_id,
            workflow_name: after.workflow_name,
            subject: a.subject,
            step: a.step,
            approvers: a.approvers.as_str(),
            requested_at: when(a.requested_at),
            expires_at: when(a.expires_at),
            next_steps,
        });
    }
    let page = ApprovalsPage {
        chrome: Chrome::of(session, "approvals"),
        rows,
        next_page: next.map(|c| next_page("/approvals", &[], &c)),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    reason: Option<String>,
}

pub async fn decide_approval(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path((run_id, decision)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    if !csrf_ok(session, form.csrf.as_deref()) {
        return Ok(forbidden(
            "This form has expired; reload the page and try again.",
        ));
    }
    let decision = match decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return Err(vigil_core::Error::NotFound("decision".into()).into()),
    };
    let reason = form.reason.filter(|r| !r.trim().is_empty());
    if decision == Decision::Reject && reason.is_none() {
        return Err(vigil_core::Error::invalid("reason_required", "say why you reject it").into());
    }
    console
        .engine
        .decide(
            &session.tenant_id,
            &run_id,
            decision,
            &actor(session),
            session.role,
            reason,
        )
        .await?;
    Ok(Redirect::to("/approvals").into_response())
}
