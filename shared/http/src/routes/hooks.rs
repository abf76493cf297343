//! The hooks: `POST /hooks/{tenant}/...`, what the ingest function serves (through
//! `lambda_http`) and `vigil serve` serves beside the admin API. Each authenticated request takes one token of
//! the tenant's hook bucket (shared by every instance); past it the answer is 429.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::ingest::IngestOutcome;
use vigil_core::ingest::automation_runs::{RunBatchOutcome, RunsAccepted};

/// What `POST /hooks/{tenant}/runs` answers with 200: a duplicate single run's outcome, or a
/// batch's outcomes (documents the answer; never built).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RunsAnswer {
    One(RunOutcome),
    Batch(RunBatchOutcome),
}
use crate::error::ApiError;
use crate::extract::RawBody;
use crate::state::IngestState;
use vigil_core::automation_runs::RunOutcome;
use vigil_core::standard_webhooks::SignedHeaders;
use vigil_core::tenancy::auth::HookCredentials;

/// The ingest routes with their OpenAPI description.
pub(super) fn router() -> OpenApiRouter<IngestState> {
    OpenApiRouter::new()
        .routes(routes!(post_domain_event))
        .routes(routes!(post_stripe_event))
        .routes(routes!(post_runs))
}

/// 202 for what was stored now, 200 for a repeat of what was stored before.
fn stored_status(duplicate: bool) -> StatusCode {
    if duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Credentials a hook request carries: a bearer ingest token, or Standard Webhooks headers.
fn hook_credentials(headers: &HeaderMap) -> HookCredentials<'_> {
    HookCredentials {
        bearer: crate::extract::bearer_token(headers),
        signed: SignedHeaders {
            id: header(headers, "webhook-id"),
            timestamp: header(headers, "webhook-timestamp"),
            signature: header(headers, "webhook-signature"),
        },
    }
}

/// The address a hook came from, as the platform saw it: API Gateway's request context in Lambda
/// (`requestContext.http.sourceIp`), the socket's peer under `vigil serve`. Never the
/// client-supplied `X-Forwarded-For`, which anyone can set. None when neither is there (a router
/// called directly, as the product tests do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceIp(pub Option<String>);

impl SourceIp {
    fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::RequestExt as _;
        use lambda_http::request::RequestContext;
        let from_gateway = match parts.extensions.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            _ => None,
        };
        let from_socket = || {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip().to_string())
        };
        Ok(SourceIp(from_gateway.or_else(from_socket)))
    }
}

/// Accept a domain event.
///
/// Authenticated by `Authorization: Bearer <ingest token>` or a Standard Webhooks signature
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the tenant's signing secret.
/// Stored once per `id`: a repeat answers 200 with `duplicate: true` and writes nothing.
#[utoipa::path(
    post,
    path = "/hooks/{tenant}/events",
    tag = "ingest",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(content = vigil_core::ingest::DomainEvent, content_type = "application/json"),
    security(("ingest_token" = []), ()),
    responses(
        (status = 202, description = "Stored and published", body = IngestOutcome),
        (status = 200, description = "Already stored (duplicate id)", body = IngestOutcome),
        (status = 400, description = "Malformed event", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 429, description = "The tenant is past its hook rate (`VIGIL_INGEST_RATE_PER_SECOND`, bursts up to `VIGIL_INGEST_BURST`, one token per request over all its hook routes): `error.code` is `rate_limited`; nothing was stored", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Whole seconds (at least 1) until the tenant's bucket has a token again"))),
    )
)]
pub async fn post_domain_event(
    State(hooks): State<IngestState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    source_ip: SourceIp,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    let outcome = hooks
        .ingest
        .accept_domain_event(
            &tenant,
            hook_credentials(&headers),
            &body,
            source_ip.as_deref(),
        )
        .await?;
    Ok((stored_status(outcome.duplicate), Json(outcome)))
}

