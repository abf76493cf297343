//! Settings › API keys: listed, created with a role and revoked by admins only, as the API
//! allows. A new key's secret is on the page that answers its creation, and nowhere after.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use vigil_core::tenancy::Role;

use super::channels::ConfirmPage;
use super::settings::{admin_post, may_change, sections, shown_once};
use super::{
    Chrome, CsrfForm, ErrorPage, PAGE, actor, choices, cursor, next_page, render, when, word,
};
use crate::ConsoleState;
use crate::session::{SignedIn, url_encode};

const ROLES: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

#[derive(Template)]
#[template(path = "settings_keys.html")]
struct KeysPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<KeyRow>,
    roles: Vec<(&'static str, bool)>,
    next_page: Option<String>,
}

struct KeyRow {
    id: String,
    prefix: String,
    role: &'static str,
    created_at: String,
    /// The key this page was opened with: revoking it ends this session.
    is_this_session: bool,
}

#[derive(Deserialize)]
pub struct KeysQuery {
    cursor: Option<String>,
}

pub async fn keys(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Query(query): Query<KeysQuery>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    session.principal().require(Role::Admin)?;
    let (keys, next) = console
        .keys
        .list(&session.tenant_id, PAGE, cursor(query.cursor.as_deref())?)
        .await?;
    let page = KeysPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/keys"),
        rows: keys
            .into_iter()
            .map(|key| KeyRow {
                is_this_session: key.id == session.key_id,
                id: key.id,
                prefix: key.prefix,
                role: key.role.as_str(),
                created_at: when(key.created_at),
            })
            .collect(),
        roles: choices(ROLES.map(Role::as_str), Role::Viewer.as_str()),
        next_page: next.map(|c| next_page("/settings/keys", &[], &c)),
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "settings_key_created.html")]
struct KeyCreatedPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    id: String,
    role: &'static str,
    secret: String,
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    csrf: Option<String>,
    role: Option<String>,
}

pub async fn create_key(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Form(form): Form<NewKeyForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let role = word::<Role>(form.role.as_deref(), "role")?
        .ok_or_else(|| vigil_core::Error::invalid("invalid_role", "choose a role"))?;
    let created = console
        .keys
        .create(&session.tenant_id, role, &actor(session))
        .await?;
    let page = KeyCreatedPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/keys"),
        id: created.id,
        role: created.role.as_str(),
        secret: created.api_key.expose().to_owned(),
    };
    Ok(shown_once(render(&page, StatusCode::CREATED)))
}

pub async fn confirm_revoke_key(
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    session.principal().require(Role::Admin)?;
    let page = ConfirmPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/keys"),
        title: format!("Revoke the key {id}?"),
        consequence: "It stops working at once, for the API and for every console session opened with it. This cannot be undone.",
        action: format!("/settings/keys/{}/revoke", url_encode(&id)),
        button: "Revoke key",
        back: "/settings/keys",
    };
    Ok(render(&page, StatusCode::OK))
}

pub async fn revoke_key(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    let by = actor(session);
    let revoke = console.keys.revoke(&session.tenant_id, &id, &by);
    admin_post(session, form.csrf.as_deref(), revoke, "/settings/keys").await
}
