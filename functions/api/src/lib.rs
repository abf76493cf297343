//! Routes of the admin API function: `/api/v1/...`, authenticated by bearer API keys.
//! Served by Lambda through `lambda_http` and by `vigil serve` directly.
#![forbid(unsafe_code)]

mod routes;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use vigil_http::AppState;

/// The admin API routes with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

/// The OpenAPI document of every Vigil HTTP route (admin API and ingest), as served.
pub fn openapi_document() -> serde_json::Value {
    let (_, api_paths) = router().split_for_parts();
    let (_, ingest_paths) = vigil_ingest::router().split_for_parts();
    let mut doc = vigil_http::openapi::base();
    doc.merge(api_paths);
    doc.merge(ingest_paths);
    vigil_http::openapi::finish(doc)
}

/// The admin API as a finished service (what the `api` Lambda runs).
pub fn service(app: AppState) -> Router {
    let (routes, _) = router().split_for_parts();
    vigil_http::finish(routes, app)
}

/// Every HTTP route of Vigil on one router (what `vigil serve` runs).
pub fn all_routes(app: AppState) -> Router {
    let (api, _) = router().split_for_parts();
    let (ingest, _) = vigil_ingest::router().split_for_parts();
    vigil_http::finish(api.merge(ingest), app)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_ref_of_the_document_resolves() {
        let doc = super::openapi_document();
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
        assert_eq!(
            vigil_http::openapi::dangling_refs(&doc),
            Vec::<String>::new(),
            "$refs the document does not define"
        );
    }
}
