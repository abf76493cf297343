//! Wording port: an AI model that rephrases a finished summary. Optional; Vigil never depends
//! on it for facts, and any failure leaves the deterministic wording in place.

use std::time::Duration;

use async_trait::async_trait;

/// Longest an AI answer is waited for.
pub const AI_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no AI wording came back, classified for the report's `ai_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    #[error("timeout")]
    Timeout,
    #[error("http_{0}")]
    Http(u16),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("malformed_answer: {0}")]
    Malformed(String),
    /// The answer contained a number the facts do not: it computed instead of rephrasing.
    #[error("invented_numbers: {0}")]
    InventedNumbers(String),
    /// The API key could not be read (its parameter is missing, or unreadable).
    #[error("api_key_unavailable: {0}")]
    KeyUnavailable(String),
}

impl AiError {
    /// The stable word stored with the report.
    pub fn class(&self) -> String {
        match self {
            AiError::Timeout => "timeout".into(),
            AiError::Http(status) => format!("http_{status}"),
            AiError::Unreachable(_) => "unreachable".into(),
            AiError::Malformed(_) => "malformed_answer".into(),
            AiError::InventedNumbers(_) => "invented_numbers".into(),
            AiError::KeyUnavailable(_) => "api_key_unavailable".into(),
        }
    }
}

#[async_trait]
pub trait Wording: Send + Sync {
    /// Rephrases `text` following `instructions`; returns the new text.
    async fn rephrase(&self, instructions: &str, text: &str) -> Result<String, AiError>;
}
