//! Lambda glue for the non-HTTP functions. A function's `main` hands this crate its
//! message handler and/or its flow runner; the event decides which runs:
//! an SQS batch (answered with partial batch failures) or `{"flow": ...}` from EventBridge Scheduler.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use vigil_core::App;
use vigil_core::deployment::FlowInvocation;
use vigil_core::flows::{FlowReport, Message, MessageHandler, handle_batch};

/// What a non-HTTP function may be invoked with.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Flow(FlowInvocation),
    Sqs(SqsEvent),
}

/// The messages of an SQS event.
pub fn messages(event: SqsEvent) -> Vec<Message> {
    event
        .records
        .into_iter()
        .map(|record| Message {
            id: record.message_id.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        })
        .collect()
}

/// Handles an SQS batch, reporting the failed messages so only they are redelivered.
pub async fn handle_sqs(handler: &dyn MessageHandler, event: SqsEvent) -> SqsBatchResponse {
    let failed = handle_batch(handler, &messages(event)).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Starts the function: configuration, tracing and backend at init (no lazy clients), then
/// the Lambda loop. `handler` consumes SQS batches (if the function has a queue); `run_flow`
/// runs scheduled flows.
pub async fn run<F, Fut>(
    make_handler: impl FnOnce(Arc<App>) -> Option<Arc<dyn MessageHandler>>,
    run_flow: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<App>, FlowInvocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = vigil_core::Result<FlowReport>> + Send,
{
    let config = vigil_runtime::Config::from_env()?;
    vigil_runtime::init_tracing(&config);
    let backend = vigil_runtime::Backend::connect(&config).await?;
    let app = vigil_runtime::build_app(&config, &backend)?;
    let handler = make_handler(app.clone());
    let run_flow = Arc::new(run_flow);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Invocation>| {
        let app = app.clone();
        let handler = handler.clone();
        let run_flow = run_flow.clone();
        async move {
            match event.payload {
                Invocation::Flow(invocation) => {
                    let report = run_flow(app, invocation).await?;
                    tracing::info!(flow = ?report.flow, detail = %report.detail, "flow finished");
                    Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
                }
                Invocation::Sqs(batch) => match handler.as_deref() {
                    Some(handler) => Ok(serde_json::to_value(handle_sqs(handler, batch).await)?),
                    None => Err("this function does not consume a queue".into()),
                },
            }
        }
    }))
    .await
}
