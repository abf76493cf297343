//! The API reference: the OpenAPI document the API serves, readable in the console.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, render};
use crate::ConsoleState;
use crate::api_reference::ApiReference;
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "api_reference.html")]
struct ApiReferencePage<'a> {
    chrome: Chrome,
    reference: &'a ApiReference,
}

pub async fn api_reference(State(console): State<ConsoleState>, signed_in: SignedIn) -> Response {
    let page = ApiReferencePage {
        chrome: Chrome::of(&signed_in.session, "api"),
        reference: console.api_reference(),
    };
    render(&page, StatusCode::OK)
}
