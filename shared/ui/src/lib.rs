//! The Vigil console: the pages people live in, rendered on the server from compile-time-checked
//! templates (`templates/`), over the same domain services and role checks as the admin API.
//! Sign-in takes an API key and opens a server-side session (an HttpOnly, SameSite=Strict
//! cookie); every form carries the session's CSRF token; every asset ships in the binary.
#![forbid(unsafe_code)]

pub mod api_reference;
mod builder;
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
use vigil_core::delivery::channels::ChannelService;
use vigil_core::delivery::dead_letters::DeadLetterService;
use vigil_core::delivery::dispatcher::Dispatcher;
use vigil_core::delivery::inbox::InboxService;
use vigil_core::delivery::outbox::OutboxService;
use vigil_core::delivery::routing::RoutingService;
use vigil_core::ingest::IngestService;
use vigil_core::reports::ReportService;
use vigil_core::rules::RuleService;
use vigil_core::tenancy::keys::KeyService;
use vigil_core::tenancy::sessions::SessionService;
use vigil_core::tenancy::tenants::TenantService;
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
    /// Automation runs, their scenarios and baselines, and health scans.
    pub automation_runs: Arc<RunService>,
    /// Whether the session cookie is marked `Secure` (the console is served over HTTPS).
    pub secure_cookies: bool,
    /// Settings and deliveries: channels, their test sends, the outbox, alert settings, keys,
    /// the tenant's Stripe secrets (and the ingest's cache of them), dead letters.
    pub channels: Arc<ChannelService>,
    pub routing: Arc<RoutingService>,
    pub rules: Arc<RuleService>,
    pub dispatcher: Arc<Dispatcher>,
    pub outbox: Arc<OutboxService>,
    pub keys: Arc<KeyService>,
    pub tenants: Arc<TenantService>,
    pub ingest: Arc<IngestService>,
    pub dead_letters: Arc<DeadLetterService>,
    /// `VIGIL_PUBLIC_URL`: the base of the ingest URLs the settings show.
    pub public_url: Option<String>,
    pub reports: Arc<ReportService>,
    api_reference: OnceLock<ApiReference>,
}

impl ConsoleServices {
    pub fn new(app: &App) -> ConsoleState {
        let public_url = app.settings.delivery.public_url.as_deref();
        Arc::new(Self {
            sessions: app.sessions().clone(),
            inbox: app.inbox().clone(),
            anomalies: app.anomalies().clone(),
            engine: app.engine().clone(),
            automation_runs: app.automation_runs().clone(),
            secure_cookies: public_url.is_some_and(|url| url.starts_with("https://")),
            channels: app.channels().clone(),
            routing: app.routing().clone(),
            rules: app.rules().clone(),
            dispatcher: app.dispatcher().clone(),
            outbox: app.outbox().clone(),
            keys: app.keys().clone(),
            tenants: app.tenants().clone(),
            ingest: app.ingest().clone(),
            dead_letters: app.dead_letters().clone(),
            public_url: public_url.map(str::to_owned),
            reports: app.reports().clone(),
            api_reference: OnceLock::new(),
        })
    }

    /// The API reference, read from the shipped OpenAPI document once.
    pub fn api_reference(&self) -> &ApiReference {
        self.api_reference.get_or_init(|| {
            let document = serde_json::from_str(OPENAPI_DOCUMENT).unwrap_or_else(|error| {
                tracing::error!(%error, "the shipped OpenAPI document does not parse");
                serde_json::Value::Null
            });
            ApiReference::of(&document)
        })
    }
}

/// The OpenAPI document the API serves, shipped as a file: making it would link every API
/// handler into the console's function, past its size budget. A test of `vigil-http` keeps the
/// file equal to the served document.
pub const OPENAPI_DOCUMENT: &str = include_str!("../assets/openapi.json");

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
        .route("/runs", get(pages::runs))
        .route("/runs/scenarios", get(pages::scenarios))
        .route("/runs/scenarios/{id}", get(pages::scenario))
        .route("/runs/scenarios/{id}/baseline", post(pages::set_baseline))
        .route("/runs/{run_id}", get(pages::run))
        .route("/scans", get(pages::scans))
        .route("/scans/schedule", post(pages::save_schedule))
        .route("/scans/run-now", post(pages::run_scan_now))
        .route("/scans/{id}", get(pages::scan))
        .route("/settings", get(pages::settings))
        .route(
            "/settings/channels",
            get(pages::channels).post(pages::add_channel),
        )
        .route("/settings/channels/{id}/test", post(pages::test_channel))
        .route(
            "/settings/channels/{id}/enabled",
            post(pages::switch_channel),
        )
        .route(
            "/settings/channels/{id}/delete",
            get(pages::confirm_delete_channel).post(pages::delete_channel),
        )
        .route(
            "/settings/alerts",
            get(pages::alert_settings).post(pages::save_alert_settings),
        )
        .route("/settings/alerts/test", post(pages::send_test_alert))
        .route(
            "/settings/routing",
            get(pages::routing).post(pages::add_routing_rule),
        )
        .route("/settings/routing/remove", post(pages::remove_routing_rule))
        .route("/settings/redaction", post(pages::save_redaction))
        .route("/settings/keys", get(pages::keys).post(pages::create_key))
        .route(
            "/settings/keys/{id}/revoke",
            get(pages::confirm_revoke_key).post(pages::revoke_key),
        )
        .route("/settings/ingest", get(pages::ingest))
        .route("/settings/stripe", post(pages::save_stripe_secrets))
        .route("/settings/rules", get(pages::revenue_rules))
        .route("/settings/rules/{id}", post(pages::change_revenue_rule))
        .route("/deliveries", get(pages::deliveries))
        .route("/deliveries/dead-letters", get(pages::dead_letters))
        .route(
            "/deliveries/dead-letters/requeue",
            post(pages::requeue_dead_letters),
        )
        .route("/deliveries/{id}", get(pages::delivery))
        .route("/deliveries/{id}/retry", post(pages::retry_delivery))
        .route("/workflows", get(pages::workflows))
        .route("/workflows/templates", get(pages::workflow_templates))
        .route(
            "/workflows/new",
            get(pages::new_workflow).post(pages::post_new_workflow),
        )
        .route("/workflows/{id}", get(pages::workflow))
        .route(
            "/workflows/{id}/edit",
            get(pages::edit_workflow).post(pages::post_edit_workflow),
        )
        .route("/workflows/{id}/toggle", post(pages::toggle_workflow))
        .route("/workflows/{id}/test", post(pages::test_workflow))
        .route("/workflows/runs/{run_id}", get(pages::workflow_run))
        .route(
            "/workflows/runs/{run_id}/retry",
            post(pages::retry_workflow_run),
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
