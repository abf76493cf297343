//! The queue port: SQS semantics (at-least-once, visibility timeout, delayed delivery,
//! dead-letter after N receives). One value of this trait is one queue.

use std::time::Duration;

use async_trait::async_trait;

use super::RequestCounts;

/// Longest delay a queue accepts for one message (SQS: 15 minutes).
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// Most messages one receive returns (SQS: 10).
pub const MAX_RECEIVE_BATCH: u32 = 10;

/// A message taken from a queue; invisible to other receivers until its visibility timeout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub body: String,
    /// Handle for delete / change-visibility; valid for this receive only.
    pub receipt: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("delay {0:?} is longer than the queue allows (15 minutes)")]
    DelayTooLong(Duration),
    #[error("message is larger than the queue allows ({0} bytes)")]
    MessageTooLarge(usize),
    /// The receipt is not one this queue issued. A stale receipt (message since deleted or
    /// received again) may be refused too, or accepted without effect as SQS does: callers
    /// rely on neither.
    #[error("receipt is not valid")]
    InvalidReceipt,
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// Largest message body (SQS: 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// What every queue accepts to send: a delay of at most [`MAX_DELAY`], a body of at most
/// [`MAX_MESSAGE_BYTES`].
pub fn validate_send(body: &str, delay: Duration) -> Result<(), QueueError> {
    if delay > MAX_DELAY {
        return Err(QueueError::DelayTooLong(delay));
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(QueueError::MessageTooLarge(body.len()));
    }
    Ok(())
}

/// How many messages a receive asking for `max` takes at most: 1 to [`MAX_RECEIVE_BATCH`].
pub fn receive_batch_size(max: u32) -> u32 {
    max.clamp(1, MAX_RECEIVE_BATCH)
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Queues `body`, invisible for `delay` (at most [`MAX_DELAY`]). Returns the message id.
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError>;

    /// Takes up to `max` (at most [`MAX_RECEIVE_BATCH`]) visible messages, hiding each for
    /// `visibility`. Waits up to `wait` for one to arrive. A message received more often than the
    /// queue's limit moves to its dead-letter queue instead of being returned.
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Removes a received message for good. A receipt whose message was deleted or received
    /// again since may be refused ([`QueueError::InvalidReceipt`], embedded) or accepted (SQS
    /// accepts it, and may or may not delete the message): callers must not rely on either.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.delete_batch(&[receipt])
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(QueueError::Unavailable(
                    "the queue answered no result for a delete".into(),
                ))
            })
    }

    /// Removes received messages for good, as SQS's batch delete does (in requests of ten):
    /// one result per receipt, in order; receipts are judged as by [`delete`](Self::delete).
    async fn delete_batch(&self, receipts: &[&str]) -> Vec<Result<(), QueueError>>;

    /// Hides a received message for `timeout` from now (zero makes it visible at once).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError>;

    /// Messages in the queue, visible or not (approximate on SQS).
    async fn depth(&self) -> Result<u64, QueueError>;

    fn request_counts(&self) -> RequestCounts;
}
