//! Run alert settings: when failed runs alert, per tenant with per-scenario overrides, and the
//! variance thresholds that grade each run.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, Caller};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::automation_runs::RunSettings;
use vigil_core::delivery::Notification;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(test_alert))
}

/// The tenant's alert settings (defaults until set).
#[utoipa::path(get, path = "/api/v1/alert-settings", tag = "runs", security(("api_key" = [])),
    responses((status = 200, body = RunSettings)))]
async fn get_settings(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<RunSettings>, ApiError> {
    Ok(Json(api.automation_runs.settings(&caller.tenant_id).await?))
}

/// Replace the alert settings (admin; audited). Fields left out take their defaults.
#[utoipa::path(put, path = "/api/v1/alert-settings", tag = "runs", security(("api_key" = [])),
    request_body = RunSettings,
    responses((status = 200, body = RunSettings), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "Severity thresholds that do not decrease from sev0 to sev3", body = crate::error::ErrorBody)))]
async fn put_settings(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(settings): ApiJson<RunSettings>,
) -> Result<Json<RunSettings>, ApiError> {
    let saved = api
        .automation_runs
        .set_settings(&caller.tenant_id, settings, &actor(&caller))
        .await?;
    Ok(Json(saved))
}

/// Send a `test.alert` through the outbox to every channel routed for it (admin), as a
/// failure alert would go.
#[utoipa::path(post, path = "/api/v1/alert-settings/test", tag = "runs", security(("api_key" = [])),
    responses((status = 202, body = Notification)))]
async fn test_alert(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
) -> Result<(StatusCode, Json<Notification>), ApiError> {
    let notification = api
        .outbox
        .emit_run_alert_test(&caller.tenant_id, &caller.key_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(notification)))
}
