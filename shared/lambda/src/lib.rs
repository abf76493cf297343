//! Lambda glue for the non-HTTP functions. A function's `main` hands this crate its
//! message handler and/or its flow runner; the event decides which runs:
//! an SQS batch (answered with partial batch failures) or `{"flow": ...}` from EventBridge Scheduler.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use vigil_runtime::App;
use vigil_runtime::deployment::FlowInvocation;
use vigil_runtime::jobs::{FlowReport, Message, MessageHandler, handle_batch};

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

/// Answers one invocation as a function's Lambda loop does: a flow runs on `context`, an SQS
/// batch goes to `handler` (a function without a queue refuses one).
pub async fn invoke<C, F, Fut>(
    context: C,
    handler: Option<&dyn MessageHandler>,
    run_flow: &F,
    payload: Invocation,
) -> Result<serde_json::Value, lambda_runtime::Error>
where
    F: Fn(C, FlowInvocation) -> Fut,
    Fut: Future<Output = vigil_core::Result<FlowReport>>,
{
    match payload {
        Invocation::Flow(invocation) => {
            let report =
                vigil_runtime::jobs::run_logged(invocation.flow, run_flow(context, invocation))
                    .await?;
            Ok(serde_json::to_value(report)?)
        }
        Invocation::Sqs(batch) => match handler {
            Some(handler) => Ok(serde_json::to_value(handle_sqs(handler, batch).await)?),
            None => Err("this function does not consume a queue".into()),
        },
    }
}

/// Starts the function: configuration, tracing and backend at init (no lazy clients), then
/// the Lambda loop. `state` takes from the wired services the few this function uses (only those
/// are built); `handler` consumes SQS batches (if the function has a queue); `run_flow` runs
/// scheduled flows on the state.
pub async fn run<S, F, Fut>(
    state: impl FnOnce(&App) -> S,
    handler: impl FnOnce(&S) -> Option<Arc<dyn MessageHandler>>,
    run_flow: F,
) -> Result<(), lambda_runtime::Error>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, FlowInvocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = vigil_core::Result<FlowReport>> + Send,
{
    run_reading(None, state, handler, run_flow).await
}

/// [`run`] for a function that words text (summaries, drafts): it reads the AI key's parameter
/// with `parameters` ([`vigil_runtime::ssm_parameters`]).
pub async fn run_reading<S, F, Fut>(
    parameters: Option<vigil_runtime::ParameterReader>,
    state: impl FnOnce(&App) -> S,
    handler: impl FnOnce(&S) -> Option<Arc<dyn MessageHandler>>,
    run_flow: F,
) -> Result<(), lambda_runtime::Error>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, FlowInvocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = vigil_core::Result<FlowReport>> + Send,
{
    let config = vigil_runtime::Config::from_env()?;
    vigil_runtime::init_tracing(&config);
    let backend = vigil_runtime::Backend::connect(&config).await?;
    let app = match parameters {
        Some(parameters) => vigil_runtime::build_app_reading(&config, &backend, parameters)?,
        None => vigil_runtime::build_app(&config, &backend)?,
    };
    let state = state(&app);
    let handler = handler(&state);
    let run_flow = Arc::new(run_flow);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Invocation>| {
        let state = state.clone();
        let handler = handler.clone();
        let run_flow = run_flow.clone();
        async move { invoke(state, handler.as_deref(), &*run_flow, event.payload).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;
    use vigil_core::Error;
    use vigil_runtime::deployment::Flow;

    use super::*;

    /// Fails the messages whose body says so, the way a consumer classifies its errors.
    struct ByBody;

    #[async_trait]
    impl MessageHandler for ByBody {
        async fn handle(&self, message: &Message) -> Result<(), Error> {
            match message.body.as_str() {
                "store down" => Err(Error::Unavailable(message.body.clone())),
                "never" => Err(Error::NotFound(message.body.clone())),
                _ => Ok(()),
            }
        }
    }

    fn batch(bodies: &[&str]) -> Invocation {
        let records: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({"messageId": format!("m{i}"), "body": body, "eventSource": "aws:sqs",
                       "attributes": {"ApproximateReceiveCount": "3"}, "messageAttributes": {}})
            })
            .collect();
        serde_json::from_value(json!({"Records": records})).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn no_flow(_: (), invocation: FlowInvocation) -> vigil_core::Result<FlowReport> {
        Ok(FlowReport {
            flow: invocation.flow,
            detail: json!({"ran": true}),
            failed_tenants: Vec::new(),
        })
    }

    #[tokio::test]
    async fn a_batch_answers_with_exactly_the_messages_to_redeliver() {
        let payload = batch(&["ok", "store down", "never", "ok", "store down"]);
        let answer = invoke((), Some(&ByBody), &no_flow, payload)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Retryable failures come back for redelivery; permanent ones and successes do not.
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m4"}]})
        );
    }

    #[tokio::test]
    async fn a_batch_where_everything_succeeds_reports_no_failures() {
        let answer = invoke((), Some(&ByBody), &no_flow, batch(&["ok", "ok"]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer, json!({"batchItemFailures": []}));
    }

    #[test]
    fn messages_carry_their_receive_count() {
        let Invocation::Sqs(event) = batch(&["ok"]) else {
            panic!("an SQS event reads as a batch");
        };
        let read = messages(event);
        assert_eq!((read[0].id.as_str(), read[0].receive_count), ("m0", 3));
    }

    #[tokio::test]
    async fn a_flow_runs_and_a_function_without_a_queue_refuses_a_batch() {
        let flow: Invocation =
            serde_json::from_value(json!({"flow": "rules_tick"})).unwrap_or_else(|e| panic!("{e}"));
        let answer = invoke((), None, &no_flow, flow)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer["flow"], json!(Flow::RulesTick));
        assert!(invoke((), None, &no_flow, batch(&["ok"])).await.is_err());
    }
}
