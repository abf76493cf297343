//! Dead letters (`/api/v1/dead-letters`): what delivery gave up on — outbox messages the queue
//! dead-lettered and notifications with a channel that gave up — listed and queued again by an
//! admin of the tenant.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson};
use crate::paging::ListResponse;
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::delivery::dead_letters::{DeadLetter, Selection};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_dead_letters))
        .routes(routes!(requeue_dead_letters))
}

/// The tenant's dead letters (admin): dead-lettered outbox messages first, then notifications
/// with a channel that gave up. At most 500 messages and 100 notifications.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "delivery", security(("api_key" = [])),
    responses((status = 200, body = ListResponse<DeadLetter>)))]
async fn list_dead_letters(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Json<ListResponse<DeadLetter>>, ApiError> {
    let letters = api.dead_letters.list(Some(&caller.tenant_id)).await?;
    Ok(Json(ListResponse::new(letters, None)))
}

/// Which dead letters to queue again: `ids` (from the list), or `all: true`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueRequest {
    #[schema(min_items = 1, max_items = 100)]
    pub ids: Option<Vec<String>>,
    pub all: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Requeued {
    /// The dead letters queued again.
    pub requeued: Vec<String>,
}

/// Queue dead letters again (admin; audited). 404 when an id is not one of the tenant's dead
/// letters (then nothing is queued); 422 unless exactly one of `ids` and `all: true` is given.
#[utoipa::path(post, path = "/api/v1/dead-letters/requeue", tag = "delivery", security(("api_key" = [])),
    request_body = RequeueRequest,
    responses((status = 202, body = Requeued), (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "Not exactly one of `ids` and `all: true`", body = crate::error::ErrorBody)))]
async fn requeue_dead_letters(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<RequeueRequest>,
) -> Result<(StatusCode, Json<Requeued>), ApiError> {
    let selection = match (body.ids, body.all) {
        (Some(ids), None | Some(false)) => Selection::Ids(ids),
        (None, Some(true)) => Selection::All,
        _ => {
            return Err(vigil_core::Error::unprocessable(
                "invalid_selection",
                "give either ids or all: true",
            )
            .into());
        }
    };
    let requeued = api
        .dead_letters
        .requeue(Some(&caller.tenant_id), &selection, &actor(&caller))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Requeued { requeued })))
}
