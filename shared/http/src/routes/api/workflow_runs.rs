//! Workflow runs: each run's timeline, retries from the failed step, approvals decided by people,
//! and the figures across runs.

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::workflows::analytics::Analytics;
use vigil_core::workflows::engine::Decision;
use vigil_core::workflows::run::{Approval, ApprovalStatus, WorkflowRun};
use vigil_core::workflows::run_status::RunStatus;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_workflow_runs))
        .routes(routes!(get_workflow_run))
        .routes(routes!(retry_workflow_run))
        .routes(routes!(approve_workflow_run))
        .routes(routes!(reject_workflow_run))
        .routes(routes!(list_approvals))
        .routes(routes!(workflow_analytics))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// Runs started at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// A workflow's runs, newest first.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/runs", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id"), RunsQuery, PageParams),
    responses((status = 200, body = ListResponse<WorkflowRun>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_workflow_runs(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RunsQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<WorkflowRun>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    // Runs outlive a deleted workflow, so an unknown id is only refused when it cannot be one
    // or when nothing, neither the workflow nor a run of it, is the tenant's.
    if !vigil_core::ids::looks_like("wf", &id) {
        return Err(vigil_core::Error::NotFound("workflow".into()).into());
    }
    let first_page = cursor.is_none();
    let (items, next) = api
        .engine
        .list_runs(
            &caller.tenant_id,
            &id,
            query.status,
            query.since,
            limit,
            cursor,
        )
        .await?;
    if first_page && items.is_empty() {
        api.workflows.get(&caller.tenant_id, &id).await?;
    }
    Ok(Json(ListResponse::new(items, next)))
}

/// One run with the timeline of its steps.
#[utoipa::path(get, path = "/api/v1/workflows/runs/{run_id}", tag = "workflows", security(("api_key" = [])),
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, body = WorkflowRun), (status = 404, body = crate::error::ErrorBody)))]
async fn get_workflow_run(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(run_id): Path<String>,
) -> Result<Json<WorkflowRun>, ApiError> {
    Ok(Json(api.engine.get_run(&caller.tenant_id, &run_id).await?))
}

/// Resume a failed run at the step that failed (operator; audited). Earlier steps are not done
/// again.
#[utoipa::path(post, path = "/api/v1/workflows/runs/{run_id}/retry", tag = "workflows", security(("api_key" = [])),
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, body = WorkflowRun), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn retry_workflow_run(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(run_id): Path<String>,
) -> Result<Json<WorkflowRun>, ApiError> {
    let run = api
        .engine
        .retry(&caller.tenant_id, &run_id, &actor(&caller))
        .await?;
    Ok(Json(run))
}

/// An approval, with an optional note (`null`, `{}` or no body at all approve alike).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A rejection: the reason is required.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why, in at least one character other than blanks.
    #[schema(min_length = 1, pattern = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]")]
    pub reason: String,
}

/// Approve the run's pending approval (operator, or the role the step names; audited). Decided
/// once: a second decision is 409.
#[utoipa::path(post, path = "/api/v1/workflows/runs/{run_id}/approve", tag = "workflows", security(("api_key" = [])),
    params(("run_id" = String, Path, description = "Run id")), request_body = Option<DecisionBody>,
    responses((status = 200, body = WorkflowRun), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn approve_workflow_run(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(run_id): Path<String>,
    body: Option<ApiJson<Option<DecisionBody>>>,
) -> Result<Json<WorkflowRun>, ApiError> {
    let reason = body.and_then(|ApiJson(b)| b).and_then(|b| b.reason);
    decide(api, caller, run_id, Decision::Approve, reason).await
}

/// Reject the run's pending approval with a reason (operator, or the role the step names;
/// audited). The run ends `rejected`. Decided once: a second decision is 409.
#[utoipa::path(post, path = "/api/v1/workflows/runs/{run_id}/reject", tag = "workflows", security(("api_key" = [])),
    params(("run_id" = String, Path, description = "Run id")), request_body = RejectBody,
    responses((status = 200, body = WorkflowRun), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn reject_workflow_run(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(run_id): Path<String>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<WorkflowRun>, ApiError> {
    decide(api, caller, run_id, Decision::Reject, Some(body.reason)).await
}

async fn decide(
    api: ApiState,
    caller: vigil_core::tenancy::Principal,
    run_id: String,
    decision: Decision,
    reason: Option<String>,
) -> Result<Json<WorkflowRun>, ApiError> {
    let run = api
        .engine
        .decide(
            &caller.tenant_id,
            &run_id,
            decision,
            &actor(&caller),
            caller.role,
            reason,
        )
        .await?;
    Ok(Json(run))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    /// Default `pending`.
    #[param(inline)]
    pub status: Option<ApprovalStatus>,
}

/// Approval requests in one status, oldest first.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "workflows", security(("api_key" = [])),
    params(ApprovalsQuery, PageParams),
    responses((status = 200, body = ListResponse<Approval>)))]
async fn list_approvals(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<ApprovalsQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Approval>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let status = query.status.unwrap_or(ApprovalStatus::Pending);
    let (items, next) = api
        .engine
        .approvals(&caller.tenant_id, status, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// The window, in days back from now (1–90, default 30).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

/// Runs, success rate, average duration and approvals waiting (with their age), per workflow and
/// overall, for the runs started in the last `days` days (today included, UTC).
#[utoipa::path(get, path = "/api/v1/workflows/analytics", tag = "workflows", security(("api_key" = [])),
    params(AnalyticsQuery),
    responses((status = 200, body = Analytics), (status = 400, body = crate::error::ErrorBody)))]
async fn workflow_analytics(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> Result<Json<Analytics>, ApiError> {
    let days = query.days.unwrap_or(30);
    if !(1..=90).contains(&days) {
        return Err(ApiError::invalid(
            "invalid_query",
            "days must be from 1 to 90",
        ));
    }
    Ok(Json(api.engine.analytics(&caller.tenant_id, days).await?))
}
