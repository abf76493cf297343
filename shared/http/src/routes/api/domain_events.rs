//! Domain events ingested through `/hooks/{tenant}/events`.

use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::ingest::StoredDomainEvent;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_domain_events))
        .routes(routes!(get_domain_event))
}

/// Ingested domain events, newest first.
#[utoipa::path(get, path = "/api/v1/domain-events", tag = "ingest", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<StoredDomainEvent>)))]
async fn list_domain_events(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<StoredDomainEvent>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (events, next) = api
        .ingest
        .list_events(&caller.tenant_id, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(events, next)))
}

/// One ingested domain event.
#[utoipa::path(get, path = "/api/v1/domain-events/{id}", tag = "ingest", security(("api_key" = [])),
    params(("id" = String, Path, description = "The event's id as sent")),
    responses((status = 200, body = StoredDomainEvent), (status = 404, body = crate::error::ErrorBody)))]
async fn get_domain_event(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<StoredDomainEvent>, ApiError> {
    Ok(Json(api.ingest.get_event(&caller.tenant_id, &id).await?))
}
