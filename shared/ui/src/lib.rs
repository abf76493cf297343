//! The Vigil console: the pages people live in, rendered on the server from compile-time-checked
//! templates (`templates/`), over the same domain services and role checks as the admin API.
//! Sign-in takes an API key and opens a server-side session (an HttpOnly, SameSite=Strict
//! cookie); every form carries the session's CSRF token; every asset ships in the binary.
#![forbid(unsafe_code)]

pub mod api_reference;
pub mod charts;
mod pages;
mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use vigil_core::anomaly::AnomalyService;
use vigil_core::automation_runs::RunService;
use vigil_core::delivery::inbox::InboxService;
use vigil_core::reports::ReportService;
use vigil_core::tenancy::sessions::SessionService;
use vigil_core::workflows::WorkflowEngine;
use vigil_runtime::App;

use crate::api_reference::ApiReference;

/// The state of every console route.
pub type ConsoleState = Arc<ConsoleServices>;

/// The services the console's pages use.
pub struct ConsoleServices {
    pub sessions: Arc<SessionService>,
    pub inbox: Arc<InboxService>,
    pub anomalies: Arc<AnomalyService>,
    /// Approvals are decided through the run engine, which goes on with the run.
    pub engine: Arc<WorkflowEngine>,
    /// Whether the session cookie is marked `Secure` (the console is served over HTTPS).
    pub secure_cookies: bool,
    pub reports: Arc<ReportService>,
    pub automation_runs: Arc<RunService>,
    /// The API's OpenAPI document, made on the first visit of the API reference (the console
    /// cannot import the API's routes: whoever composes both hands the maker over).
    pub openapi: fn() -> serde_json::Value,
    api_reference: OnceLock<ApiReference>,
}

impl ConsoleServices {
    pub fn new(app: &App, openapi: fn() -> serde_json::Value) -> ConsoleState {
        let public_url = app.settings.delivery.public_url.as_deref();
        Arc::new(Self {
            sessions: app.sessions().clone(),
            inbox: app.inbox().clone(),
            anomalies: app.anomalies().clone(),
            engine: app.engine().clone(),
            secure_cookies: public_url.is_some_and(|url| url.starts_with("https://")),
            reports: app.reports().clone(),
            automation_runs: app.automation_runs().clone(),
            openapi,
            api_reference: OnceLock::new(),
        })
    }

    /// The API reference, read from the OpenAPI document once.
    pub fn api_reference(&self) -> &ApiReference {
        self.api_reference
            .get_or_init(|| ApiReference::of(&(self.openapi)()))
    }
}

/// Scripts and styles come from the console's own origin only; nothing inline runs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes (no fallback: they are merged with the API's).
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/inbox", get(pages::inbox))
        .route("/inbox/{id}", get(pages::inbox_item))
        .route("/inbox/{id}/{action}", post(pages::act_on_inbox_item))
        .route("/anomalies", get(pages::anomalies))
        .route(
            "/anomalies/{id}",
            get(pages::anomaly).post(pages::change_anomaly),
        )
        .route("/approvals", get(pages::approvals))
        .route(
            "/approvals/{run_id}/{decision}",
            post(pages::decide_approval),
        )
        .route("/assets/console.css", get(pages::stylesheet))
        .route("/reports", get(pages::reports))
        .route("/reports/{id}", get(pages::report))
        .route("/api-reference", get(pages::api_reference))
        .route("/assets/htmx.min.js", get(pages::htmx))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
