//! Settings: the tenant's channels, alert settings, API keys, ingest URLs and Stripe secrets,
//! each a page with its own form. Everyone signed in reads what the API lets their role read;
//! changes need the role the API asks for (admin) and the session's CSRF token.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::automation_runs::RunSettings;
use vigil_core::ingest::urls::IngestUrls;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;
use vigil_core::tenancy::tenants::TenantView;

use super::fields::{Field, Problems};
use super::{Chrome, CsrfForm, ErrorPage, actor, csrf_ok, render};
use crate::ConsoleState;
use crate::session::SignedIn;

/// The settings pages, as their sub-navigation lists them.
const SECTIONS: [(&str, &str); 6] = [
    ("/settings/channels", "Channels"),
    ("/settings/routing", "Routing and redaction"),
    ("/settings/alerts", "Alert settings"),
    ("/settings/keys", "API keys"),
    ("/settings/ingest", "Ingest URLs and Stripe"),
    ("/settings/rules", "Revenue rules"),
];

/// The settings sub-navigation with `current` marked: (path, label, is current).
pub(super) fn sections(current: &str) -> Vec<(&'static str, &'static str, bool)> {
    SECTIONS
        .iter()
        .map(|&(path, label)| (path, label, path == current))
        .collect()
}

/// Whether a settings change may go ahead: the form carries the session's token, and the
/// session's role is at least `role` (what the API route asks for).
pub(super) fn may_change(
    session: &Session,
    csrf: Option<&str>,
    role: Role,
) -> Result<(), ErrorPage> {
    if !csrf_ok(session, csrf) {
        return Err(ErrorPage {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: "This form has expired; reload the page and try again.".into(),
        });
    }
    Ok(session.principal().require(role)?)
}

/// An admin's change posted from a form: checked as [`may_change`], made, and the browser sent
/// on to `then`. (`change` is a future: nothing of it runs before the checks pass.)
pub(super) async fn admin_post<T>(
    session: &Session,
    csrf: Option<&str>,
    change: impl Future<Output = vigil_core::Result<T>>,
    then: &str,
) -> Result<Response, ErrorPage> {
    may_change(session, csrf, Role::Admin)?;
    change.await?;
    Ok(Redirect::to(then).into_response())
}

/// An answer that carries a secret shown this once: no cache keeps it, and going back does not
/// show it again.
pub(super) fn shown_once(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
}

pub async fn settings(signed_in: SignedIn) -> Response {
    let page = SettingsPage {
        chrome: Chrome::of(&signed_in.session, "settings"),
        sections: sections("/settings"),
    };
    render(&page, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "settings_alerts.html")]
struct AlertSettingsPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    can_change: bool,
    enabled: bool,
    alert_on_critical: bool,
    fields: Vec<Field>,
    problems: Problems,
}

fn alert_fields(threshold: String, window: String) -> Vec<Field> {
    vec![
        Field::number(
            "failure_threshold",
            "Failed runs that alert",
            "How many failed runs of one scenario within the window raise an alert (1–100000).",
            (1, 100_000),
        )
        .with_value(threshold),
        Field::number(
            "time_window_hours",
            "Window, in hours",
            "The hours the failed runs are counted over (1–720).",
            (1, 720),
        )
        .with_value(window),
    ]
}

pub async fn alert_settings(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let settings = console.automation_runs.settings(&session.tenant_id).await?;
    let page = AlertSettingsPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/alerts"),
        can_change: session.role.at_least(Role::Admin),
        enabled: settings.enabled,
        alert_on_critical: settings.alert_on_critical,
        fields: alert_fields(
            settings.failure_threshold.to_string(),
            settings.time_window_hours.to_string(),
        ),
        problems: Problems::default(),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct AlertSettingsForm {
    csrf: Option<String>,
    enabled: Option<String>,
    alert_on_critical: Option<String>,
    failure_threshold: Option<String>,
    time_window_hours: Option<String>,
}

/// The settings with the form's values in place of the saved ones; the field a number is
/// missing from when one is not a whole number.
fn apply_alert_form(
    mut settings: RunSettings,
    form: &AlertSettingsForm,
) -> Result<RunSettings, &'static str> {
    let number = |text: &Option<String>| text.as_deref().unwrap_or("").trim().parse::<u32>().ok();
    settings.failure_threshold = number(&form.failure_threshold).ok_or("failure_threshold")?;
    settings.time_window_hours = number(&form.time_window_hours).ok_or("time_window_hours")?;
    settings.enabled = form.enabled.is_some();
    settings.alert_on_critical = form.alert_on_critical.is_some();
    Ok(settings)
}

