//! The routes of Vigil, assembled in this one place: the admin API (`/api/v1/...`, bearer API
//! keys) that the `api` function serves, the hooks (`/hooks/{tenant}/...`) that the `ingest`
//! function serves, and both together under `vigil serve`.

mod api;
mod hooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use vigil_runtime::App;

pub use hooks::SourceIp;

use crate::state::{ApiServices, ApiState, IngestServices, IngestState};

/// Adds what every served router needs: the body limit, JSON answers for unknown routes, and
/// the request id and log line of every request (outermost, so every answer has them).
fn finish(router: Router, max_body_bytes: usize) -> Router {
    router
        .fallback(crate::error::not_found)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(crate::request_log::layer))
}

/// The OpenAPI document of every Vigil HTTP route (admin API and hooks), as served.
pub fn openapi_document() -> serde_json::Value {
    let (_, api_paths) = api::router().split_for_parts();
    let (_, hook_paths) = hooks::router().split_for_parts();
    let mut doc = crate::openapi::base();
    doc.merge(api_paths);
    doc.merge(hook_paths);
    crate::openapi::finish(doc)
}

fn api_routes(state: ApiState) -> Router {
    let (routes, _): (axum::Router<ApiState>, _) = api::router().split_for_parts();
    routes.with_state(state)
}

fn hook_routes(state: IngestState) -> Router {
    let (routes, _): (axum::Router<IngestState>, _) = hooks::router().split_for_parts();
    routes.with_state(state)
}

/// The admin API as a finished service (what the `api` function runs).
pub fn api_service(state: ApiState) -> Router {
    let limit = state.max_body_bytes;
    finish(api_routes(state), limit)
}

/// The hooks as a finished service (what the `ingest` function runs).
pub fn ingest_service(state: IngestState) -> Router {
    let limit = state.max_body_bytes;
    finish(hook_routes(state), limit)
}

/// The console as a finished service (what a console function runs).
pub fn console_service(state: vigil_ui::ConsoleState, max_body_bytes: usize) -> Router {
    finish(vigil_ui::router(state), max_body_bytes)
}

/// Every HTTP route of Vigil on one router (what `vigil serve` runs), sharing `app`'s services:
/// the console at `/`, the admin API under `/api/v1`, the hooks under `/hooks`.
pub fn all_routes(app: &App) -> Router {
    let routes = api_routes(ApiServices::new(app))
        .merge(hook_routes(IngestServices::new(app)))
        .merge(vigil_ui::router(vigil_ui::ConsoleServices::new(app)));
    finish(routes, app.settings.max_body_bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_ref_of_the_document_resolves() {
        let doc = super::openapi_document();
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
        assert_eq!(
            crate::openapi::dangling_refs(&doc),
            Vec::<String>::new(),
            "$refs the document does not define"
        );
    }

    #[test]
    fn every_documented_answer_carries_the_request_id_header() {
        let doc = super::openapi_document();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        for (path, item) in &paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    assert_eq!(
                        response["headers"]["x-request-id"]["$ref"],
                        "#/components/headers/RequestId",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        assert_eq!(
            doc["components"]["headers"]["RequestId"]["schema"]["maxLength"],
            crate::request_log::MAX_REQUEST_ID_LEN
        );
    }

    #[test]
    fn no_schema_refers_to_itself() {
        // A generator walking a schema that contains itself may not end: nested workflow
        // steps and conditions are stated level by level instead.
        fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                        found.push(target.trim_start_matches("#/components/schemas/").into());
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let doc = super::openapi_document();
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in schemas.keys() {
            let mut seen = std::collections::BTreeSet::new();
            let mut todo = vec![name.clone()];
            while let Some(next) = todo.pop() {
                let mut found = Vec::new();
                refs(&schemas[&next], &mut found);
                for target in found {
                    assert_ne!(&target, name, "{name} refers to itself through {next}");
                    if seen.insert(target.clone()) {
                        todo.push(target);
                    }
                }
            }
        }
        assert!(schemas.contains_key("Step3") && schemas.contains_key("Condition3"));
    }

    #[test]
    fn every_url_vigil_calls_is_documented_with_the_pattern_it_is_checked_against() {
        let doc = super::openapi_document();
        let pattern = serde_json::json!(vigil_core::target_url::TARGET_URL_PATTERN);
        for schema in ["NewChannel", "ChannelPatch"] {
            let url = &doc["components"]["schemas"][schema]["properties"]["url"];
            assert_eq!(url["pattern"], pattern, "{schema}");
        }
        let steps = doc["components"]["schemas"]["ActionStep"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let request = steps
            .iter()
            .find(|s| s["properties"]["type"]["enum"][0] == "http_request")
            .cloned()
            .unwrap_or_default();
        assert_eq!(request["properties"]["url"]["pattern"], pattern);
        assert_eq!(request["additionalProperties"], false);
    }
}
