//! Delivery channels: Slack, signed webhook, email. Secrets are write-only.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, Caller};
use crate::paging::ListResponse;
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::delivery::channels::{ChannelPatch, ChannelView, NewChannel};
use vigil_core::delivery::dispatcher::ChannelTestResult;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(test_channel))
}

/// The tenant's channels, by name.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", security(("api_key" = [])),
    responses((status = 200, body = ListResponse<ChannelView>)))]
async fn list_channels(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<ListResponse<ChannelView>>, ApiError> {
    let channels = api.channels.list(&caller.tenant_id).await?;
    Ok(Json(ListResponse::new(
        channels.iter().map(ChannelView::from).collect(),
        None,
    )))
}

/// Add a channel (admin). Names are unique: routes refer to them.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", security(("api_key" = [])), request_body = NewChannel,
    responses((status = 201, body = ChannelView), (status = 400, body = crate::error::ErrorBody), (status = 422, description = "A field the channel's kind does not take, or one it needs", body = crate::error::ErrorBody), 
              (status = 409, body = crate::error::ErrorBody)))]
async fn create_channel(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let channel = api
        .channels
        .create(&caller.tenant_id, body, &actor(&caller))
        .await?;
    Ok((StatusCode::CREATED, Json(ChannelView::from(&channel))))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", security(("api_key" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_channel(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let (channel, _) = api.channels.get(&caller.tenant_id, &id).await?;
    Ok(Json(ChannelView::from(&channel)))
}

/// Change a channel (admin): enable/disable, URL, recipients, or rotate the signing secret.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", security(("api_key" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = ChannelPatch,
    responses((status = 200, body = ChannelView), (status = 400, body = crate::error::ErrorBody), (status = 422, description = "A field the channel's kind does not take, or one it needs", body = crate::error::ErrorBody), 
              (status = 404, body = crate::error::ErrorBody)))]
async fn update_channel(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> Result<Json<ChannelView>, ApiError> {
    let channel = api
        .channels
        .update(&caller.tenant_id, &id, patch, &actor(&caller))
        .await?;
    Ok(Json(ChannelView::from(&channel)))
}

/// Delete a channel (admin).
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels", security(("api_key" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_channel(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.channels
        .delete(&caller.tenant_id, &id, &actor(&caller))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a `test.alert` to this channel now, outside the outbox (admin), and report the answer.
#[utoipa::path(post, path = "/api/v1/channels/{id}/test", tag = "channels", security(("api_key" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, body = ChannelTestResult), (status = 404, body = crate::error::ErrorBody)))]
async fn test_channel(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ChannelTestResult>, ApiError> {
    Ok(Json(
        api.dispatcher.test_channel(&caller.tenant_id, &id).await?,
    ))
}