pub async fn save_alert_settings(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<AlertSettingsForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let saved = console.automation_runs.settings(&session.tenant_id).await?;
    let mut fields = alert_fields(
        form.failure_threshold.clone().unwrap_or_default(),
        form.time_window_hours.clone().unwrap_or_default(),
    );
    let problems = match apply_alert_form(saved, &form) {
        Err(field) => Problems::at(&mut fields, field, "enter a whole number"),
        Ok(settings) => {
            match console
                .automation_runs
                .set_settings(&session.tenant_id, settings, &actor(session))
                .await
            {
                Ok(_) => return Ok(Redirect::to("/settings/alerts").into_response()),
                Err(error) => Problems::place(error, &mut fields)?,
            }
        }
    };
    let status = problems.status.unwrap_or(StatusCode::BAD_REQUEST);
    let page = AlertSettingsPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/alerts"),
        can_change: true,
        enabled: form.enabled.is_some(),
        alert_on_critical: form.alert_on_critical.is_some(),
        fields,
        problems,
    };
    Ok(render(&page, status))
}

/// Sends the run alerts' test through the outbox, then shows its delivery.
pub async fn send_test_alert(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let notification = console
        .outbox
        .emit_run_alert_test(&session.tenant_id, &session.key_id)
        .await?;
    Ok(Redirect::to(&format!("/deliveries/{}", notification.id)).into_response())
}

#[derive(Template)]
#[template(path = "settings_ingest.html")]
struct IngestPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    examples: Vec<Example>,
    stripe_configured: bool,
    can_change: bool,
    fields: Vec<Field>,
    problems: Problems,
}

/// How one tool posts to Vigil.
pub(super) struct Example {
    /// The tool, and the `id` its URL input has.
    tool: &'static str,
    id: &'static str,
    url: String,
    how: &'static str,
    request: String,
}

const RUN_BODY: &str = r#"{"run_id":"RUN-1","scenario_id":"BINDER","scenario_name":"Binder export","status":"Success","credits_total":2480}"#;
const EVENT_BODY: &str = r#"{"id":"evt_1","type":"client.stage_changed","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_42"},"data":{"to":"at_risk"}}"#;

/// The examples the ingest page shows: which URL each tool posts to, and how.
pub(super) fn examples(urls: &IngestUrls) -> Vec<Example> {
    let with_token = |url: &str, body: &str| {
        format!(
            "POST {url}\nAuthorization: Bearer $INGEST_TOKEN\nContent-Type: application/json\n\n{body}"
        )
    };
    let run = |tool, id, how| Example {
        tool,
        id,
        url: urls.runs.clone(),
        how,
        request: with_token(&urls.runs, RUN_BODY),
    };
    vec![
        run(
            "Make",
            "make",
            "Add an HTTP › Make a request module at the end of the scenario: method POST, body type Raw, content type JSON.",
        ),
        run(
            "n8n",
            "n8n",
            "Add an HTTP Request node after the last node: method POST, send a JSON body, header authentication with the token.",
        ),
        run(
            "Zapier",
            "zapier",
            "Add a Webhooks by Zapier › Custom Request step: method POST, data as below, the header as below.",
        ),
        Example {
            tool: "GoHighLevel",
            id: "gohighlevel",
            url: urls.events.clone(),
            how: "In a workflow, add a Webhook action: method POST, the header as below; send the contact's stage change as an event.",
            request: with_token(&urls.events, EVENT_BODY),
        },
        Example {
            tool: "Stripe",
            id: "stripe",
            url: urls.stripe.clone(),
            how: "In Stripe's Dashboard › Developers › Webhooks, add an endpoint with this URL, then give Vigil its signing secret below. Stripe signs each event; no token is needed.",
            request: format!("POST {}\nStripe-Signature: t=…,v1=…", urls.stripe),
        },
    ]
}

