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
