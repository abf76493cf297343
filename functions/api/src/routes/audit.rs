//! The audit log of the caller's tenant (admin only).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::audit::{self, AuditEntry};
use vigil_http::{AdminCaller, ApiError, ApiQuery, AppState, ListResponse, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Every mutating call, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 403, body = vigil_http::error::ErrorBody)))]
async fn list_audit(
    State(app): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<AuditEntry>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (entries, next) =
        audit::list(app.ports.store.as_ref(), &caller.tenant_id, limit, cursor).await?;
    Ok(Json(ListResponse::new(entries, next)))
}
