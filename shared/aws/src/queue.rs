//! `Queue` on SQS: one value per queue URL. Dead-lettering is the queue's redrive policy.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use vigil_core::ports::queue::{MAX_DELAY, receive_batch_size, validate_send};
use vigil_core::ports::{Queue, QueueError, ReceivedMessage, RequestCounter, RequestCounts};

use crate::error::{describe, service_code};

/// Longest long poll SQS allows.
const MAX_WAIT_SECONDS: u64 = 20;
/// Longest visibility timeout SQS allows (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 12 * 60 * 60;

/// One SQS queue.
pub struct SqsQueue {
    client: Client,
    url: String,
    counter: RequestCounter,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            counter: RequestCounter::default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// SQS counts in whole seconds; a part-second rounds up so nothing comes back early.
fn whole_seconds(duration: Duration, max: u64) -> i32 {
    let seconds = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(seconds.min(max)).unwrap_or(i32::MAX)
}

fn unavailable<E, R>(err: &SdkError<E, R>) -> QueueError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Unavailable(describe(err))
}

/// A receipt SQS does not know, or one for a message that is no longer in flight.
fn receipt_error<E, R>(err: &SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if is_receipt_code(service_code(err)) {
        QueueError::InvalidReceipt
    } else {
        unavailable(err)
    }
}

/// Whether SQS's error code says the receipt was at fault.
fn is_receipt_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ReceiptHandleIsInvalid"
                | "InvalidIdFormat"
                | "MessageNotInflight"
                | "InvalidParameterValue"
                | "AWS.SimpleQueueService.MessageNotInflight",
        )
    )
}

/// Most entries one SQS batch request takes.
const MAX_BATCH_ENTRIES: usize = 10;

impl SqsQueue {
    /// One DeleteMessageBatch request; entry ids are positions in `receipts`.
    async fn delete_chunk(&self, receipts: &[&str]) -> Vec<Result<(), QueueError>> {
        // SQS refuses a whole request over one empty receipt: those are answered here.
        let mut results: Vec<Result<(), QueueError>> = receipts
            .iter()
            .map(|r| {
                if r.is_empty() {
                    Err(QueueError::InvalidReceipt)
                } else {
                    Ok(())
                }
            })
            .collect();
        let mut entries = Vec::new();
        for (index, receipt) in receipts.iter().enumerate() {
            if receipt.is_empty() {
                continue;
            }
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(*receipt)
                .build();
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => results[index] = Err(QueueError::Unavailable(e.to_string())),
            }
        }
        if entries.is_empty() {
            return results;
        }
        let answer = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(e) => {
                let failure = receipt_error(&e);
                for result in results.iter_mut().filter(|r| r.is_ok()) {
                    *result = Err(failure.clone());
                }
                return results;
            }
        };
        for failed in output.failed() {
            let Some(result) = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            else {
                continue;
            };
            *result = Err(if is_receipt_code(Some(failed.code())) {
                QueueError::InvalidReceipt
            } else {
                QueueError::Unavailable(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                ))
            });
        }
        results
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError> {
        validate_send(body, delay)?;
        self.counter.queue_send();
        let output = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(whole_seconds(delay, MAX_DELAY.as_secs()))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        output.message_id.ok_or_else(|| {
            QueueError::Unavailable("SendMessage answered without a message id".into())
        })
    }

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.counter.queue_receive();
        let max = receive_batch_size(max);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(1))
            .visibility_timeout(whole_seconds(visibility, MAX_VISIBILITY_SECONDS))
            .wait_time_seconds(whole_seconds(wait, MAX_WAIT_SECONDS))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| {
                let receive_count = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                match (message.message_id, message.receipt_handle) {
                    (Some(message_id), Some(receipt)) => Ok(ReceivedMessage {
                        message_id,
                        body: message.body.unwrap_or_default(),
                        receipt,
                        receive_count,
                    }),
                    _ => Err(QueueError::Unavailable(
                        "ReceiveMessage answered a message without id or receipt".into(),
                    )),
                }
            })
            .collect()
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Vec<Result<(), QueueError>> {
        let mut results = Vec::with_capacity(receipts.len());
        for chunk in receipts.chunks(MAX_BATCH_ENTRIES) {
            results.extend(self.delete_chunk(chunk).await);
        }
        results
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        if receipt.is_empty() {
            return Err(QueueError::InvalidReceipt);
        }
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(whole_seconds(timeout, MAX_VISIBILITY_SECONDS))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| receipt_error(&e))
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        let counts = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .set_attribute_names(Some(counts.to_vec()))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let attributes = output.attributes.unwrap_or_default();
        Ok(counts
            .iter()
            .filter_map(|name| attributes.get(name))
            .filter_map(|value| value.parse::<u64>().ok())
            .sum())
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds_within_the_limit() {
        assert_eq!(whole_seconds(Duration::ZERO, 20), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1), 20), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500), 20), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3), 20), 3);
        assert_eq!(whole_seconds(Duration::from_secs(60), 20), 20);
        assert_eq!(whole_seconds(Duration::MAX, MAX_VISIBILITY_SECONDS), 43_200);
    }
}
