use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::delivery::inbox::{InboxAction, InboxFilter, InboxItem, InboxStatus};
use vigil_core::tenancy::Role;

use super::{
    Chrome, ErrorPage, PAGE, actor, choices, csrf_sent, cursor, forbidden, next_page, render,
    severity_choices, type_choices, when, word,
};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

/// An item's states, as the filter offers them.
const STATUSES: [InboxStatus; 4] = [
    InboxStatus::Open,
    InboxStatus::Acknowledged,
    InboxStatus::Resolved,
    InboxStatus::Dismissed,
];

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<InboxRow>,
    can_act: bool,
    /// Each choice of the filters, and whether it is the chosen one.
    statuses: Vec<(&'static str, bool)>,
    /// Where an action's post returns to: this list.
    back: &'static str,
    severities: Vec<(&'static str, bool)>,
    types: Vec<(&'static str, bool)>,
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
            created_at: when(item.created_at),
        }
    }
}

#[derive(Deserialize)]
pub struct InboxQuery {
    status: Option<String>,
    severity: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    cursor: Option<String>,
}

fn inbox_filter(query: &InboxQuery) -> Result<InboxFilter, ErrorPage> {
    Ok(InboxFilter {
        status: word(query.status.as_deref(), "status")?,
        severity: word(query.severity.as_deref(), "severity")?,
        kind: word(query.kind.as_deref(), "type")?,
    })
}

pub async fn inbox(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ErrorPage> {
    let filter = inbox_filter(&query)?;
    let cursor = cursor(query.cursor.as_deref())?;
    let session = &signed_in.session;
    let (items, next) = console
        .inbox
        .list(&session.tenant_id, &filter, PAGE, cursor)
        .await?;
    let status = query.status.clone().unwrap_or_default();
    let severity = query.severity.clone().unwrap_or_default();
    let kind = query.kind.clone().unwrap_or_default();
    let filters = [
        ("status", status.as_str()),
        ("severity", severity.as_str()),
        ("type", kind.as_str()),
    ];
    let next_page = next.map(|next| next_page("/inbox", &filters, &next));
    let page = InboxPage {
        chrome: Chrome::of(session, "inbox"),
        rows: items.into_iter().map(InboxRow::from).collect(),
        can_act: session.role.at_least(Role::Operator),
        statuses: choices(STATUSES.map(InboxStatus::as_str), &status),
        severities: severity_choices(&severity),
        types: type_choices(&kind),
        back: "list",
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct InboxActionForm {
    csrf: Option<String>,
    /// `item` when the button was on the item's own page.
    back: Option<String>,
}

pub async fn act_on_inbox_item(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<InboxActionForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    if !csrf_sent(&signed_in, form.csrf.as_deref()) {
        return Ok(forbidden(
            "This form has expired; reload the page and try again.",
        ));
    }
    session.principal().require(Role::Operator)?;
    let action =
        InboxAction::parse(&action).ok_or_else(|| vigil_core::Error::NotFound("action".into()))?;
    console
        .inbox
        .act(&session.tenant_id, &id, action, &actor(session))
        .await?;
    // Back to where the button was: the item's own page, or the list.
    let back = match form.back.as_deref() {
        Some("item") => format!("/inbox/{}", url_encode(&id)),
        _ => "/inbox".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(Template)]
#[template(path = "inbox_item.html")]
struct InboxItemPage {
    chrome: Chrome,
    row: InboxRow,
    can_act: bool,
    /// Where an action's post returns to: this page.
    back: &'static str,
    /// The console page of what the item is about, when it has one.
    source: Option<(String, &'static str)>,
}

/// The page of what an item is about: anomalies have one; other sources are the item itself.
fn source_of(link_ref: Option<&str>) -> Option<(String, &'static str)> {
    let anomaly = link_ref?.strip_prefix("anomaly:")?;
    Some((format!("/anomalies/{anomaly}"), "the anomaly"))
}

pub async fn inbox_item(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (item, _) = console.inbox.get(&session.tenant_id, &id).await?;
    let page = InboxItemPage {
        chrome: Chrome::of(session, "inbox"),
        can_act: session.role.at_least(Role::Operator),
        back: "item",
        source: source_of(item.link_ref.as_deref()),
        row: InboxRow::from(item),
    };
    Ok(render(&page, StatusCode::OK))
}
