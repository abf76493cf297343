//! Every HTTP route of Vigil, assembled once for the HTTP functions (`ingest`, `api`) and for
//! `vigil serve`, with the plumbing they share: one mapping from domain errors to responses,
//! extractors whose rejections speak the same JSON error shape, bearer-key authentication,
//! paging, each function's state, and the OpenAPI document.
#![forbid(unsafe_code)]

pub mod error;
pub mod extract;
pub mod openapi;
pub mod paging;
pub mod request_log;
pub mod routes;
pub mod state;

pub use error::ApiError;
pub use extract::{AdminCaller, ApiJson, ApiQuery, Caller, OperatorCaller, RawBody};
pub use paging::{ListResponse, PageParams};

pub use routes::{all_routes, api_service, console_service, ingest_service, openapi_document};
pub use state::{ApiServices, ApiState, IngestServices, IngestState};
