//! DispatcherFunction: consumes the outbox queue (SQS, partial batch failures) and runs the
//! outbox sweep on its schedule; reads and writes the table, sends to the outbox, calls channels.
#![forbid(unsafe_code)]

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vigil_lambda::run(
        vigil_dispatcher::Services::new,
        |services| Some(Arc::new(services.handler())),
        |services, invocation| async move { vigil_dispatcher::run_flow(&services, invocation).await },
    )
    .await
}
