//! Anomalies: what rules found, and their lifecycle.

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::anomaly::{Anomaly, AnomalyFilter, AnomalySort, AnomalyStatus};
use vigil_core::severity::Severity;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_anomalies))
        .routes(routes!(get_anomaly, update_anomaly))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    #[param(inline)]
    pub status: Option<AnomalyStatus>,
    #[param(inline)]
    pub severity: Option<Severity>,
    pub rule: Option<String>,
    #[param(inline)]
    pub sort: Option<AnomalySort>,
    /// Only anomalies seeded by `vigil demo seed`.
    #[serde(default)]
    pub demo_only: bool,
}

/// Anomalies, newest first (`sort=detected_desc`) or most severe first (`sort=severity_desc`).
#[utoipa::path(get, path = "/api/v1/anomalies", tag = "anomalies", security(("api_key" = [])), params(AnomalyQuery, PageParams),
    responses((status = 200, body = ListResponse<Anomaly>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_anomalies(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<AnomalyQuery>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Anomaly>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let filter = AnomalyFilter {
        status: query.status,
        severity: query.severity,
        rule: query.rule,
        demo_only: query.demo_only,
        sort: query.sort.unwrap_or_default(),
    };
    let (items, next) = api
        .anomalies
        .list(&caller.tenant_id, &filter, limit, cursor)
        .await?;
    Ok(Json(ListResponse::new(items, next)))
}

/// One anomaly with its evidence and full transition history.
#[utoipa::path(get, path = "/api/v1/anomalies/{id}", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path, description = "Anomaly id")),
    responses((status = 200, body = Anomaly), (status = 404, body = crate::error::ErrorBody)))]
async fn get_anomaly(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Anomaly>, ApiError> {
    Ok(Json(api.anomalies.get(&caller.tenant_id, &id).await?.0))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnomalyUpdate {
    pub status: AnomalyStatus,
    pub note: Option<String>,
}

/// Acknowledge, resolve or reopen (operator). A no-op or illegal transition is 409.
#[utoipa::path(patch, path = "/api/v1/anomalies/{id}", tag = "anomalies", security(("api_key" = [])),
    params(("id" = String, Path, description = "Anomaly id")), request_body = AnomalyUpdate,
    responses((status = 200, body = Anomaly), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn update_anomaly(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AnomalyUpdate>,
) -> Result<Json<Anomaly>, ApiError> {
    Ok(Json(
        api.anomalies
            .transition(
                &caller.tenant_id,
                &id,
                body.status,
                body.note,
                &actor(&caller),
            )
            .await?,
    ))
}
