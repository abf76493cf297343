//! The caller's own tenant, and the rotation of its ingest credentials.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::tenants::{RotatedCredentials, RotationRequest, TenantView};
use vigil_http::{AdminCaller, ApiError, ApiJson, AppState, Caller};

use super::actor;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant))
        .routes(routes!(rotate_credentials))
}

/// The tenant the API key belongs to.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = vigil_http::error::ErrorBody)))]
async fn get_tenant(
    State(app): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<TenantView>, ApiError> {
    let tenant = app.tenants.get(&caller.tenant_id).await?;
    Ok(Json(TenantView::from(&tenant)))
}

/// Replace the ingest token and/or the inbound webhook secret (admin; audited). The new values
/// are in this answer only; the replaced ones keep working until `previous_valid_until`
/// (`overlap_minutes`, default 60, at most 10080), then are refused.
#[utoipa::path(post, path = "/api/v1/tenant/credentials/rotate", tag = "tenant", security(("api_key" = [])),
    request_body = RotationRequest,
    responses((status = 200, body = RotatedCredentials), (status = 400, body = vigil_http::error::ErrorBody),
              (status = 401, body = vigil_http::error::ErrorBody), (status = 403, body = vigil_http::error::ErrorBody),
              (status = 409, body = vigil_http::error::ErrorBody)))]
async fn rotate_credentials(
    State(app): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<RotationRequest>,
) -> Result<Json<RotatedCredentials>, ApiError> {
    let rotated = app
        .tenants
        .rotate(&caller.tenant_id, &body, &actor(&caller))
        .await?;
    app.ingest.forget_credentials(&caller.tenant_id);
    Ok(Json(rotated))
}
