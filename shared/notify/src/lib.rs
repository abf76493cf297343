//! Notifier adapters every backend shares: one HTTP client for Slack and signed webhooks
//! (reqwest, rustls) and SMTP email (lettre, rustls). SES lives with the other AWS adapters.
#![forbid(unsafe_code)]

mod http;
mod smtp;

pub use http::ReqwestHttpSender;
pub use smtp::{EmailConfigError, SmtpEmailSender};
