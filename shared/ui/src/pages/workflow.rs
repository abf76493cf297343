//! One workflow: its definition in words, test mode (the step-by-step trace of a run, nothing
//! written; operators and above, as through the API), its runs newest first; and one run with
//! the timeline of its steps, retried from the failed step by operators.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;
use vigil_core::workflows::Workflow;
use vigil_core::workflows::run::{StepOutcome, WorkflowRun, status_word};
use vigil_core::workflows::run_status::RunStatus;

use super::workflow_words::{step_lines, trace_path, trace_words, trigger_words};
use super::workflows::refusal;
use super::{Chrome, CsrfForm, ErrorPage, PAGE, actor, choices, cursor, render, when, word};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

const STATUSES: [RunStatus; 8] = [
    RunStatus::Running,
    RunStatus::Waiting,
    RunStatus::AwaitingApproval,
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Skipped,
    RunStatus::Cancelled,
    RunStatus::Rejected,
];

#[derive(Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    chrome: Chrome,
    id: String,
    name: String,
    description: String,
    enabled: bool,
    version: u32,
    updated_at: String,
    triggers: Vec<String>,
    steps: Vec<(usize, String)>,
    can_edit: bool,
    can_test: bool,
    test: TestForm,
    runs: Vec<RunRow>,
    statuses: Vec<(&'static str, bool)>,
    next_page: Option<String>,
}

/// Test mode's form, and its trace once run.
#[derive(Default)]
struct TestForm {
    subject: String,
    trigger: String,
    problem: Option<String>,
    trace: Option<Vec<(String, String)>>,
    finishes_at: String,
}

struct RunRow {
    run_id: String,
    subject: String,
    status: &'static str,
    started_at: String,
    finished_at: String,
}

#[derive(Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
    cursor: Option<String>,
}

