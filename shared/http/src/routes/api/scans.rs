//! Scheduled health scans: the tenant's scan schedule, scans on demand, and past scans.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::automation_runs::scans::Scan;
use vigil_core::automation_runs::schedule::{ScanSchedule, ScanScheduleInput};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_schedule, put_schedule, delete_schedule))
        .routes(routes!(run_now))
        .routes(routes!(list_scans))
}

/// The tenant's scan schedule, with `next_scan_at`.
#[utoipa::path(get, path = "/api/v1/scan-schedule", tag = "scans", security(("api_key" = [])),
    responses((status = 200, body = ScanSchedule), (status = 404, body = crate::error::ErrorBody)))]
async fn get_schedule(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<ScanSchedule>, ApiError> {
    Ok(Json(
        api.automation_runs
            .scan_schedule(&caller.tenant_id)
            .await?
            .0,
    ))
}

/// Create or replace the scan schedule (admin; audited). `next_scan_at` is computed in the
/// schedule's timezone.
#[utoipa::path(put, path = "/api/v1/scan-schedule", tag = "scans", security(("api_key" = [])),
    request_body = ScanScheduleInput,
    responses((status = 200, body = ScanSchedule), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "A timezone that is not an IANA name, or a `selected` scope without scenario ids", body = crate::error::ErrorBody)))]
async fn put_schedule(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(input): ApiJson<ScanScheduleInput>,
) -> Result<Json<ScanSchedule>, ApiError> {
    Ok(Json(
        api.automation_runs
            .set_scan_schedule(&caller.tenant_id, input, &actor(&caller))
            .await?,
    ))
}

/// Remove the scan schedule (admin; audited).
#[utoipa::path(delete, path = "/api/v1/scan-schedule", tag = "scans", security(("api_key" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_schedule(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
) -> Result<StatusCode, ApiError> {
    api.automation_runs
        .delete_scan_schedule(&caller.tenant_id, &actor(&caller))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Scan now, with the schedule's scope (every scenario without a schedule); operator.
#[utoipa::path(post, path = "/api/v1/scan-schedule/run-now", tag = "scans", security(("api_key" = [])),
    responses((status = 201, body = Scan)))]
async fn run_now(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
) -> Result<(StatusCode, Json<Scan>), ApiError> {
    let scan = api.automation_runs.scan_now(&caller.tenant_id).await?;
    Ok((StatusCode::CREATED, Json(scan)))
}

/// Past scans, newest first, with each scenario's score and findings.
#[utoipa::path(get, path = "/api/v1/scans", tag = "scans", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<Scan>)))]
async fn list_scans(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Scan>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (items, next) = api
        .automation_runs
        .list_scans(&caller.tenant_id, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}
