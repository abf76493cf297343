//! Domain errors mapped to HTTP once: `{"error":{"code","message","request_id"}}` with the right
//! status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigil_core::Error;

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_body`, `not_found`.
    pub code: String,
    pub message: String,
    /// Each problem of a rejected document, at its JSON path (only for such documents).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<vigil_core::error::FieldProblem>,
    /// The request's id, as answered in `x-request-id` and logged with the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 128)]
    pub request_id: Option<String>,
}

impl ErrorDetail {
    fn new(code: String, message: String, problems: Vec<vigil_core::error::FieldProblem>) -> Self {
        ErrorDetail {
            code,
            message,
            problems,
            request_id: crate::request_log::current_request_id(),
        }
    }
}

/// Any error a handler returns.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Error::invalid(code, message))
    }

    pub fn status(&self) -> StatusCode {
        match &self.0 {
            // Bad input, also a posted document's problems, each at its JSON path.
            Error::Invalid { .. } | Error::InvalidFields { .. } => StatusCode::BAD_REQUEST,
            // Rules between fields, or between a field and stored state.
            Error::Unprocessable { .. } | Error::UnprocessableFields { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::Unauthenticated(_) | Error::Unverified { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self.0 {
            // Internals stay in the log, not in the answer.
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_string()
            }
            Error::Unavailable(detail) => {
                tracing::warn!(error = %detail, "backend unavailable");
                self.0.to_string()
            }
            other => other.to_string(),
        };
        let problems = match &self.0 {
            Error::InvalidFields { problems, .. } | Error::UnprocessableFields { problems, .. } => {
                problems.clone()
            }
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: ErrorDetail::new(self.0.code().to_string(), message, problems),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Worth another try later; webhook senders honour the header.
        let retry_after = match &self.0 {
            // A busy or unreachable backend: shortly.
            Error::Unavailable(_) => Some(HeaderValue::from_static(RETRY_AFTER_SECONDS)),
            // A tenant past its rate: when its bucket has a token again.
            Error::RateLimited {
                retry_after_seconds,
            } => Some(HeaderValue::from(*retry_after_seconds)),
            _ => None,
        };
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// What a 503 answer asks its caller to wait before trying again.
const RETRY_AFTER_SECONDS: &str = "1";

/// Fallback for routes that don't exist.
pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound("route".into()))
}

/// Fallback for a known route called with a method it does not serve.
pub async fn method_not_allowed() -> Response {
    let body = ErrorBody {
        error: ErrorDetail::new(
            "method_not_allowed".into(),
            "this route does not accept that method".into(),
            Vec::new(),
        ),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_backend_and_a_tenant_past_its_rate_say_when_to_retry() {
        let response = ApiError(Error::Unavailable("write queue full".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        let limited = ApiError(Error::RateLimited {
            retry_after_seconds: 3,
        })
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            limited.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("3"))
        );
        let not_found = ApiError(Error::NotFound("x".into())).into_response();
        assert!(not_found.headers().get(header::RETRY_AFTER).is_none());
    }
}
