//! Notifier ports: how a delivery leaves Vigil. Slack and signed webhooks are HTTP POSTs (one
//! adapter, reqwest, on every backend); email goes through SES v2 on AWS and SMTP locally.
//!
//! Adapters report what happened; deciding whether to retry is the domain's job
//! (`delivery::retry::classify`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// Longest a single outbound request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of a response body kept for the delivery record.
pub const RESPONSE_SNIPPET_BYTES: usize = 512;

/// One outbound HTTP POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPost {
    pub url: String,
    /// Extra headers (`content-type: application/json` is always sent).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The answer to a POST, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// `Retry-After` in seconds or as an HTTP date, turned into a wait from now.
    pub retry_after: Option<Duration>,
    /// The start of the body (at most [`RESPONSE_SNIPPET_BYTES`]), lossy UTF-8.
    pub body_snippet: String,
}

/// The request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The URL cannot be used at all (bad scheme, unparsable): retrying will not help.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The target is a refused address (loopback, private, link-local…) or resolves only to
    /// such addresses: nothing was sent, and retrying will not help.
    #[error("egress_denied: {0}")]
    EgressDenied(String),
    #[error("request failed: {0}")]
    Other(String),
}

#[async_trait]
pub trait HttpSender: Send + Sync {
    /// POSTs with a [`REQUEST_TIMEOUT`] bound. Any status is `Ok`; only a missing answer is `Err`.
    async fn post(&self, request: HttpPost) -> Result<HttpAnswer, TransportError>;
}

/// One plain-text email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The message or an address was refused for good (bad address, rejected content).
    #[error("email refused: {0}")]
    Rejected(String),
    /// The mail service could not be reached or asked to try later.
    #[error("email service unavailable: {0}")]
    Unavailable(String),
    /// No email service is configured for this deployment.
    #[error("email is not configured")]
    NotConfigured,
}

#[async_trait]
pub trait EmailSender: Send + Sync {
    /// Sends from the deployment's configured sender address.
    async fn send(&self, email: &Email) -> Result<(), EmailError>;
}

/// An email sender for deployments without one: every send is refused as not configured.
pub struct NoEmail;

#[async_trait]
impl EmailSender for NoEmail {
    async fn send(&self, _email: &Email) -> Result<(), EmailError> {
        Err(EmailError::NotConfigured)
    }
}

/// The ways out, chosen at start-up.
#[derive(Clone)]
pub struct Notifiers {
    pub http: Arc<dyn HttpSender>,
    pub email: Arc<dyn EmailSender>,
    /// The AI model that may reword summaries; `None` when not configured.
    pub wording: Option<Arc<dyn super::wording::Wording>>,
}
