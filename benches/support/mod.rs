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
#[allow(dead_code)] // not every bench uses every helper
pub fn embedded_app() -> (
    tempfile::TempDir,
    vigil_runtime::Backend,
    Arc<vigil_runtime::App>,
) {
    embedded_app_from(&[("VIGIL_LOG", "warn")])
}

/// [`embedded_app`] with one more configuration variable.
#[allow(dead_code)] // not every bench uses every helper
pub fn embedded_app_with(
    variable: (&str, &str),
) -> (
    tempfile::TempDir,
    vigil_runtime::Backend,
    Arc<vigil_runtime::App>,
) {
    embedded_app_from(&[("VIGIL_LOG", "warn"), variable])
}

fn embedded_app_from(
    source: &dyn vigil_runtime::config::Source,
) -> (
    tempfile::TempDir,
    vigil_runtime::Backend,
    Arc<vigil_runtime::App>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = vigil_runtime::Config::from_source(source).expect("config");
    let backend = vigil_runtime::Backend::Embedded(
        vigil_embedded::EmbeddedBackend::open(
            dir.path(),
            &vigil_core::ports::ResourceNames::default(),
            vigil_runtime::bus_routes(),
        )
        .expect("open"),
    );
    let app = vigil_runtime::build_app(&config, &backend).expect("app");
    (dir, backend, app)
}

/// Vigil on a private in-memory SQLite store (no fsync): for costs that are not the disk's.
#[allow(dead_code)] // not every bench uses every helper
pub fn memory_app_with(
    variable: (&str, &str),
) -> (vigil_runtime::Backend, Arc<vigil_runtime::App>) {
    let config =
        vigil_runtime::Config::from_source(&[("VIGIL_LOG", "warn"), variable]).expect("config");
    let backend = vigil_runtime::Backend::Embedded(
        vigil_embedded::EmbeddedBackend::in_memory(
            &vigil_core::ports::ResourceNames::default(),
            vigil_runtime::bus_routes(),
        )
        .expect("open"),
    );
    let app = vigil_runtime::build_app(&config, &backend).expect("app");
    (backend, app)
}
