//! WorkflowsFunction: consumes the workflow queue (domain events and delayed steps, SQS with
//! partial batch failures) and runs the workflow tick; reads and writes the table, sends to both
//! queues, publishes events, creates one-time schedules.
#![forbid(unsafe_code)]

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vigil_lambda::run_reading(
        Some(vigil_runtime::ssm_parameters),
        vigil_workflows::Services::new,
        |services| Some(Arc::new(services.handler())),
        |services, invocation| async move { vigil_workflows::run_flow(&services, invocation).await },
    )
    .await
}
