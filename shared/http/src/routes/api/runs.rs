//! Automation runs and their scenarios: the run ledger, baselines and health metrics.

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
use vigil_core::automation_runs::metrics::ScenarioMetrics;
use vigil_core::automation_runs::{Run, RunFilter, RunStatus, Scenario};
use vigil_core::severity::Severity;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(list_scenarios))
        .routes(routes!(get_scenario))
        .routes(routes!(set_baseline))
        .routes(routes!(scenario_metrics))
        .routes(routes!(scenario_failures))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only runs of this scenario.
    pub scenario: Option<String>,
    #[param(inline)]
    pub status: Option<RunStatus>,
    #[param(inline)]
    pub severity: Option<Severity>,
    /// Runs at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Runs at or before this time (RFC 3339); before `since`, the list is empty.
    pub until: Option<DateTime<Utc>>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", security(("api_key" = [])), params(RunQuery, PageParams),
    responses((status = 200, body = ListResponse<Run>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_runs(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<RunQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Run>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let filter = RunFilter {
        scenario: query.scenario,
        status: query.status,
        severity: query.severity,
        since: query.since,
        until: query.until,
    };
    let (items, next) = api
        .automation_runs
        .list(&caller.tenant_id, &filter, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// One run with its classification: severity, variance, risk flags, misconfiguration
/// likelihood, risk summary and the anomaly it opened.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}", tag = "runs", security(("api_key" = [])),
    params(("run_id" = String, Path, description = "The run id its platform gave")),
    responses((status = 200, body = Run), (status = 404, body = crate::error::ErrorBody)))]
async fn get_run(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(run_id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(
        api.automation_runs.get(&caller.tenant_id, &run_id).await?,
    ))
}

/// Scenarios, created on their first run, with their baselines.
#[utoipa::path(get, path = "/api/v1/scenarios", tag = "runs", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<Scenario>)))]
async fn list_scenarios(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Scenario>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (items, next) = api
        .automation_runs
        .list_scenarios(&caller.tenant_id, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

#[utoipa::path(get, path = "/api/v1/scenarios/{id}", tag = "runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Scenario id")),
    responses((status = 200, body = Scenario), (status = 404, body = crate::error::ErrorBody)))]
async fn get_scenario(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Scenario>, ApiError> {
    Ok(Json(
        api.automation_runs
            .get_scenario(&caller.tenant_id, &id)
            .await?
            .0,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineUpdate {
    /// Credits a healthy run uses.
    #[schema(exclusive_minimum = 0.0)]
    pub expected_credits: f64,
}

/// Set a scenario's baseline by hand (operator; audited). The weekly update keeps it.
#[utoipa::path(put, path = "/api/v1/scenarios/{id}/baseline", tag = "runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Scenario id")), request_body = BaselineUpdate,
    responses((status = 200, body = Scenario), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn set_baseline(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BaselineUpdate>,
) -> Result<Json<Scenario>, ApiError> {
    Ok(Json(
        api.automation_runs
            .set_baseline(
                &caller.tenant_id,
                &id,
                body.expected_credits,
                &actor(&caller),
            )
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The window, in hours back from now (1–720, default 24).
    #[param(minimum = 1, maximum = 720)]
    pub hours: Option<u32>,
}

/// Failure and timing metrics of a scenario over the last `hours`, with the trend against the
/// window before.
#[utoipa::path(get, path = "/api/v1/scenarios/{id}/metrics", tag = "runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Scenario id"), WindowQuery),
    responses((status = 200, body = ScenarioMetrics), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn scenario_metrics(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(window): ApiQuery<WindowQuery>,
) -> Result<Json<ScenarioMetrics>, ApiError> {
    let hours = window.hours.unwrap_or(24);
    Ok(Json(
        api.automation_runs
            .metrics(&caller.tenant_id, &id, hours)
            .await?,
    ))
}

/// Failed runs of a scenario over the last `hours`, newest first.
#[utoipa::path(get, path = "/api/v1/scenarios/{id}/failures", tag = "runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Scenario id"), WindowQuery),
    responses((status = 200, body = ListResponse<Run>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn scenario_failures(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(window): ApiQuery<WindowQuery>,
) -> Result<Json<ListResponse<Run>>, ApiError> {
    let hours = window.hours.unwrap_or(24);
    let runs = api
        .automation_runs
        .failures(&caller.tenant_id, &id, hours)
        .await?;
    Ok(Json(ListResponse::new(runs, None)))
}
