//! IngestFunction: API Gateway HTTP API routes `POST /hooks/{tenant}/...`; writes events to the
//! table (one conditional put each) and publishes them to the event bus.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = vigil_runtime::Config::from_env()?;
    vigil_runtime::init_tracing(&config);
    let backend = vigil_runtime::Backend::connect(&config).await?;
    let app = vigil_runtime::build_app(&config, &backend)?;
    lambda_http::run(vigil_http::ingest_service(vigil_http::IngestServices::new(
        &app,
    )))
    .await
}
