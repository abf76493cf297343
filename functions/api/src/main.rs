//! ApiFunction: API Gateway HTTP API routes `/api/v1/...` (admin API, bearer API keys);
//! reads and writes the table, queues to the outbox, publishes events.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = vigil_runtime::Config::from_env()?;
    vigil_runtime::init_tracing(&config);
    let backend = vigil_runtime::Backend::connect(&config).await?;
    let app = vigil_runtime::build_app(&config, &backend)?;
    lambda_http::run(vigil_http::api_service(vigil_http::ApiServices::new(&app))).await
}
