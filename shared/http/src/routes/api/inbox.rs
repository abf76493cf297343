//! The admin inbox: items, the badge of open items, and their lifecycle.

use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::delivery::NotificationType;
use vigil_core::delivery::inbox::{InboxAction, InboxCounts, InboxFilter, InboxItem, InboxStatus};
use vigil_core::severity::Severity;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_inbox))
        .routes(routes!(inbox_counts))
        .routes(routes!(get_inbox_item))
        .routes(routes!(act_on_item))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    #[param(inline)]
    pub status: Option<InboxStatus>,
    #[param(inline)]
    pub severity: Option<Severity>,
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    pub kind: Option<NotificationType>,
}

/// Inbox items, newest first.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "inbox", security(("api_key" = [])), params(InboxQuery, PageParams),
    responses((status = 200, body = ListResponse<InboxItem>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_inbox(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<InboxQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<InboxItem>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let filter = InboxFilter {
        status: query.status,
        severity: query.severity,
        kind: query.kind,
    };
    let (items, next) = api
        .inbox
        .list(&caller.tenant_id, &filter, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// Open items by severity (the badge).
#[utoipa::path(get, path = "/api/v1/inbox/counts", tag = "inbox", security(("api_key" = [])),
    responses((status = 200, body = InboxCounts)))]
async fn inbox_counts(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<InboxCounts>, ApiError> {
    Ok(Json(api.inbox.counts(&caller.tenant_id).await?))
}

/// One inbox item.
#[utoipa::path(get, path = "/api/v1/inbox/{id}", tag = "inbox", security(("api_key" = [])),
    params(("id" = String, Path, description = "Inbox item id")),
    responses((status = 200, body = InboxItem), (status = 404, body = crate::error::ErrorBody)))]
async fn get_inbox_item(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<InboxItem>, ApiError> {
    Ok(Json(api.inbox.get(&caller.tenant_id, &id).await?.0))
}

/// Acknowledge, resolve or dismiss an item (operator). Illegal transitions answer 409.
#[utoipa::path(post, path = "/api/v1/inbox/{id}/{action}", tag = "inbox", security(("api_key" = [])),
    params(("id" = String, Path, description = "Inbox item id"),
           ("action" = inline(InboxAction), Path, description = "What to do to the item")),
    responses((status = 200, body = InboxItem), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn act_on_item(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<InboxItem>, ApiError> {
    let action = InboxAction::parse(&action)
        .ok_or_else(|| ApiError(vigil_core::Error::NotFound("route".into())))?;
    Ok(Json(
        api.inbox
            .act(&caller.tenant_id, &id, action, &actor(&caller))
            .await?,
    ))
}
