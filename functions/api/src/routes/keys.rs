//! API keys of the caller's tenant (admin only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::keys::{ApiKey, CreatedKey};
use vigil_http::{AdminCaller, ApiError, ApiJson, ApiQuery, AppState, ListResponse, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
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
    responses((status = 200, body = ListResponse<ApiKey>), (status = 403, body = vigil_http::error::ErrorBody)))]
async fn list_keys(
    State(app): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<ApiKey>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (keys, next) = app.keys.list(&caller.tenant_id, limit, cursor).await?;
    Ok(Json(ListResponse::new(keys, next)))
}

/// Create an API key; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("api_key" = [])), request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = vigil_http::error::ErrorBody),
              (status = 403, body = vigil_http::error::ErrorBody)))]
async fn create_key(
    State(app): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let actor = Actor::ApiKey {
        key_id: caller.key_id.clone(),
    };
    let created = app
        .keys
        .create(&caller.tenant_id, body.role, &actor)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", security(("api_key" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = vigil_http::error::ErrorBody)))]
async fn revoke_key(
    State(app): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = Actor::ApiKey {
        key_id: caller.key_id.clone(),
    };
    app.keys.revoke(&caller.tenant_id, &id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
