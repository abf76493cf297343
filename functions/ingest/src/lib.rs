//! Routes of the ingest function: `POST /hooks/{tenant}/...`. Served by Lambda through
//! `lambda_http` and by `vigil serve` directly.
#![forbid(unsafe_code)]

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::ingest::IngestOutcome;
use vigil_core::ingest::runs::{RunBatchOutcome, RunsAccepted};

/// What `POST /hooks/{tenant}/runs` answers with 200: a duplicate single run's outcome, or a
/// batch's outcomes (documents the answer; never built).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RunsAnswer {
    One(RunOutcome),
    Batch(RunBatchOutcome),
}
use vigil_core::runs::RunOutcome;
use vigil_core::signature::SignedHeaders;
use vigil_core::tenancy::auth::HookCredentials;
use vigil_http::{ApiError, AppState, RawBody};

/// The ingest routes with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_domain_event))
        .routes(routes!(post_stripe_event))
        .routes(routes!(post_runs))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Credentials a hook request carries: a bearer ingest token, or Standard Webhooks headers.
fn hook_credentials(headers: &HeaderMap) -> HookCredentials<'_> {
    HookCredentials {
        bearer: vigil_http::extract::bearer_token(headers),
        signed: SignedHeaders {
            id: header(headers, "webhook-id"),
            timestamp: header(headers, "webhook-timestamp"),
            signature: header(headers, "webhook-signature"),
        },
    }
}

/// The client address as API Gateway or a proxy reports it.
fn source_ip(headers: &HeaderMap) -> Option<&str> {
    header(headers, "x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .map(str::trim)
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
        (status = 400, description = "Malformed event", body = vigil_http::error::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = vigil_http::error::ErrorBody),
        (status = 413, description = "Body too large", body = vigil_http::error::ErrorBody),
    )
)]
pub async fn post_domain_event(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    let outcome = app
        .ingest
        .accept_domain_event(
            &tenant,
            hook_credentials(&headers),
            &body,
            source_ip(&headers),
        )
        .await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(outcome)))
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
        (status = 400, description = "A malformed event (the signature verified)", body = vigil_http::error::ErrorBody),
        (status = 401, description = "Missing, malformed, stale or wrong signature, or no endpoint secret set (`error.code` says which)", body = vigil_http::error::ErrorBody),
        (status = 413, description = "Body too large", body = vigil_http::error::ErrorBody),
    )
)]
pub async fn post_stripe_event(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<IngestOutcome>), ApiError> {
    let outcome = app
        .ingest
        .accept_stripe_event(
            &tenant,
            header(&headers, "stripe-signature"),
            &body,
            source_ip(&headers),
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
    request_body(content = vigil_core::runs::input::PostedRuns, content_type = "application/json",
        description = "One run (`run_id` and `scenario_id` required; fields Vigil does not read are kept in `extra`), or a batch of up to 100."),
    security(("ingest_token" = []), ()),
    responses(
        (status = 202, description = "One run stored", body = RunOutcome),
        (status = 200, description = "A duplicate run, or a batch's outcomes", body = RunsAnswer),
        (status = 400, description = "Malformed run or batch", body = vigil_http::error::ErrorBody),
        (status = 422, description = "A run timestamped more than a day in the future", body = vigil_http::error::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = vigil_http::error::ErrorBody),
        (status = 413, description = "Body too large", body = vigil_http::error::ErrorBody),
    )
)]
pub async fn post_runs(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let accepted = app
        .ingest
        .accept_runs(
            &app.runs,
            &tenant,
            hook_credentials(&headers),
            &body,
            source_ip(&headers),
        )
        .await?;
    Ok(match accepted {
        RunsAccepted::One(outcome) => {
            let status = if outcome.duplicate {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (status, Json(outcome)).into_response()
        }
        RunsAccepted::Batch(batch) => (StatusCode::OK, Json(batch)).into_response(),
    })
}
