//! ApprovalsFunction: invoked by EventBridge Scheduler with `{"flow": ...}`; reads and writes the table.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vigil_lambda::run(
        |_| None,
        |app, invocation| async move { vigil_approvals::run_flow(&app, invocation).await },
    )
    .await
}
