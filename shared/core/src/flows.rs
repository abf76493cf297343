//! What scheduled flows and queue consumers share, whichever process runs them: the report a
//! flow returns, and the contract of a message handler (partial batch failures).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::deployment::Flow;

/// What a scheduled flow did, logged and returned to its invoker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    pub flow: Flow,
    /// Counts and notes particular to the flow.
    pub detail: serde_json::Value,
}

/// One message handed to a consumer, from SQS (Lambda) or the embedded queue (`vigil serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

impl From<&crate::ports::ReceivedMessage> for Message {
    fn from(m: &crate::ports::ReceivedMessage) -> Self {
        Message {
            id: m.message_id.clone(),
            body: m.body.clone(),
            receive_count: m.receive_count,
        }
    }
}

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth another delivery (the queue redelivers it, then dead-letters it).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never succeed; acknowledged and logged so it does not block the queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A queue consumer's logic, the same under Lambda and `vigil serve`.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    async fn handle(&self, message: &Message) -> Result<(), HandleError>;
}

/// Handles a batch concurrently; returns the ids of the messages to redeliver. Each message
/// runs in its own span and one failure does not fail the others.
pub async fn handle_batch(handler: &dyn MessageHandler, messages: &[Message]) -> Vec<String> {
    let outcomes = futures_util::future::join_all(messages.iter().map(|message| {
        let span =
            tracing::info_span!("message", id = %message.id, receive_count = message.receive_count);
        async move {
            match handler.handle(message).await {
                Ok(()) => None,
                Err(HandleError::Retryable(reason)) => {
                    tracing::warn!(%reason, "message failed; it will be redelivered");
                    Some(message.id.clone())
                }
                Err(HandleError::Permanent(reason)) => {
                    tracing::error!(%reason, "message can never be handled; dropping it");
                    None
                }
            }
        }
        .instrument(span)
    }))
    .await;
    outcomes.into_iter().flatten().collect()
}
