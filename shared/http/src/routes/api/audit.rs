//! The audit log of the caller's tenant (admin only).

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiQuery};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::audit::{self, AuditEntry};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Every mutating call, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_audit(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<AuditEntry>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (entries, next) = audit::list(api.store.as_ref(), &caller.tenant_id, limit, cursor).await?;
    Ok(Json(ListResponse::new(entries, next)))
}
