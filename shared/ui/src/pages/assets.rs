use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/console.css"),
    )
        .into_response()
}

/// The vendored htmx (`assets/vendor/htmx`), packed with gzip for browsers that accept it (a
/// third of its size). Pages ask for it with its version in the query, so another version is
/// another address and browsers may keep this one for a year.
pub async fn htmx(headers: HeaderMap) -> Response {
    let mut response = if accepts_gzip(&headers) {
        (
            [(header::CONTENT_ENCODING, "gzip")],
            &include_bytes!("../../assets/vendor/htmx/htmx.min.js.gz")[..],
        )
            .into_response()
    } else {
        include_str!("../../assets/vendor/htmx/htmx.min.js").into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::VARY, "accept-encoding"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether a request's `Accept-Encoding` takes gzip (`gzip` or `*`, without `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_goes_to_those_that_take_it() {
        assert!(accepting("gzip, deflate, br, zstd"));
        assert!(accepting("br;q=1.0, GZIP;q=0.5"));
        assert!(accepting("*"));
        assert!(!accepting("br, deflate"));
        assert!(!accepting("gzip;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
