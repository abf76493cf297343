//! `HttpSender` with reqwest: one client, no redirects, a bounded wait and a bounded read.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use vigil_core::ports::notify::{REQUEST_TIMEOUT, RESPONSE_SNIPPET_BYTES};
use vigil_core::ports::{HttpAnswer, HttpPost, HttpSender, TransportError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct ReqwestHttpSender {
    client: reqwest::Client,
    timeout: Duration,
}

impl ReqwestHttpSender {
    pub fn new() -> Result<Self, TransportError> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// A sender with another per-request bound (tests).
    pub fn with_timeout(timeout: Duration) -> Result<Self, TransportError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(Self { client, timeout })
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, as a wait from `now`.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[async_trait]
impl HttpSender for ReqwestHttpSender {
    async fn post(&self, request: HttpPost) -> Result<HttpAnswer, TransportError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| TransportError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::InvalidUrl(format!(
                "the scheme {} is not http or https",
                url.scheme()
            )));
        }
        let mut builder = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        // Read only the start of the body: a misbehaving endpoint may answer with megabytes.
        let mut snippet = Vec::new();
        while snippet.len() < RESPONSE_SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        snippet.truncate(RESPONSE_SNIPPET_BYTES);
        Ok(HttpAnswer {
            status,
            retry_after,
            body_snippet: String::from_utf8_lossy(&snippet).into_owned(),
        })
    }
}

impl ReqwestHttpSender {
    fn transport_error(&self, e: &reqwest::Error) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout(self.timeout)
        } else if e.is_connect() {
            TransportError::Connect(e.to_string())
        } else if e.is_builder() {
            TransportError::InvalidUrl(e.to_string())
        } else {
            TransportError::Other(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
