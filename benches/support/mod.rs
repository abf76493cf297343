//! What every in-process bench sets up: a tokio runtime and Vigil on a fresh embedded store.

use std::sync::Arc;

/// A two-worker runtime, like the machines the figures are measured on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Vigil on a new SQLite store in a temporary directory (kept alive by the returned guard).
pub fn embedded_app() -> (
    tempfile::TempDir,
    vigil_runtime::Backend,
    Arc<vigil_core::App>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = vigil_runtime::Config::from_source(&[("VIGIL_LOG", "warn")]).expect("config");
    let backend = vigil_runtime::Backend::Embedded(
        vigil_embedded::EmbeddedBackend::open(
            dir.path(),
            &vigil_core::deployment::ResourceNames::default(),
        )
        .expect("open"),
    );
    let app = vigil_runtime::build_app(&config, &backend).expect("app");
    (dir, backend, app)
}
