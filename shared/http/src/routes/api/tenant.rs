//! The caller's own tenant, and the rotation of its ingest credentials.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, Caller};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::tenants::{RotatedCredentials, RotationRequest, TenantView};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant))
        .routes(routes!(rotate_credentials))
}

/// The tenant the API key belongs to.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = crate::error::ErrorBody)))]
async fn get_tenant(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<TenantView>, ApiError> {
    let tenant = api.tenants.get(&caller.tenant_id).await?;
    Ok(Json(TenantView::from(&tenant)))
}

/// Replace the ingest token and/or the inbound webhook secret (admin; audited). The new values
/// are in this answer only; the replaced ones keep working until `previous_valid_until`
/// (`overlap_minutes`, default 60, at most 10080), then are refused.
#[utoipa::path(post, path = "/api/v1/tenant/credentials/rotate", tag = "tenant", security(("api_key" = [])),
    request_body = RotationRequest,
    responses((status = 200, body = RotatedCredentials), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn rotate_credentials(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<RotationRequest>,
) -> Result<Json<RotatedCredentials>, ApiError> {
    let rotated = api
        .tenants
        .rotate(&caller.tenant_id, &body, &actor(&caller))
        .await?;
    api.ingest.forget_credentials(&caller.tenant_id);
    Ok(Json(rotated))
}
