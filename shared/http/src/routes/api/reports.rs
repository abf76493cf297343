//! Stored reports (the daily ops summary).

use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::reports::{Report, ReportKind};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_reports))
        .routes(routes!(get_report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Only `daily_summary` so far (the default).
    #[param(inline)]
    pub kind: Option<ReportKind>,
}

/// Reports of one kind, newest first.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", security(("api_key" = [])), params(ReportQuery, PageParams),
    responses((status = 200, body = ListResponse<Report>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_reports(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Report>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let kind = query.kind.unwrap_or(ReportKind::DailySummary);
    let (items, next) = api
        .reports
        .list(&caller.tenant_id, kind, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// One report.
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", security(("api_key" = [])),
    params(("id" = String, Path, description = "Report id")),
    responses((status = 200, body = Report), (status = 404, body = crate::error::ErrorBody)))]
async fn get_report(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(api.reports.get(&caller.tenant_id, &id).await?))
}
