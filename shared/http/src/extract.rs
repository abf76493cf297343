//! Extractors whose rejections are [`ApiError`]s, so every bad request gets the same JSON shape.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use vigil_core::Error;
use vigil_core::tenancy::{Principal, Role};

use crate::ApiError;
use crate::state::{ApiKeys, BodyLimit};

fn body_error(status: StatusCode, text: String, limit: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::PayloadTooLarge { limit })
    } else {
        ApiError::invalid("invalid_body", text)
    }
}

/// A JSON body: malformed JSON, wrong types, unknown enum values and oversized bodies are
/// refused before the handler runs.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: BodyLimit + Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError(Error::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            )));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        // Two steps so that broken JSON and JSON of the wrong shape get different codes
        // (serde_json reports some shape errors, e.g. a number for an enum, as syntax errors).
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::invalid("malformed_json", format!("body is not valid JSON: {e}"))
        })?;
        // Every body these routes read is an object (or `null` where a body is optional);
        // serde would otherwise read an array into a struct field by field.
        if value.is_array() {
            return Err(ApiError::invalid(
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        serde_path_to_error::deserialize(whole_numbers_as_integers(value))
            .map(ApiJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = if path == "." {
                    e.inner().to_string()
                } else {
                    format!("{path}: {}", e.inner())
                };
                ApiError::invalid("invalid_body", message)
            })
    }
}

/// JSON has one number type, and `3.0` is an integer to JSON Schema: a whole number written
/// with a fraction is read as the integer it is (serde would refuse it for an integer field).
fn whole_numbers_as_integers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let whole = n.as_f64().filter(|f| f.fract() == 0.0);
            // Within ±2^53 an f64 holds every whole number exactly.
            let exact = whole.filter(|f| f.abs() <= 9_007_199_254_740_992.0);
            #[allow(clippy::cast_possible_truncation)]
            exact.map_or(Value::Number(n), |f| Value::from(f as i64))
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(whole_numbers_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// An optional JSON body (`Option<ApiJson<T>>`): a request without a body is `None`; one with a
/// body is read as [`ApiJson`] reads it.
impl<T: DeserializeOwned, S: BodyLimit + Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let headers = req.headers();
        let declared_length = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let has_body = match declared_length {
            Some(length) => length > 0,
            None => headers.contains_key(axum::http::header::CONTENT_TYPE),
        };
        if !has_body {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// The raw body bytes (for signature checks over exactly what was sent).
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: BodyLimit + Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = state.max_body_bytes();
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e: BytesRejection| body_error(e.status(), e.body_text(), limit))
    }
}

/// Query-string parameters, with unknown values refused as `invalid_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::invalid("invalid_query", e.body_text()))
    }
}

/// The authenticated caller of an admin API route (`Authorization: Bearer <api key>`).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: ApiKeys + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            ApiError(Error::Unauthenticated(
                "send Authorization: Bearer <api key>".into(),
            ))
        })?;
        let caller = state.keys().authenticate(token).await?;
        if let Some(tenant) = parts.extensions.get::<crate::request_log::RequestTenant>() {
            tenant.record(&caller.tenant_id);
        }
        Ok(Caller(caller))
    }
}

/// A caller whose key has at least the operator role.
#[derive(Debug, Clone)]
pub struct OperatorCaller(pub Principal);

/// A caller whose key has the admin role.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Principal);

/// The caller, refused with 403 unless its key has at least `needed`. Runs with the other
/// request-part extractors, so a refused caller's body is never read: a viewer's write is
/// refused the same way whatever it sent, at the cost of the key check alone.
async fn caller_with<S: ApiKeys + Send + Sync>(
    parts: &mut Parts,
    state: &S,
    needed: Role,
) -> Result<Principal, ApiError> {
    let Caller(caller) = Caller::from_request_parts(parts, state).await?;
    caller.require(needed)?;
    Ok(caller)
}

impl<S: ApiKeys + Send + Sync> FromRequestParts<S> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, Role::Operator)
            .await
            .map(OperatorCaller)
    }
}

impl<S: ApiKeys + Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, Role::Admin)
            .await
            .map(AdminCaller)
    }
}

/// The token of an `Authorization: Bearer …` header, if present.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
