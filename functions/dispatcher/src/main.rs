//! DispatcherFunction: consumes the outbox queue (SQS, partial batch failures) and runs the
//! outbox sweep on its schedule; reads and writes the table, sends to the outbox, calls channels.
#![forbid(unsafe_code)]

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vigil_lambda::run(
        |app| Some(Arc::new(vigil_dispatcher::OutboxHandler::new(app))),
        |app, invocation| async move { vigil_dispatcher::run_flow(&app, invocation).await },
    )
    .await
}
