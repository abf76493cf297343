//! What scheduled flows and queue consumers share, whichever process runs them (a Lambda
//! function or `vigil serve`): the report a flow returns, running a job tenant by tenant, and the
//! contract of a message handler (partial batch failures, retried by [`Error::is_retryable`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use vigil_core::Error;
pub use vigil_core::tenancy::TenantFailure;

use crate::deployment::Flow;

/// What a scheduled flow did, logged and returned to its invoker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    pub flow: Flow,
    /// Counts and notes particular to the flow.
    pub detail: serde_json::Value,
    /// Tenants whose part of the flow failed; every other tenant's part was done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tenants: Vec<TenantFailure>,
}

/// A job run over every tenant: what each tenant's part returned, and the parts that failed.
#[derive(Debug)]
pub struct EachTenant<T> {
    pub done: Vec<(String, T)>,
    pub failed: Vec<TenantFailure>,
}

impl<T> EachTenant<T> {
    /// The flow's report from the done parts' detail and the failures.
    pub fn report(
        self,
        flow: Flow,
        detail: impl FnOnce(Vec<(String, T)>) -> serde_json::Value,
    ) -> FlowReport {
        FlowReport {
            flow,
            detail: detail(self.done),
            failed_tenants: self.failed,
        }
    }
}

/// Runs `part` for each tenant on its own, one after another: a tenant's error is logged and
/// recorded, and the other tenants go on, so one tenant's bad data never stops everyone's
/// scheduled work.
pub async fn each_tenant<T, Fut>(
    job: Flow,
    tenants: Vec<String>,
    mut part: impl FnMut(String) -> Fut,
) -> EachTenant<T>
where
    Fut: std::future::Future<Output = vigil_core::Result<T>>,
{
    let mut outcome = EachTenant {
        done: Vec::with_capacity(tenants.len()),
        failed: Vec::new(),
    };
    for tenant in tenants {
        match part(tenant.clone()).await {
            Ok(value) => outcome.done.push((tenant, value)),
            Err(error) => {
                tracing::error!(?job, tenant, %error, "a tenant's part of a scheduled job failed; the other tenants go on");
                outcome.failed.push(TenantFailure {
                    tenant,
                    error: error.to_string(),
                });
            }
        }
    }
    outcome
}

/// Runs one scheduled job and logs its one line: the job, how long it took, its counts, and the
/// tenants whose part failed (`warn`) or the error that stopped it (`error`).
pub async fn run_logged<F>(job: Flow, run: F) -> vigil_core::Result<FlowReport>
where
    F: std::future::Future<Output = vigil_core::Result<FlowReport>>,
{
    let started = std::time::Instant::now();
    let outcome = run.await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &outcome {
        Ok(report) if report.failed_tenants.is_empty() => {
            tracing::info!(target: "vigil::job", ?job, duration_ms, counts = %report.detail,
                failed_tenants = 0, "job finished");
        }
        Ok(report) => {
            let failed: Vec<&str> = report
                .failed_tenants
                .iter()
                .map(|f| f.tenant.as_str())
                .collect();
            tracing::warn!(target: "vigil::job", ?job, duration_ms, counts = %report.detail,
                failed_tenants = failed.len(), tenants = %failed.join(","),
                "job finished; some tenants' parts failed");
        }
        Err(error) => {
            tracing::error!(target: "vigil::job", ?job, duration_ms, %error, "job failed");
        }
    }
    outcome
}

/// One message handed to a consumer, from SQS (Lambda) or the embedded queue (`vigil serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

impl From<&vigil_core::ports::ReceivedMessage> for Message {
    fn from(m: &vigil_core::ports::ReceivedMessage) -> Self {
        Message {
            id: m.message_id.clone(),
            body: m.body.clone(),
            receive_count: m.receive_count,
        }
    }
}

/// A queue consumer's logic, the same under Lambda and `vigil serve`. A message whose error
/// [is retryable](Error::is_retryable) is delivered again (and dead-lettered after the queue's
/// receive limit); any other error is logged and the message acknowledged, so it does not block
/// the queue.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    async fn handle(&self, message: &Message) -> Result<(), Error>;
}

/// Handles a batch concurrently; returns the ids of the messages to redeliver. Each message
/// runs in its own span and one failure does not fail the others. The batch gets one log line:
/// how many messages, how many come back, how many were dropped, and how long it took.
pub async fn handle_batch(handler: &dyn MessageHandler, messages: &[Message]) -> Vec<String> {
    let started = std::time::Instant::now();
    let outcomes = futures_util::future::join_all(messages.iter().map(|message| {
        let span =
            tracing::info_span!("message", id = %message.id, receive_count = message.receive_count);
        async move {
            match handler.handle(message).await {
                Ok(()) => Handled::Done,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "message failed; it will be redelivered");
                    Handled::Redeliver(message.id.clone())
                }
                Err(error) => {
                    tracing::error!(%error, "message can never be handled; dropping it");
                    Handled::Dropped
                }
            }
        }
        .instrument(span)
    }))
    .await;
    let dropped = outcomes
        .iter()
        .filter(|o| matches!(o, Handled::Dropped))
        .count();
    let redeliver: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            Handled::Redeliver(id) => Some(id),
            Handled::Done | Handled::Dropped => None,
        })
        .collect();
    tracing::info!(target: "vigil::job", job = "message_batch", messages = messages.len(),
        redelivered = redeliver.len(), dropped,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "batch handled");
    redeliver
}

/// What became of one message of a batch.
enum Handled {
    Done,
    Redeliver(String),
    Dropped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_tenants_failure_does_not_stop_the_others() {
        let tenants = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let outcome = each_tenant(Flow::WorkflowTick, tenants, |tenant| async move {
            if tenant == "b" {
                Err(Error::Unavailable("store down".into()))
            } else {
                Ok(tenant.len())
            }
        })
        .await;
        assert_eq!(outcome.done, vec![("a".to_owned(), 1), ("c".to_owned(), 1)]);
        let report = outcome.report(Flow::WorkflowTick, |done| serde_json::json!(done.len()));
        assert_eq!(report.detail, serde_json::json!(2));
        assert_eq!(report.failed_tenants.len(), 1);
        assert_eq!(report.failed_tenants[0].tenant, "b");
        assert!(report.failed_tenants[0].error.contains("store down"));
    }
}