async fn workflow_page(
    console: &ConsoleState,
    session: &Session,
    id: &str,
    query: &RunsQuery,
    test: TestForm,
) -> Result<WorkflowPage, ErrorPage> {
    let tenant = &session.tenant_id;
    let (workflow, _) = console.engine.workflows().get(tenant, id).await?;
    let Workflow {
        id,
        version,
        spec,
        updated_at,
        ..
    } = workflow.as_seen_by(session.role);
    let status: Option<RunStatus> = word(query.status.as_deref(), "run status")?;
    let (runs, next) = console
        .engine
        .list_runs(
            tenant,
            &id,
            status,
            None,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    let mut steps = Vec::new();
    step_lines(&spec.steps, 0, &mut steps);
    if spec.requires_approval {
        steps.insert(
            0,
            (0, "Wait for an approval by operator or above".to_owned()),
        );
    }
    let chosen = status.map(status_word).unwrap_or_default();
    let next_page = next.map(|c| {
        format!(
            "/workflows/{id}?status={chosen}&cursor={}",
            url_encode(&c.encode())
        )
    });
    Ok(WorkflowPage {
        chrome: Chrome::of(session, "workflows"),
        name: spec.name,
        description: spec.description,
        enabled: spec.enabled,
        version,
        updated_at: when(updated_at),
        triggers: spec.triggers.iter().map(trigger_words).collect(),
        steps,
        can_edit: session.role.at_least(Role::Admin),
        can_test: session.role.at_least(Role::Operator),
        test,
        runs: runs.iter().map(run_row).collect(),
        statuses: choices(STATUSES.map(status_word), chosen),
        next_page,
        id,
    })
}

fn run_row(run: &WorkflowRun) -> RunRow {
    RunRow {
        run_id: run.run_id.clone(),
        subject: run.subject.clone(),
        status: status_word(run.status),
        started_at: when(run.started_at),
        finished_at: run.finished_at.map(when).unwrap_or_default(),
    }
}

pub async fn workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<Response, ErrorPage> {
    let test = TestForm {
        trigger: "{}".into(),
        ..TestForm::default()
    };
    let page = workflow_page(&console, &signed_in.session, &id, &query, test).await?;
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct TestRunForm {
    csrf: Option<String>,
    subject: Option<String>,
    trigger: Option<String>,
}

/// Test mode: the trace shown on the workflow's page; nothing is written.
pub async fn test_workflow(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<TestRunForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let who_may = "Test mode is for operators and admins.";
    if let Some(refused) = refusal(session, form.csrf.as_deref(), Role::Operator, who_may) {
        return Ok(refused);
    }
    let mut test = TestForm {
        subject: form.subject.unwrap_or_default().trim().to_owned(),
        trigger: form.trigger.unwrap_or_default(),
        ..TestForm::default()
    };
    let trigger = match test.trigger.trim() {
        "" => Ok(Value::Null),
        text => serde_json::from_str::<Value>(text).map_err(|e| format!("is not JSON: {e}")),
    };
    let outcome = match (test.subject.is_empty(), trigger) {
        (true, _) => Err("say which client the run would be about".to_owned()),
        (false, Err(problem)) => Err(problem),
        (false, Ok(trigger)) => {
            let tested = console
                .engine
                .workflows()
                .test(
                    &session.tenant_id,
                    &id,
                    &test.subject,
                    &trigger,
                    console.engine.clients(),
                )
                .await;
            match tested {
                Ok((_, trace)) => Ok(trace),
                Err(vigil_core::Error::Invalid { message, .. }) => Err(message),
                Err(other) => return Err(other.into()),
            }
        }
    };
    let status = match outcome {
        Ok(trace) => {
            test.finishes_at = when(trace.finishes_at);
            test.trace = Some(
                trace
                    .steps
                    .iter()
                    .map(|s| (trace_path(s).to_owned(), trace_words(s)))
                    .collect(),
            );
            StatusCode::OK
        }
        Err(problem) => {
            test.problem = Some(problem);
            StatusCode::BAD_REQUEST
        }
    };
    let query = RunsQuery {
        status: None,
        cursor: None,
    };
    let page = workflow_page(&console, session, &id, &query, test).await?;
    Ok(render(&page, status))
}

#[derive(Template)]
#[template(path = "workflow_run.html")]
struct RunPage {
    chrome: Chrome,
    run: RunRow,
    workflow_id: String,
    workflow_name: String,
    version: u32,
    error: String,
    reason: String,
    timeline: Vec<TimelineRow>,
    can_retry: bool,
}

struct TimelineRow {
    at: String,
    path: String,
    kind: String,
    outcome: &'static str,
    failed: bool,
    attempts: u32,
    error: String,
    detail: String,
}

fn outcome_word(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Done => "done",
        StepOutcome::Failed => "failed",
        StepOutcome::FailedContinued => "failed, went on",
        StepOutcome::Then => "condition held: then",
        StepOutcome::Else => "condition did not hold: else",
        StepOutcome::Delayed => "waited",
        StepOutcome::Approved => "approved",
        StepOutcome::Rejected => "rejected",
        StepOutcome::TimedOut => "timed out",
    }
}

pub async fn workflow_run(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(run_id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let run = console.engine.get_run(&session.tenant_id, &run_id).await?;
    let timeline = run
        .steps
        .iter()
        .map(|step| TimelineRow {
            at: when(step.at),
            path: step.path.clone(),
            kind: step.kind.clone(),
            outcome: outcome_word(step.outcome),
            failed: matches!(
                step.outcome,
                StepOutcome::Failed | StepOutcome::FailedContinued
            ),
            attempts: step.attempts,
            error: step.error.clone().unwrap_or_default(),
            detail: match &step.detail {
                Value::Null => String::new(),
                detail => detail.to_string(),
            },
        })
        .collect();
    let page = RunPage {
        chrome: Chrome::of(session, "workflows"),
        can_retry: run.status == RunStatus::Failed && session.role.at_least(Role::Operator),
        run: run_row(&run),
        workflow_id: run.workflow_id,
        workflow_name: run.workflow_name,
        version: run.version,
        error: run.error.unwrap_or_default(),
        reason: run.reason.unwrap_or_default(),
        timeline,
    };
    Ok(render(&page, StatusCode::OK))
}

/// Resumes a failed run at its failed step (operators; audited by the engine).
pub async fn retry_workflow_run(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(run_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let who_may = "Retrying a run is for operators and admins.";
    if let Some(refused) = refusal(session, form.csrf.as_deref(), Role::Operator, who_may) {
        return Ok(refused);
    }
    console
        .engine
        .retry(&session.tenant_id, &run_id, &actor(session))
        .await?;
    Ok(Redirect::to(&format!("/workflows/runs/{run_id}")).into_response())
}
