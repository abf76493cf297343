//! ConsoleFunction: API Gateway HTTP API routes `/` and every path the API and hooks do not
//! claim; the console's pages, with sessions in the table.
//! Its settings and deliveries pages also queue through the outbox, read its dead-letter queue,
//! seal and open channel and Stripe secrets (KMS) and send channel tests (SES for email).
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = vigil_runtime::Config::from_env()?;
    vigil_runtime::init_tracing(&config);
    let backend = vigil_runtime::Backend::connect(&config).await?;
    let app = vigil_runtime::build_app(&config, &backend)?;
    let state = vigil_ui::ConsoleServices::new(&app);
    lambda_http::run(vigil_http::console_service(state, config.max_body_bytes)).await
}
