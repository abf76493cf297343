//! Deliveries: the notifications of the outbox, newest first, filtered as the API filters them;
//! each with its delivery per channel (attempts, next attempt, last error) and, for admins, a
//! retry of the channels that gave up; and the dead letters, queued again by admins.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use vigil_core::delivery::dead_letters::{DeadLetter, DeadLetterKind, Selection};
use vigil_core::delivery::outbox::NotificationFilter;
use vigil_core::delivery::record::{DeliveryRecord, DeliveryStatus, TargetKind};
use vigil_core::delivery::{Notification, NotificationStatus};
use vigil_core::tenancy::Role;

use super::settings::admin_post;
use super::{
    Chrome, CsrfForm, ErrorPage, PAGE, actor, choices, cursor, next_page, render, type_choices,
    when, word,
};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

const STATUSES: [NotificationStatus; 3] = [
    NotificationStatus::Pending,
    NotificationStatus::Sent,
    NotificationStatus::Failed,
];

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    chrome: Chrome,
    rows: Vec<NotificationRow>,
    statuses: Vec<(&'static str, bool)>,
    types: Vec<(&'static str, bool)>,
    is_admin: bool,
    next_page: Option<String>,
}

struct NotificationRow {
    id: String,
    title: String,
    kind: &'static str,
    severity: &'static str,
    status: &'static str,
    created_at: String,
}

impl From<Notification> for NotificationRow {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            title: n.title,
            kind: n.kind.as_str(),
            severity: n.severity.as_str(),
            status: n.status.as_str(),
            created_at: when(n.created_at),
        }
    }
}

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    cursor: Option<String>,
}

pub async fn deliveries(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Response, ErrorPage> {
    let filter = NotificationFilter {
        status: word(query.status.as_deref(), "status")?,
        kind: word(query.kind.as_deref(), "type")?,
    };
    let session = &signed_in.session;
    let (items, next) = console
        .outbox
        .list(
            &session.tenant_id,
            &filter,
            PAGE,
            cursor(query.cursor.as_deref())?,
        )
        .await?;
    let status = query.status.unwrap_or_default();
    let kind = query.kind.unwrap_or_default();
    let filters = [("status", status.as_str()), ("type", kind.as_str())];
    let next_page = next.map(|c| next_page("/deliveries", &filters, &c));
    let page = DeliveriesPage {
        chrome: Chrome::of(session, "deliveries"),
        rows: items.into_iter().map(NotificationRow::from).collect(),
        statuses: choices(STATUSES.map(NotificationStatus::as_str), &status),
        types: type_choices(&kind),
        is_admin: session.role.at_least(Role::Admin),
        next_page,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    row: NotificationRow,
    summary: String,
    records: Vec<RecordRow>,
    /// An admin may queue the channels that gave up again.
    can_retry: bool,
}

struct RecordRow {
    channel: String,
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    next_attempt_at: String,
    last_error: String,
    last_status: String,
    sent_at: String,
}

fn status_word(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Failed => "failed",
    }
}

fn target_word(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Slack => "slack",
        TargetKind::Webhook => "webhook",
        TargetKind::Email => "email",
        TargetKind::Inbox => "inbox",
    }
}

impl From<DeliveryRecord> for RecordRow {
    fn from(r: DeliveryRecord) -> Self {
        // A dash where there is nothing to say, so a phone's labelled cells never end empty.
        let none = || "—".to_owned();
        let time = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(when).unwrap_or_else(none);
        Self {
            kind: target_word(r.kind),
            status: status_word(r.status),
            attempts: r.attempts,
            next_attempt_at: time(r.next_attempt_at),
            last_error: r.last_error.unwrap_or_else(none),
            last_status: r.last_status.map_or_else(none, |s| s.to_string()),
            sent_at: time(r.sent_at),
            channel: r.channel,
        }
    }
}

pub async fn delivery(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let detail = console.outbox.get(&session.tenant_id, &id).await?;
    let any_failed = detail
        .deliveries
        .iter()
        .any(|r| r.status == DeliveryStatus::Failed);
    let page = DeliveryPage {
        chrome: Chrome::of(session, "deliveries"),
        summary: detail.notification.summary.clone(),
        row: NotificationRow::from(detail.notification),
        records: detail.deliveries.into_iter().map(RecordRow::from).collect(),
        can_retry: any_failed && session.role.at_least(Role::Admin),
    };
    Ok(render(&page, StatusCode::OK))
}

/// Queues the failed channels of a notification again (as `POST /events/{id}/retry`).
pub async fn retry_delivery(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let by = actor(session);
    let retry = console.outbox.retry(&session.tenant_id, &id, &by);
    let then = format!("/deliveries/{}", url_encode(&id));
    admin_post(session, form.csrf.as_deref(), retry, &then).await
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    chrome: Chrome,
    rows: Vec<DeadLetterRow>,
}

struct DeadLetterRow {
    id: String,
    kind: &'static str,
    notification_id: String,
    channels: String,
    receive_count: String,
    last_error: String,
}

impl From<DeadLetter> for DeadLetterRow {
    fn from(d: DeadLetter) -> Self {
        Self {
            kind: match d.kind {
                DeadLetterKind::Message => "queue message",
                DeadLetterKind::Delivery => "delivery",
            },
            channels: d.channels.join(", "),
            receive_count: d.receive_count.map(|n| n.to_string()).unwrap_or_default(),
            last_error: d.last_error.unwrap_or_default(),
            id: d.id,
            notification_id: d.notification_id,
        }
    }
}

/// The tenant's dead letters (admin only, as the API lists them).
pub async fn dead_letters(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    session.principal().require(Role::Admin)?;
    let letters = console.dead_letters.list(Some(&session.tenant_id)).await?;
    let page = DeadLettersPage {
        chrome: Chrome::of(session, "deliveries"),
        rows: letters.into_iter().map(DeadLetterRow::from).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct RequeueForm {
    csrf: Option<String>,
    /// One dead letter, or none with `all`.
    id: Option<String>,
    all: Option<String>,
}

/// What a requeue form selects: one dead letter by id, or all of them.
fn selection(form: &RequeueForm) -> Result<Selection, vigil_core::Error> {
    match (form.id.as_deref().filter(|id| !id.is_empty()), &form.all) {
        (Some(id), None) => Ok(Selection::Ids(vec![id.to_owned()])),
        (None, Some(_)) => Ok(Selection::All),
        _ => Err(vigil_core::Error::unprocessable(
            "invalid_selection",
            "give either one id or all",
        )),
    }
}

pub async fn requeue_dead_letters(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<RequeueForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let (by, selection) = (actor(session), selection(&form)?);
    let requeue = console
        .dead_letters
        .requeue(Some(&session.tenant_id), &selection, &by);
    admin_post(
        session,
        form.csrf.as_deref(),
        requeue,
        "/deliveries/dead-letters",
    )
    .await
}
