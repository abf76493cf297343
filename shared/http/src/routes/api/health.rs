//! Health and the OpenAPI document: the two routes that need no key.

use crate::state::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_json))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the store does not answer.
    pub status: &'static str,
    pub version: &'static str,
    /// `sqlite` or `dynamodb`.
    pub store: &'static str,
}

/// Liveness and store reachability.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, body = Health), (status = 503, description = "Store unreachable", body = Health)))]
async fn health(State(api): State<ApiState>) -> (StatusCode, Json<Health>) {
    let store = api.store.backend_name();
    let version = env!("CARGO_PKG_VERSION");
    match api.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                version,
                store,
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded",
                    version,
                    store,
                }),
            )
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
async fn openapi_json() -> Json<serde_json::Value> {
    Json(crate::openapi_document())
}
