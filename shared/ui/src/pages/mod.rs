//! The pages: each handler reads what its page shows through the domain services and renders
//! its template; every change is a form post that carries the session's CSRF token and is
//! refused below the role the API would ask for.

mod anomalies;
mod api_reference;
mod approvals;
mod assets;
mod channels;
mod deliveries;
mod fields;
mod inbox;
mod keys;
mod overview;
mod reports;
mod revenue_rules;
mod routing;
mod runs;
mod scans;
mod scenarios;
mod settings;
mod sign_in;
mod workflow;
mod workflow_builder;
mod workflow_words;
mod workflows;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use vigil_core::ports::Cursor;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::sessions::Session;

pub use anomalies::{anomalies, anomaly, change_anomaly};
pub use api_reference::api_reference;
pub use approvals::{approvals, decide_approval};
pub use assets::htmx;
pub use assets::stylesheet;
pub use channels::{
    add_channel, channels, confirm_delete_channel, delete_channel, switch_channel, test_channel,
};
pub use deliveries::{dead_letters, deliveries, delivery, requeue_dead_letters, retry_delivery};
pub use inbox::{act_on_inbox_item, inbox, inbox_item};
pub use keys::{confirm_revoke_key, create_key, keys, revoke_key};
pub use overview::overview;
pub use reports::{report, reports};
pub use revenue_rules::{change_revenue_rule, revenue_rules};
pub use routing::{add_routing_rule, remove_routing_rule, routing, save_redaction};
pub use runs::{run, runs};
pub use scans::{run_scan_now, save_schedule, scan, scans};
pub use scenarios::{scenario, scenarios, set_baseline};
pub use settings::{
    alert_settings, ingest, save_alert_settings, save_stripe_secrets, send_test_alert, settings,
};
pub use sign_in::{sign_in, sign_in_form, sign_out};
pub use workflow::{retry_workflow_run, test_workflow, workflow, workflow_run};
pub use workflow_builder::{edit_workflow, new_workflow, post_edit_workflow, post_new_workflow};
pub use workflows::{toggle_workflow, workflow_templates, workflows};

/// Items on one page of a list.
const PAGE: u32 = 50;

/// A time as every page shows it.
pub(super) fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The choices of a filter, each with whether it is the one chosen.
pub(super) fn choices(
    words: impl IntoIterator<Item = &'static str>,
    chosen: &str,
) -> Vec<(&'static str, bool)> {
    words.into_iter().map(|w| (w, w == chosen)).collect()
}

/// The severities as a filter offers them.
pub(super) fn severity_choices(chosen: &str) -> Vec<(&'static str, bool)> {
    choices(
        vigil_core::severity::Severity::ALL.map(vigil_core::severity::Severity::as_str),
        chosen,
    )
}

/// The notification types as a filter offers them.
pub(super) fn type_choices(chosen: &str) -> Vec<(&'static str, bool)> {
    choices(
        vigil_core::delivery::NotificationType::ALL
            .map(vigil_core::delivery::NotificationType::as_str),
        chosen,
    )
}

/// What every signed-in page shows around its content.
pub(super) struct Chrome {
    csrf_token: String,
    tenant_id: String,
    role: &'static str,
    /// The navigation entry of this page.
    current: &'static str,
}

impl Chrome {
    pub(super) fn of(session: &Session, current: &'static str) -> Self {
        Self {
            csrf_token: session.csrf_token.clone(),
            tenant_id: session.tenant_id.clone(),
            role: session.role.as_str(),
            current,
        }
    }
}

pub(super) fn render(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page that says what went wrong, with the status the API would answer.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl From<vigil_core::Error> for ErrorPage {
    fn from(error: vigil_core::Error) -> Self {
        use vigil_core::Error as E;
        let (status, title) = match &error {
            E::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            E::Conflict(_) => (StatusCode::CONFLICT, "Already changed"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Try again shortly"),
            E::Invalid { .. } | E::InvalidFields { .. } => (StatusCode::BAD_REQUEST, "Not valid"),
            _ if error.is_retryable() => (StatusCode::INTERNAL_SERVER_ERROR, "Something failed"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "Not possible"),
        };
        if status.is_server_error() {
            tracing::error!(%error, "console request failed");
        }
        Self {
            status,
            title,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        render(&self, self.status)
    }
}

pub(super) fn forbidden(message: &str) -> Response {
    ErrorPage {
        status: StatusCode::FORBIDDEN,
        title: "Not allowed",
        message: message.to_owned(),
    }
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

/// Whether a form sent the session's CSRF token.
pub(super) fn csrf_ok(session: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| session.csrf_matches(sent))
}

/// Whether a change carries the session's CSRF token: in its form's `csrf` field, or in the
/// header in-place (htmx) requests send it in.
pub(super) fn csrf_sent(signed_in: &crate::session::SignedIn, form: Option<&str>) -> bool {
    csrf_ok(
        &signed_in.session,
        form.or(signed_in.csrf_header.as_deref()),
    )
}

/// A filter's word read as the API reads it (`open`, `SEV2`); none when not chosen.
pub(super) fn word<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    field: &str,
) -> Result<Option<T>, ErrorPage> {
    use serde::de::IntoDeserializer as _;
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let words: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        text.into_deserializer();
    T::deserialize(words).map(Some).map_err(|_| {
        ErrorPage::from(vigil_core::Error::invalid(
            "invalid_query",
            format!("{text:?} is not a {field} this list knows"),
        ))
    })
}

/// The cursor of a list page's `cursor` parameter, when there is one.
pub(super) fn cursor(text: Option<&str>) -> Result<Option<Cursor>, ErrorPage> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Ok(Some(Cursor::decode(text).map_err(vigil_core::Error::from)?)),
    }
}

/// The link to a list's next page: its filters as chosen, then the cursor.
pub(super) fn next_page(path: &str, filters: &[(&str, &str)], next: &Cursor) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(filters);
    query.append_pair("cursor", &next.encode());
    format!("{path}?{}", query.finish())
}

/// Who changed something through the console: the key its session was opened with.
pub(super) fn actor(session: &Session) -> Actor {
    Actor::ApiKey {
        key_id: session.key_id.clone(),
    }
}
