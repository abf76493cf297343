//! Revenue rules of the caller's tenant (admin only): settings over the defaults.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson};
use crate::paging::ListResponse;
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::rules::{RuleConfig, RulePatch};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules))
        .routes(routes!(update_rule))
}

/// Every rule with its settings (the defaults until changed).
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", security(("api_key" = [])),
    responses((status = 200, body = ListResponse<RuleConfig>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_rules(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Json<ListResponse<RuleConfig>>, ApiError> {
    let rules = api.rules.list(&caller.tenant_id).await?;
    Ok(Json(ListResponse::new(rules, None)))
}

/// Enable or disable a rule, or change its severity, window, threshold or parameters.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules", security(("api_key" = [])),
    params(("id" = String, Path, description = "Rule id, e.g. payment_failure_spike")), request_body = RulePatch,
    responses((status = 200, body = RuleConfig), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "A window the rule cannot use (`amount_spike` takes only 5)", body = crate::error::ErrorBody)))]
async fn update_rule(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> Result<Json<RuleConfig>, ApiError> {
    Ok(Json(
        api.rules
            .update(&caller.tenant_id, &id, patch, &actor(&caller))
            .await?,
    ))
}
