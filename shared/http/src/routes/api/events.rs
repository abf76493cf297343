//! Notifications in the outbox (`/api/v1/events`): their per-channel deliveries, a manual
//! retry of dead-lettered deliveries, and the end-to-end test alert.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, ApiQuery, Caller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::delivery::outbox::{NotificationDetail, NotificationFilter};
use vigil_core::delivery::{Notification, NotificationStatus, NotificationType};
use vigil_core::severity::Severity;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(retry_event))
        .routes(routes!(test_event))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    #[param(inline)]
    pub status: Option<NotificationStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    pub kind: Option<NotificationType>,
}

/// Notifications, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "delivery", security(("api_key" = [])), params(EventQuery, PageParams),
    responses((status = 200, body = ListResponse<Notification>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_events(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<EventQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Notification>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let filter = NotificationFilter {
        status: query.status,
        kind: query.kind,
    };
    let (items, next) = api
        .outbox
        .list(&caller.tenant_id, &filter, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// One notification with a delivery record per channel.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "delivery", security(("api_key" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = NotificationDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_event(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationDetail>, ApiError> {
    Ok(Json(api.outbox.get(&caller.tenant_id, &id).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Retried {
    pub id: String,
    /// Channels whose failed delivery was queued again.
    pub channels: Vec<String>,
}

/// Queue the failed deliveries of a notification again (admin). 409 when none failed.
#[utoipa::path(post, path = "/api/v1/events/{id}/retry", tag = "delivery", security(("api_key" = [])),
    params(("id" = String, Path, description = "Notification id")),
    responses((status = 202, body = Retried), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn retry_event(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Retried>), ApiError> {
    let channels = api
        .outbox
        .retry(&caller.tenant_id, &id, &actor(&caller))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Retried { id, channels })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestAlert {
    pub severity: Severity,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    pub summary: String,
}

/// Emit a `test.alert` through the outbox, with normal routing, retries and dead-lettering (admin).
#[utoipa::path(post, path = "/api/v1/events/test", tag = "delivery", security(("api_key" = [])), request_body = TestAlert,
    responses((status = 202, body = Notification), (status = 400, body = crate::error::ErrorBody)))]
async fn test_event(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<TestAlert>,
) -> Result<(StatusCode, Json<Notification>), ApiError> {
    let notification = api
        .outbox
        .emit_test_alert(
            &caller.tenant_id,
            body.severity,
            body.title,
            body.summary,
            &caller.key_id,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(notification)))
}
