//! Tasks, tickets and drafts: `GET/POST /api/v1/{tasks|tickets|drafts}` (lists take
//! `?client_id=` and `?status=`) and `GET/PATCH /api/v1/{...}/{id}`. One set of handlers; each
//! kind's routes are declared by `record_routes!`.

use crate::error::ApiError;
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use vigil_core::tenancy::Principal;
use vigil_core::workflows::follow_ups::{NewRecord, RecordFields, RecordStatus};
use vigil_core::workflows::{Record, RecordKind};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(tasks::router())
        .merge(tickets::router())
        .merge(drafts::router())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    pub client_id: Option<String>,
    #[param(inline)]
    pub status: Option<RecordStatus>,
}

async fn list(
    api: ApiState,
    caller: Principal,
    kind: RecordKind,
    query: RecordQuery,
    page: PageParams,
) -> Result<Json<ListResponse<Record>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (items, next) = api
        .follow_ups
        .list(
            &caller.tenant_id,
            kind,
            query.client_id.as_deref(),
            query.status,
            limit,
            cursor,
        )
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

async fn create(
    api: ApiState,
    caller: Principal,
    kind: RecordKind,
    new: NewRecord,
) -> Result<(StatusCode, Json<Record>), ApiError> {
    let record = api
        .follow_ups
        .create(&caller.tenant_id, kind, new.into(), None)
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

async fn get(
    api: ApiState,
    caller: Principal,
    kind: RecordKind,
    id: String,
) -> Result<Json<Record>, ApiError> {
    Ok(Json(
        api.follow_ups.get(&caller.tenant_id, kind, &id).await?.0,
    ))
}

async fn update(
    api: ApiState,
    caller: Principal,
    kind: RecordKind,
    id: String,
    fields: RecordFields,
) -> Result<Json<Record>, ApiError> {
    Ok(Json(
        api.follow_ups
            .update(&caller.tenant_id, kind, &id, fields)
            .await?,
    ))
}

/// The four routes of one record kind, each delegating to the shared handlers above.
macro_rules! record_routes {
    ($module:ident, $kind:expr, $list:literal, $one:literal,
     [$list_op:literal, $create_op:literal, $get_op:literal, $update_op:literal]) => {
        mod $module {
            use axum::Json;
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;
            use vigil_core::workflows::Record;
            use vigil_core::workflows::follow_ups::{NewRecord, RecordFields};
            use crate::error::ApiError;
            use crate::extract::{ApiJson, ApiQuery, Caller, OperatorCaller};
            use crate::paging::{ListResponse, PageParams};
            use crate::state::ApiState;

            use super::RecordQuery;

            pub fn router() -> OpenApiRouter<ApiState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(get, update))
            }

            #[utoipa::path(get, path = $list, operation_id = $list_op, tag = "workflows", security(("api_key" = [])),
                params(RecordQuery, PageParams), responses((status = 200, body = ListResponse<Record>)))]
            async fn list(State(api): State<ApiState>, Caller(caller): Caller, ApiQuery(query): ApiQuery<RecordQuery>,
                          ApiQuery(page): ApiQuery<PageParams>) -> Result<Json<ListResponse<Record>>, ApiError> {
                super::list(api, caller, $kind, query, page).await
            }

            #[utoipa::path(post, path = $list, operation_id = $create_op, tag = "workflows", security(("api_key" = [])),
                request_body = NewRecord,
                responses((status = 201, body = Record), (status = 400, body = crate::error::ErrorBody),
                          (status = 422, description = "A status that is not one of this kind's", body = crate::error::ErrorBody)))]
            async fn create(State(api): State<ApiState>, OperatorCaller(caller): OperatorCaller, ApiJson(new): ApiJson<NewRecord>)
                -> Result<(StatusCode, Json<Record>), ApiError> {
                super::create(api, caller, $kind, new).await
            }

            #[utoipa::path(get, path = $one, operation_id = $get_op, tag = "workflows", security(("api_key" = [])),
                params(("id" = String, Path, description = "Record id")),
                responses((status = 200, body = Record), (status = 404, body = crate::error::ErrorBody)))]
            async fn get(State(api): State<ApiState>, Caller(caller): Caller, Path(id): Path<String>)
                -> Result<Json<Record>, ApiError> {
                super::get(api, caller, $kind, id).await
            }

            #[utoipa::path(patch, path = $one, operation_id = $update_op, tag = "workflows", security(("api_key" = [])),
                params(("id" = String, Path, description = "Record id")), request_body = RecordFields,
                responses((status = 200, body = Record), (status = 400, body = crate::error::ErrorBody),
                          (status = 404, body = crate::error::ErrorBody),
                          (status = 422, description = "A status that is not one of this kind's", body = crate::error::ErrorBody)))]
            async fn update(State(api): State<ApiState>, OperatorCaller(caller): OperatorCaller, Path(id): Path<String>,
                            ApiJson(fields): ApiJson<RecordFields>) -> Result<Json<Record>, ApiError> {
                super::update(api, caller, $kind, id, fields).await
            }
        }
    };
}

record_routes!(
    tasks,
    vigil_core::workflows::RecordKind::Task,
    "/api/v1/tasks",
    "/api/v1/tasks/{id}",
    ["list_tasks", "create_task", "get_task", "update_task"]
);
record_routes!(
    tickets,
    vigil_core::workflows::RecordKind::Ticket,
    "/api/v1/tickets",
    "/api/v1/tickets/{id}",
    [
        "list_tickets",
        "create_ticket",
        "get_ticket",
        "update_ticket"
    ]
);
record_routes!(
    drafts,
    vigil_core::workflows::RecordKind::Draft,
    "/api/v1/drafts",
    "/api/v1/drafts/{id}",
    ["list_drafts", "create_draft", "get_draft", "update_draft"]
);