/// Where this Vigil is reached: `VIGIL_PUBLIC_URL`, else the origin the request came to.
fn base_url(console: &ConsoleState, headers: &HeaderMap) -> String {
    if let Some(public) = &console.public_url {
        return public.clone();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").unwrap_or("localhost");
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
}

fn stripe_fields() -> Vec<Field> {
    vec![
        Field::secret(
            "stripe_secret",
            "Signing secret",
            "The endpoint's signing secret, whsec_… It is never shown again.",
        ),
        Field::secret(
            "stripe_secret_previous",
            "Previous signing secret (optional)",
            "While Stripe rolls the secret, the one being replaced.",
        ),
    ]
}

async fn ingest_page(
    console: &ConsoleState,
    session: &Session,
    headers: &HeaderMap,
    fields: Vec<Field>,
    problems: Problems,
) -> Result<Response, ErrorPage> {
    let tenant = console.tenants.get(&session.tenant_id).await?;
    let urls = IngestUrls::new(&base_url(console, headers), &session.tenant_id);
    let status = problems.status.unwrap_or(StatusCode::OK);
    let page = IngestPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/ingest"),
        examples: examples(&urls),
        stripe_configured: TenantView::from(&tenant).stripe_configured,
        can_change: session.role.at_least(Role::Admin),
        fields,
        problems,
    };
    Ok(render(&page, status))
}

pub async fn ingest(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> Result<Response, ErrorPage> {
    let fields = stripe_fields();
    ingest_page(
        &console,
        &signed_in.session,
        &headers,
        fields,
        Problems::default(),
    )
    .await
}

#[derive(Deserialize)]
pub struct StripeForm {
    csrf: Option<String>,
    stripe_secret: Option<String>,
    stripe_secret_previous: Option<String>,
}

pub async fn save_stripe_secrets(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Form(form): Form<StripeForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let secrets: Vec<String> = [&form.stripe_secret, &form.stripe_secret_previous]
        .into_iter()
        .filter_map(|s| s.as_deref().map(str::trim).filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .collect();
    let mut fields = stripe_fields();
    let saved = console
        .tenants
        .set_stripe_secrets(&session.tenant_id, secrets, &actor(session))
        .await;
    match saved {
        Ok(_) => {
            // Hooks verified in this process pick the new secrets up at once.
            console.ingest.forget_credentials(&session.tenant_id);
            Ok(Redirect::to("/settings/ingest").into_response())
        }
        Err(error) => {
            let problems = Problems::place(error, &mut fields)?;
            ingest_page(&console, session, &headers, fields, problems).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_posts_to_its_own_hook_of_the_tenant() {
        // GIVEN a tenant's URLs
        let urls = IngestUrls::new("https://vigil.example.com", "tnt_1");
        // WHEN the examples are made
        let examples = examples(&urls);
        // THEN each named tool has one, pointing at the hook it uses
        let tools: Vec<_> = examples.iter().map(|e| e.tool).collect();
        assert_eq!(tools, ["Make", "n8n", "Zapier", "GoHighLevel", "Stripe"]);
        for example in &examples {
            assert!(example.request.contains(&example.url), "{}", example.tool);
        }
        assert_eq!(examples[0].url, urls.runs);
        assert_eq!(examples[3].url, urls.events);
        assert_eq!(examples[4].url, urls.stripe);
        assert!(!examples[4].request.contains("INGEST_TOKEN"));
    }

    #[test]
    fn a_number_that_is_not_one_names_its_field() {
        let form = |threshold: &str| AlertSettingsForm {
            csrf: None,
            enabled: Some("on".into()),
            alert_on_critical: None,
            failure_threshold: Some(threshold.into()),
            time_window_hours: Some("12".into()),
        };
        let applied = apply_alert_form(RunSettings::default(), &form("5")).expect("numbers");
        assert_eq!(
            (applied.failure_threshold, applied.time_window_hours),
            (5, 12)
        );
        assert!(applied.enabled && !applied.alert_on_critical);
        let refused = apply_alert_form(RunSettings::default(), &form("five"));
        assert_eq!(refused.err(), Some("failure_threshold"));
    }
}
