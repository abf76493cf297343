//! A Vigil instance per test: the full router on a fresh backend, embedded (temp dir) or AWS
//! (moto, with resources under a unique prefix).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;
use vigil_core::App;
use vigil_core::deployment::ResourceNames;
use vigil_core::tenancy::tenants::CreatedTenant;
use vigil_runtime::{Backend, Config};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Embedded,
    Aws,
}

pub struct TestApp {
    pub app: Arc<App>,
    _backend: Backend,
    router: Router,
    _dir: Option<tempfile::TempDir>,
}

/// Runs a scenario once per backend: `both!(name)` expects `async fn name(kind: Kind)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::harness::Kind::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn aws() {
                super::$name($crate::harness::Kind::Aws).await
            }
        }
    )*};
}

fn unique_prefix() -> String {
    format!("p{}", &ulid::Ulid::new().to_string().to_lowercase()[14..])
}

impl TestApp {
    pub async fn start(kind: Kind) -> Self {
        Self::start_with(kind, &[]).await
    }

    /// Starts with extra configuration variables (e.g. a small body limit).
    pub async fn start_with(kind: Kind, vars: &[(&str, &str)]) -> Self {
        let vars: Vec<(&str, &str)> = vars.to_vec();
        let config = Config::from_source(&VarList(vars)).expect("test configuration");
        let names = ResourceNames {
            max_receives: 3,
            ..ResourceNames::new(unique_prefix())
        };
        let (backend, dir) = match kind {
            Kind::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let backend =
                    vigil_embedded::EmbeddedBackend::open(dir.path(), &names).expect("open store");
                (Backend::Embedded(backend), Some(dir))
            }
            Kind::Aws => {
                let sdk = vigil_aws::testing::sdk_config().await;
                let resources =
                    vigil_aws::bootstrap(&sdk, &names, "arn:aws:iam::123456789012:role/test")
                        .await
                        .expect("bootstrap on the emulator");
                (
                    Backend::Aws(vigil_aws::AwsBackend::new(&sdk, resources)),
                    None,
                )
            }
        };
        let app = vigil_runtime::build_app(&config, &backend);
        let router = vigil_api::all_routes(app.clone());
        TestApp {
            app,
            _backend: backend,
            router,
            _dir: dir,
        }
    }

    /// Sends one request through the router; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(body.into()).expect("request"))
            .await
            .expect("router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, json)
    }

    /// GET with an API key.
    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let auth = format!("Bearer {key}");
        self.call("GET", path, &[("authorization", &auth)], Body::empty())
            .await
    }

    /// A method with a JSON body and an API key.
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let auth = format!("Bearer {key}");
        self.call(
            method,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
    }

    pub async fn tenant(&self, name: &str) -> CreatedTenant {
        self.app
            .tenants
            .create(name, None, &vigil_core::tenancy::audit::Actor::Cli)
            .await
            .expect("tenant created")
    }
}

struct VarList<'a>(Vec<(&'a str, &'a str)>);

impl vigil_runtime::config::Source for VarList<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}
