//! The pages: each handler reads what its page shows through the domain services and renders
//! its template; every change is a form post that carries the session's CSRF token and is
//! refused below the role the API would ask for.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::anomaly::{AnomalyFilter, AnomalyStatus};
use vigil_core::delivery::inbox::{InboxAction, InboxFilter, InboxItem};
use vigil_core::ports::Cursor;
use vigil_core::severity::Severity;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::sessions::Session;

use crate::ConsoleState;
use crate::session::{self, SignedIn};

/// Items on one page of a list.
const PAGE: u32 = 50;
/// Open anomalies counted on the overview.
const OVERVIEW_ANOMALIES: u32 = 200;

/// What every signed-in page shows around its content.
struct Chrome {
    csrf_token: String,
    tenant_id: String,
    role: &'static str,
    /// The navigation entry of this page.
    current: &'static str,
}

impl Chrome {
    fn of(session: &Session, current: &'static str) -> Self {
        Self {
            csrf_token: session.csrf_token.clone(),
            tenant_id: session.tenant_id.clone(),
            role: session.role.as_str(),
            current,
        }
    }
}

fn render(template: &impl Template, status: StatusCode) -> Response {
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

fn forbidden(message: &str) -> Response {
    ErrorPage {
        status: StatusCode::FORBIDDEN,
        title: "Not allowed",
        message: message.to_owned(),
    }
    .into_response()
}

// ---- sign-in -----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    next: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn sign_in_form(Query(query): Query<NextQuery>) -> Response {
    let page = SignInPage {
        next: session::safe_next(query.next.as_deref()),
        error: None,
    };
    render(&page, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SignInForm {
    api_key: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(console): State<ConsoleState>,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = session::safe_next(form.next.as_deref());
    match console.sessions.sign_in(form.api_key.trim()).await {
        Ok((token, _)) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::cookie(token.expose(), console.secure_cookies),
            );
            response
        }
        Err(vigil_core::Error::Unauthenticated(_)) => {
            let page = SignInPage {
                next,
                error: Some("That API key is not valid. Check it and try again."),
            };
            render(&page, StatusCode::UNAUTHORIZED)
        }
        Err(other) => ErrorPage::from(other).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn sign_out(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(token) = session::token(&headers) {
        match console.sessions.resume(&token).await {
            Ok(Some(session)) if !csrf_ok(&session, &form) => {
                return forbidden("This form has expired; reload the page and try again.");
            }
            Ok(_) => {}
            Err(error) => return ErrorPage::from(error).into_response(),
        }
        if let Err(error) = console.sessions.sign_out(&token).await {
            return ErrorPage::from(error).into_response();
        }
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::expired_cookie());
    response
}

fn csrf_ok(session: &Session, form: &CsrfForm) -> bool {
    form.csrf
        .as_deref()
        .is_some_and(|sent| session.csrf_matches(sent))
}

// ---- overview ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    inbox_open: u64,
    /// (severity, open inbox items, open anomalies)
    by_severity: Vec<(&'static str, u64, usize)>,
    anomalies_open: usize,
    /// More open anomalies than were counted.
    anomalies_more: bool,
}

pub async fn overview(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let tenant = &signed_in.session.tenant_id;
    let counts = console.inbox.counts(tenant).await?;
    let filter = AnomalyFilter {
        status: Some(AnomalyStatus::Open),
        ..AnomalyFilter::default()
    };
    let (anomalies, more) = console
        .anomalies
        .list(tenant, &filter, OVERVIEW_ANOMALIES, None)
        .await?;
    let by_severity = Severity::ALL
        .into_iter()
        .map(|severity| {
            let inbox = counts
                .by_severity
                .get(severity.as_str())
                .copied()
                .unwrap_or(0);
            let open = anomalies.iter().filter(|a| a.severity == severity).count();
            (severity.as_str(), inbox, open)
        })
        .collect();
    let page = OverviewPage {
        chrome: Chrome::of(&signed_in.session, "overview"),
        inbox_open: counts.open,
        by_severity,
        anomalies_open: anomalies.len(),
        anomalies_more: more.is_some(),
    };
    Ok(render(&page, StatusCode::OK))
}

// ---- inbox -------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<InboxRow>,
    can_act: bool,
    /// Each choice of the filters, and whether it is the chosen one.
    statuses: Vec<(&'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    next_page: Option<String>,
}

struct InboxRow {
    id: String,
    title: String,
    summary: String,
    severity: &'static str,
    status: &'static str,
    created_at: String,
    can_acknowledge: bool,
    can_close: bool,
}

impl From<InboxItem> for InboxRow {
    fn from(item: InboxItem) -> Self {
        Self {
            can_acknowledge: item.status.after(InboxAction::Acknowledge).is_some(),
            can_close: item.status.after(InboxAction::Resolve).is_some(),
            id: item.id,
            title: item.title,
            summary: item.summary,
            severity: item.severity.as_str(),
            status: item.status.as_str(),
            created_at: item.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

#[derive(Deserialize)]
pub struct InboxQuery {
    status: Option<String>,
    severity: Option<String>,
    cursor: Option<String>,
}

fn inbox_filter(query: &InboxQuery) -> Result<InboxFilter, ErrorPage> {
    Ok(InboxFilter {
        status: word(query.status.as_deref(), "status")?,
        severity: word(query.severity.as_deref(), "severity")?,
        kind: None,
    })
}

/// A filter's word read as the API reads it (`open`, `SEV2`); none when not chosen.
fn word<T: serde::de::DeserializeOwned>(
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

pub async fn inbox(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ErrorPage> {
    let filter = inbox_filter(&query)?;
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Cursor::decode(text).map_err(vigil_core::Error::from)?),
    };
    let session = &signed_in.session;
    let (items, next) = console
        .inbox
        .list(&session.tenant_id, &filter, PAGE, cursor)
        .await?;
    let status = query.status.clone().unwrap_or_default();
    let severity = query.severity.clone().unwrap_or_default();
    let next_page = next.map(|cursor| {
        format!(
            "/inbox?status={}&severity={}&cursor={}",
            session::encode(&status),
            session::encode(&severity),
            session::encode(&cursor.encode())
        )
    });
    let page = InboxPage {
        chrome: Chrome::of(session, "inbox"),
        rows: items.into_iter().map(InboxRow::from).collect(),
        can_act: session.role.at_least(Role::Operator),
        statuses: ["open", "acknowledged", "resolved", "dismissed"]
            .into_iter()
            .map(|s| (s, s == status))
            .collect(),
        severities: Severity::ALL
            .into_iter()
            .map(|s| (s.as_str(), s.as_str() == severity))
            .collect(),
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn act_on_inbox_item(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    if !csrf_ok(session, &form) {
        return Ok(forbidden(
            "This form has expired; reload the page and try again.",
        ));
    }
    session.principal().require(Role::Operator)?;
    let action =
        InboxAction::parse(&action).ok_or_else(|| vigil_core::Error::NotFound("action".into()))?;
    let actor = Actor::ApiKey {
        key_id: session.key_id.clone(),
    };
    console
        .inbox
        .act(&session.tenant_id, &id, action, &actor)
        .await?;
    Ok(Redirect::to("/inbox").into_response())
}

// ---- assets ------------------------------------------------------------------------------------

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/console.css"),
    )
        .into_response()
}
