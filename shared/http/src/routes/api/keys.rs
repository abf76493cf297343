//! API keys of the caller's tenant (admin only).

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, ApiQuery};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::keys::{ApiKey, CreatedKey};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub role: Role,
}

/// List the tenant's API keys (never the secrets).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<ApiKey>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_keys(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<ApiKey>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (keys, next) = api.keys.list(&caller.tenant_id, limit, cursor).await?;
    Ok(Json(ListResponse::new(keys, next)))
}

/// Create an API key; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("api_key" = [])), request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
async fn create_key(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let actor = Actor::ApiKey {
        key_id: caller.key_id.clone(),
    };
    let created = api
        .keys
        .create(&caller.tenant_id, body.role, &actor)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", security(("api_key" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_key(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = Actor::ApiKey {
        key_id: caller.key_id.clone(),
    };
    api.keys.revoke(&caller.tenant_id, &id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
