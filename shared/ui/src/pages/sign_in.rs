use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{CsrfForm, ErrorPage, csrf_ok, forbidden, render};
use crate::ConsoleState;
use crate::session;

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

pub async fn sign_out(
    State(console): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(token) = session::token(&headers) {
        match console.sessions.resume(&token).await {
            Ok(Some(session)) if !csrf_ok(&session, form.csrf.as_deref()) => {
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
