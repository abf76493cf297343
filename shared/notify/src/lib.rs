//! Outbound adapters every backend shares: one HTTP client for Slack and signed webhooks
//! (reqwest, rustls), SMTP email (lettre, rustls) and an OpenAI-compatible chat endpoint for
//! summary wording. SES lives with the other AWS adapters.
#![forbid(unsafe_code)]

mod http;
#[cfg(feature = "smtp")]
mod smtp;
mod wording;

pub use http::{Lookup, ReqwestHttpSender, SystemLookup};
#[cfg(feature = "smtp")]
pub use smtp::{EmailConfigError, SmtpEmailSender};
pub use wording::{AiKey, OpenAiWording};

/// Makes aws-lc-rs (already linked by the AWS SDK) the process's TLS crypto provider, so the
/// HTTP clients here need no second one. Idempotent; a provider installed earlier stays.
pub(crate) fn install_crypto_provider() {
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
