//! Settings › Channels: where notifications go. Listed for everyone; added, tested and deleted
//! by admins, as the API allows. URLs and signing secrets are write-only: a page shows a URL's
//! host and whether a secret is set, never the secret.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::delivery::channels::{ChannelKind, ChannelPatch, ChannelView, NewChannel};
use vigil_core::delivery::dispatcher::ChannelTestResult;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;

use super::fields::{Field, Problems};
use super::settings::{admin_post, may_change, sections, shown_once};
use super::{Chrome, CsrfForm, ErrorPage, actor, choices, render, when, word};
use crate::ConsoleState;
use crate::session::SignedIn;

const KINDS: [&str; 3] = ["slack", "webhook", "email"];

#[derive(Template)]
#[template(path = "settings_channels.html")]
struct ChannelsPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<ChannelRow>,
    can_change: bool,
    kinds: Vec<(&'static str, bool)>,
    enabled: bool,
    fields: Vec<Field>,
    problems: Problems,
}

struct ChannelRow {
    id: String,
    name: String,
    kind: &'static str,
    enabled: bool,
    /// A URL's scheme and host, or an email channel's recipients.
    target: String,
    /// Whether a signing secret is set (webhook channels), never the secret.
    secret: &'static str,
    created_at: String,
}

fn kind_word(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Slack => "slack",
        ChannelKind::Webhook => "webhook",
        ChannelKind::Email => "email",
    }
}

