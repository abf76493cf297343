//! The caller's own tenant.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::tenants::TenantView;
use vigil_http::{ApiError, AppState, Caller};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_tenant))
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
