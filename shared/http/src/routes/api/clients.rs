//! Clients, the subjects workflows act on; kept current by domain events as well.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::workflows::Client;
use vigil_core::workflows::clients::{ClientFields, NewClient};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
}

#[utoipa::path(get, path = "/api/v1/clients", tag = "workflows", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<Client>)))]
async fn list_clients(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Client>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (items, next) = api.clients.list(&caller.tenant_id, limit, cursor).await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// Add a client (operator); `id` is the tenant's own id for it.
#[utoipa::path(post, path = "/api/v1/clients", tag = "workflows", security(("api_key" = [])), request_body = NewClient,
    responses((status = 201, body = Client), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn create_client(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    ApiJson(new): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<Client>), ApiError> {
    let client = api.clients.create(&caller.tenant_id, new.into()).await?;
    Ok((StatusCode::CREATED, Json(client)))
}

#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, body = Client), (status = 404, body = crate::error::ErrorBody)))]
async fn get_client(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(api.clients.get(&caller.tenant_id, &id).await?))
}

/// Change the fields named (operator).
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Client id")), request_body = ClientFields,
    responses((status = 200, body = Client), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "An `id` other than the client's own", body = crate::error::ErrorBody)))]
async fn update_client(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(id): Path<String>,
    ApiJson(fields): ApiJson<ClientFields>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(
        api.clients.update(&caller.tenant_id, &id, fields).await?,
    ))
}

/// Delete a client (admin). Runs about it that have not finished end as `skipped`.
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Client id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_client(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.clients.delete(&caller.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