/// Accept a Stripe webhook event.
///
/// Verified with `Stripe-Signature` (`t=…,v1=…`, HMAC-SHA256 of `"{t}.{raw body}"` with an
/// endpoint secret set by `PUT /api/v1/sources/stripe`; 5-minute tolerance) before the body is
/// parsed. Stored once per Stripe event id: a retry answers 200 with `duplicate: true`.
#[utoipa::path(
    post,
    path = "/hooks/{tenant}/stripe",
    tag = "ingest",
    params(("tenant" = String, Path, description = "Tenant id"),
           ("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body(content = vigil_core::stripe::StripeEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or already stored: duplicate)", body = IngestOutcome),
        (status = 400, description = "A malformed event (the signature verified)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, malformed, oversized (over 2 KiB), stale or wrong signature, or no endpoint secret set (`error.code` says which)", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 429, description = "The tenant is past its hook rate (`VIGIL_INGEST_RATE_PER_SECOND`, bursts up to `VIGIL_INGEST_BURST`, one token per request over all its hook routes): `error.code` is `rate_limited`; nothing was stored", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Whole seconds (at least 1) until the tenant's bucket has a token again"))),
    )
)]
pub async fn post_stripe_event(
    State(hooks): State<IngestState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    source_ip: SourceIp,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    let outcome = hooks
        .ingest
        .accept_stripe_event(
            &tenant,
            header(&headers, "stripe-signature"),
            &body,
            source_ip.as_deref(),
        )
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

/// Report automation runs (Make, n8n, Zapier, GoHighLevel, …).
///
/// One run (a JSON object) or a batch of up to 100 (an array). Authenticated like domain events.
/// Each run is stored once per `run_id` and classified against its scenario's baseline; SEV0–SEV2
/// open a `credit_spike` anomaly. A single run answers 202 (200 when it is a duplicate) with its
/// classification; a batch answers 200 listing each run's outcome and each rejected item.
#[utoipa::path(
    post,
    path = "/hooks/{tenant}/runs",
    tag = "ingest",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(content = vigil_core::automation_runs::input::PostedRuns, content_type = "application/json",
        description = "One run (`run_id` and `scenario_id` required; fields Vigil does not read are kept in `extra`), or a batch of up to 100."),
    security(("ingest_token" = []), ()),
    responses(
        (status = 202, description = "One run stored", body = RunOutcome),
        (status = 200, description = "A duplicate run, or a batch's outcomes", body = RunsAnswer),
        (status = 400, description = "Malformed run or batch", body = crate::error::ErrorBody),
        (status = 422, description = "A run timestamped more than a day in the future", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 429, description = "The tenant is past its hook rate (`VIGIL_INGEST_RATE_PER_SECOND`, bursts up to `VIGIL_INGEST_BURST`, one token per request over all its hook routes): `error.code` is `rate_limited`; nothing was stored", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Whole seconds (at least 1) until the tenant's bucket has a token again"))),
    )
)]
pub async fn post_runs(
    State(hooks): State<IngestState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    source_ip: SourceIp,
    RawBody(body): RawBody,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let accepted = hooks
        .ingest
        .accept_runs(
            &hooks.automation_runs,
            &tenant,
            hook_credentials(&headers),
            &body,
            source_ip.as_deref(),
        )
        .await?;
    Ok(match accepted {
        RunsAccepted::One(outcome) => {
            (stored_status(outcome.duplicate), Json(outcome)).into_response()
        }
        RunsAccepted::Batch(batch) => (StatusCode::OK, Json(batch)).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn source_ip_of(request: axum::http::Request<()>) -> Option<String> {
        let (mut parts, ()) = request.into_parts();
        let Ok(SourceIp(ip)) = SourceIp::from_request_parts(&mut parts, &()).await;
        ip
    }

    #[tokio::test]
    async fn the_source_ip_is_api_gateways_not_the_forwarded_for_header() {
        // GIVEN an HTTP API event whose client claims another address in X-Forwarded-For
        let event = include_str!("../../../../events/ingest-domain-event.json").replace(
            r#""x-forwarded-for": "203.0.113.7""#,
            r#""x-forwarded-for": "198.51.100.66""#,
        );
        let request = lambda_http::request::from_str(&event).expect("the sample event parses");
        let (parts, _) = request.into_parts();
        // THEN the address API Gateway saw is used
        let request = axum::http::Request::from_parts(parts, ());
        assert_eq!(source_ip_of(request).await.as_deref(), Some("203.0.113.7"));
    }

    #[tokio::test]
    async fn under_serve_the_peer_address_is_used_and_without_either_none() {
        let peer: SocketAddr = "192.0.2.10:40000".parse().expect("an address");
        let forwarded = || {
            axum::http::Request::builder()
                .header("x-forwarded-for", "198.51.100.66")
                .body(())
                .expect("a request")
        };
        // WHEN a request carries neither API Gateway's context nor a peer, THEN no address
        assert_eq!(source_ip_of(forwarded()).await, None);
        // WHEN it comes through `vigil serve`'s listener, THEN the peer's address
        let mut request = forwarded();
        request.extensions_mut().insert(ConnectInfo(peer));
        assert_eq!(source_ip_of(request).await.as_deref(), Some("192.0.2.10"));
    }
}
