//! Who is signed in: the session cookie, resumed on every request. A page asked for without a
//! live session redirects to the sign-in page, which brings the visitor back afterwards.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use vigil_core::tenancy::sessions::Session;

use crate::ConsoleState;
use crate::pages::ErrorPage;

pub const COOKIE: &str = "vigil_session";

/// A signed-in visitor's session.
pub struct SignedIn {
    pub session: Session,
    /// The CSRF token in the request's [`CSRF_HEADER`], which in-place (htmx) requests send.
    pub csrf_header: Option<String>,
}

/// The header that carries the session's CSRF token on in-place requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token of the request's cookie, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The cookie that holds a new session: script cannot read it, no other site sends it.
pub fn cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("vigil_session=; Path=/"))
}

/// The cookie that ends one in the browser.
pub fn expired_cookie() -> HeaderValue {
    HeaderValue::from_static("vigil_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Where a visitor may be sent after signing in: a path of this site, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let resumed = match token(&parts.headers) {
            Some(token) => match state.sessions.resume(&token).await {
                Ok(session) => session.map(|session| SignedIn {
                    session,
                    csrf_header: parts
                        .headers
                        .get(CSRF_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned),
                }),
                Err(error) => return Err(ErrorPage::from(error).into_response()),
            },
            None => None,
        };
        resumed.ok_or_else(|| {
            let here = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let next = if parts.method == axum::http::Method::GET {
                here
            } else {
                "/".to_owned()
            };
            Redirect::to(&format!("/sign-in?next={}", url_encode(&next))).into_response()
        })
    }
}

/// A value as it goes in a URL's query.
pub fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
