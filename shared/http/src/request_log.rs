//! One log line per HTTP request and the request id every answer carries, for every HTTP
//! function and `vigil serve` alike. The line holds the route's template, never the raw path or
//! query (either may hold secrets), and no header or body.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::RequestExt as _;
use axum::extract::{MatchedPath, RawPathParams, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header a request id is read from and answered in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest client-sent request id kept; a longer one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    /// The request id of the request being answered, for the JSON error body.
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being answered, when called while one is (error bodies use it).
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// The tenant a request turned out to act for, filled by the extractor that learns it (the
/// caller's API key), so the request's line can name it.
#[derive(Debug, Clone, Default)]
pub struct RequestTenant(Arc<OnceLock<String>>);

impl RequestTenant {
    pub fn record(&self, tenant: &str) {
        let _ = self.0.set(tenant.to_owned());
    }
}

/// A client's request id when it is a sane token (visible ASCII, 1 to 128 bytes): anything else
/// could forge or flood log lines, and is replaced.
fn sane_token(value: &str) -> Option<&str> {
    let sane = (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic());
    sane.then_some(value)
}

/// The request's id: the client's `x-request-id` when sane, else API Gateway's request id in
/// Lambda, else a new one.
fn request_id(headers: &HeaderMap, extensions: &axum::http::Extensions) -> String {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    let from_client = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(sane_token);
    let from_gateway = || match extensions.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    from_client
        .map(str::to_owned)
        .or_else(from_gateway)
        .unwrap_or_else(|| vigil_core::ids::new_id("req"))
}

/// The middleware: gives the request its id, answers it in `x-request-id`, and logs the line.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers(), request.extensions());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let tenant = RequestTenant::default();
    // A hook's tenant is in its path; an API caller's is learnt from its key.
    if let Ok(params) = request.extract_parts::<RawPathParams>().await
        && let Some((_, value)) = params.iter().find(|(name, _)| *name == "tenant")
        && let Some(value) = sane_token(value)
    {
        tenant.record(value);
    }
    request.extensions_mut().insert(tenant.clone());
    let mut response = CURRENT_REQUEST_ID
        .scope(id.clone(), next.run(request))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::info!(
        target: "vigil::http",
        method = %method,
        route,
        tenant = tenant.0.get().map(String::as_str),
        status = response.status().as_u16(),
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        request_id = id,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(value: &[u8]) -> String {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(REQUEST_ID_HEADER, value);
        }
        request_id(&headers, &axum::http::Extensions::new())
    }

    #[test]
    fn a_sane_request_id_is_kept_and_any_other_replaced() {
        assert_eq!(id_for(b"abc-123_XYZ.7"), "abc-123_XYZ.7");
        let long = "a".repeat(500);
        for insane in [
            b"bad\tid".as_slice(),
            b"two words",
            b"caf\xe9",
            long.as_bytes(),
        ] {
            let id = id_for(insane);
            assert!(id.starts_with("req_"), "{id}");
            assert_ne!(id.as_bytes(), insane);
        }
        assert!(id_for(b"").starts_with("req_"));
        assert_eq!(id_for("a".repeat(128).as_bytes()).len(), 128);
    }

    #[test]
    fn in_lambda_without_a_sane_client_id_api_gateways_request_id_is_used() {
        let event = include_str!("../../../events/ingest-domain-event.json");
        let request = lambda_http::request::from_str(event).expect("the sample event parses");
        let from_gateway = request_id(request.headers(), request.extensions());
        let sample: serde_json::Value = serde_json::from_str(event).expect("JSON");
        assert_eq!(from_gateway, sample["requestContext"]["requestId"]);
        let mut headers = request.headers().clone();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("client-7"));
        assert_eq!(request_id(&headers, request.extensions()), "client-7");
    }
}
