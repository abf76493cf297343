//! SummaryFunction: invoked by EventBridge Scheduler with `{"flow": ...}`; reads and writes the table.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vigil_lambda::run_reading(
        Some(vigil_runtime::ssm_parameters),
        vigil_summary::Services::new,
        |_| None,
        |services, invocation| async move { vigil_summary::run_flow(&services, invocation).await },
    )
    .await
}