impl From<ChannelView> for ChannelRow {
    fn from(view: ChannelView) -> Self {
        let target = match (view.url_hint, view.to) {
            (Some(hint), _) => hint,
            (None, Some(to)) => to.join(", "),
            (None, None) => String::new(),
        };
        Self {
            secret: match view.active_secrets {
                Some(0) => "not set",
                Some(_) => "set",
                None => "—",
            },
            id: view.id,
            name: view.name,
            kind: kind_word(view.kind),
            enabled: view.enabled,
            target,
            created_at: when(view.created_at),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ChannelForm {
    csrf: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    to: Option<String>,
    enabled: Option<String>,
}

fn filled(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The channel a form describes: what was filled in, as the API would receive it, so the
/// domain's rules (a field the kind does not take, one it needs) apply as they do there.
fn new_channel(form: &ChannelForm, kind: ChannelKind) -> NewChannel {
    NewChannel {
        name: filled(&form.name).unwrap_or_default(),
        kind,
        url: filled(&form.url),
        secret: filled(&form.secret),
        to: filled(&form.to).map(|to| {
            to.split([',', '\n'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        enabled: form.enabled.is_some(),
    }
}

fn channel_fields(form: &ChannelForm) -> Vec<Field> {
    let value = |text: &Option<String>| text.clone().unwrap_or_default();
    vec![
        Field::text(
            "name",
            "Name",
            "Routes refer to it: a-z, 0-9, - and _ (default, sev0 and sev1 are routed by default).",
        )
        .with_value(value(&form.name)),
        Field::text(
            "url",
            "URL (Slack and webhook)",
            "A Slack incoming-webhook URL, or your receiver's https URL. Stored sealed; only its host is shown.",
        )
        .with_value(value(&form.url)),
        Field::secret(
            "secret",
            "Signing secret (webhook)",
            "whsec_ and a base64 key of 24 to 64 bytes; messages are signed with it (Standard Webhooks). Leave it empty and Vigil makes one, shown once. Never shown again.",
        ),
        Field::text(
            "to",
            "Recipients (email)",
            "Up to 20 addresses, separated by commas.",
        )
        .with_value(value(&form.to)),
    ]
}

async fn channels_page(
    console: &ConsoleState,
    session: &Session,
    form: &ChannelForm,
    fields: Vec<Field>,
    problems: Problems,
) -> Result<Response, ErrorPage> {
    let channels = console.channels.list(&session.tenant_id).await?;
    let status = problems.status.unwrap_or(StatusCode::OK);
    let page = ChannelsPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/channels"),
        rows: channels
            .iter()
            .map(|c| ChannelRow::from(ChannelView::from(c)))
            .collect(),
        can_change: session.role.at_least(Role::Admin),
        kinds: choices(KINDS, form.kind.as_deref().unwrap_or("webhook")),
        enabled: problems.status.is_none() || form.enabled.is_some(),
        fields,
        problems,
    };
    Ok(render(&page, status))
}

pub async fn channels(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let form = ChannelForm::default();
    let fields = channel_fields(&form);
    channels_page(
        &console,
        &signed_in.session,
        &form,
        fields,
        Problems::default(),
    )
    .await
}

pub async fn add_channel(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<ChannelForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let kind = word::<ChannelKind>(form.kind.as_deref(), "channel kind")?
        .ok_or_else(|| vigil_core::Error::invalid("invalid_channel", "choose a kind"))?;
    let (new, generated) = new_channel(&form, kind).with_signing_secret();
    let created = console
        .channels
        .create(&session.tenant_id, new, &actor(session))
        .await;
    match (created, generated) {
        (Ok(_), None) => Ok(Redirect::to("/settings/channels").into_response()),
        (Ok(channel), Some(secret)) => {
            let page = ChannelAddedPage {
                chrome: Chrome::of(session, "settings"),
                sections: sections("/settings/channels"),
                name: channel.name,
                secret,
            };
            Ok(shown_once(render(&page, StatusCode::CREATED)))
        }
        (Err(error), _) => {
            let mut fields = channel_fields(&form);
            let problems = Problems::place(error, &mut fields)?;
            channels_page(&console, session, &form, fields, problems).await
        }
    }
}

/// The answer to a webhook channel added without a secret: the one made for it, shown once.
#[derive(Template)]
#[template(path = "settings_channel_added.html")]
struct ChannelAddedPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "settings_channel_test.html")]
struct ChannelTestPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    name: String,
    result: ChannelTestResult,
}

/// Sends the channel's test now and shows what it answered.
pub async fn test_channel(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let (channel, _) = console.channels.get(&session.tenant_id, &id).await?;
    let result = console
        .dispatcher
        .test_channel(&session.tenant_id, &id)
        .await?;
    let page = ChannelTestPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/channels"),
        name: channel.name,
        result,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct SwitchForm {
    csrf: Option<String>,
    /// `true` to turn the channel on, anything else to turn it off.
    enabled: Option<String>,
}

/// Turns a channel on or off (as `PATCH /channels/{id}` with `enabled`).
pub async fn switch_channel(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let by = actor(session);
    let patch = ChannelPatch {
        enabled: Some(form.enabled.as_deref() == Some("true")),
        ..ChannelPatch::default()
    };
    let update = console.channels.update(&session.tenant_id, &id, patch, &by);
    admin_post(session, form.csrf.as_deref(), update, "/settings/channels").await
}

/// A page that asks before something is removed for good; its button posts the removal.
#[derive(Template)]
#[template(path = "settings_confirm.html")]
pub(super) struct ConfirmPage {
    pub chrome: Chrome,
    pub sections: Vec<(&'static str, &'static str, bool)>,
    pub title: String,
    pub consequence: &'static str,
    pub action: String,
    pub button: &'static str,
    pub back: &'static str,
}

pub async fn confirm_delete_channel(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    session.principal().require(Role::Admin)?;
    let (channel, _) = console.channels.get(&session.tenant_id, &id).await?;
    let page = ConfirmPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/channels"),
        title: format!("Delete the channel {}?", channel.name),
        consequence: "Notifications routed to it go nowhere until a channel of that name is added again. Its URL and secret are gone for good.",
        action: format!("/settings/channels/{}/delete", channel.id),
        button: "Delete channel",
        back: "/settings/channels",
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn delete_channel(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let by = actor(session);
    let delete = console.channels.delete(&session.tenant_id, &id, &by);
    admin_post(session, form.csrf.as_deref(), delete, "/settings/channels").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_filled_in_is_sent_and_recipients_are_split() {
        // GIVEN an email channel's form with blank URL and secret
        let form = ChannelForm {
            name: Some(" ops ".into()),
            url: Some("  ".into()),
            secret: Some(String::new()),
            to: Some("a@example.com, b@example.com,".into()),
            enabled: Some("on".into()),
            ..ChannelForm::default()
        };
        // WHEN it becomes a channel
        let channel = new_channel(&form, ChannelKind::Email);
        // THEN the blanks are absent (the domain would refuse them for email) and `to` is a list
        assert_eq!(channel.name, "ops");
        assert!(channel.url.is_none() && channel.secret.is_none() && channel.enabled);
        assert_eq!(
            channel.to,
            Some(vec!["a@example.com".to_owned(), "b@example.com".to_owned()])
        );
    }
}
