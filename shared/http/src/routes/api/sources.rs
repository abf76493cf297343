//! Webhook sources of the caller's tenant: Stripe endpoint secrets (write-only).

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson};
use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::tenancy::tenants::TenantView;

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(put_stripe_source))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeSource {
    /// Endpoint secrets (`whsec_…`): one, or two while Stripe rotates them.
    #[schema(min_items = 1, max_items = 2, inline, value_type = Vec<StripeSecret>)]
    pub secrets: Vec<String>,
}

/// A Stripe endpoint secret: `whsec_` and at least five more characters, no blanks or control
/// characters (documents `secrets`).
pub struct StripeSecret;

impl utoipa::PartialSchema for StripeSecret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^whsec_[^\\s\\u0000-\\u001f\\u007f-\\u009f]{5,}$"))
            .into()
    }
}

impl utoipa::ToSchema for StripeSecret {}

/// Set the Stripe endpoint secrets hooks are verified with (admin). They are never shown again.
#[utoipa::path(put, path = "/api/v1/sources/stripe", tag = "tenant", security(("api_key" = [])), request_body = StripeSource,
    responses((status = 200, body = TenantView), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
async fn put_stripe_source(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<StripeSource>,
) -> Result<Json<TenantView>, ApiError> {
    let view = api
        .tenants
        .set_stripe_secrets(&caller.tenant_id, body.secrets, &actor(&caller))
        .await?;
    api.ingest.forget_credentials(&caller.tenant_id);
    Ok(Json(view))
}
