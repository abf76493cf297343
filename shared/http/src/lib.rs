//! HTTP plumbing shared by every HTTP function (`ingest`, `api`) and by `vigil serve`:
//! one mapping from domain errors to responses, extractors whose rejections speak the same
//! JSON error shape, bearer-key authentication, paging, and the OpenAPI document's frame.
#![forbid(unsafe_code)]

pub mod error;
pub mod extract;
pub mod openapi;
pub mod paging;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use error::ApiError;
pub use extract::{AdminCaller, ApiJson, ApiQuery, Caller, OperatorCaller, RawBody};
pub use paging::{ListResponse, PageParams};

/// State every handler receives.
pub type AppState = Arc<vigil_core::App>;

/// Adds what every router needs: the body limit and JSON answers for unknown routes.
pub fn finish(router: Router<AppState>, app: AppState) -> Router {
    let limit = app.settings.max_body_bytes;
    router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}
