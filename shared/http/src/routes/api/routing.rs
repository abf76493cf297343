//! Routing of notifications to channels, and the tenant's redaction rules.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, Caller};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::delivery::redaction::RedactionRules;
use vigil_core::delivery::routing::{Routing, RoutingView};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_routing, put_routing))
        .routes(routes!(get_redaction, put_redaction))
}

/// The routes in force (the default until the tenant sets its own).
#[utoipa::path(get, path = "/api/v1/routing", tag = "delivery", security(("api_key" = [])),
    responses((status = 200, body = RoutingView)))]
async fn get_routing(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<RoutingView>, ApiError> {
    Ok(Json(api.routing.view(&caller.tenant_id).await?))
}

/// Replace the tenant's routes (admin). Every channel named must exist (`inbox` always does).
#[utoipa::path(put, path = "/api/v1/routing", tag = "delivery", security(("api_key" = [])), request_body = Routing,
    responses((status = 200, body = RoutingView), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "A rule names a channel that does not exist", body = crate::error::ErrorBody)))]
async fn put_routing(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(routing): ApiJson<Routing>,
) -> Result<Json<RoutingView>, ApiError> {
    let channels = api.channels.by_name(&caller.tenant_id).await?;
    Ok(Json(
        api.routing
            .put(&caller.tenant_id, routing, &channels, &actor(&caller))
            .await?,
    ))
}

/// What is redacted from notifications before they are stored or sent.
#[utoipa::path(get, path = "/api/v1/redaction", tag = "delivery", security(("api_key" = [])),
    responses((status = 200, body = RedactionRules)))]
async fn get_redaction(
    State(api): State<ApiState>,
    Caller(caller): Caller,
) -> Result<Json<RedactionRules>, ApiError> {
    Ok(Json(api.outbox.redaction(&caller.tenant_id).await?))
}

/// Replace the tenant's redaction rules (admin).
#[utoipa::path(put, path = "/api/v1/redaction", tag = "delivery", security(("api_key" = [])), request_body = RedactionRules,
    responses((status = 200, body = RedactionRules), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "A pattern that is not a regular expression, or compiles too large", body = crate::error::ErrorBody)))]
async fn put_redaction(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(rules): ApiJson<RedactionRules>,
) -> Result<Json<RedactionRules>, ApiError> {
    Ok(Json(
        api.outbox
            .set_redaction(&caller.tenant_id, rules, &actor(&caller))
            .await?,
    ))
}
