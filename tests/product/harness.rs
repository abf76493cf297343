//! A Vigil instance per test: the full router on a fresh backend, embedded (temp dir) or AWS
//! (moto, with resources under a unique prefix).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tower::ServiceExt as _;
use vigil_contract::sinks::Mailbox;
use vigil_core::delivery::NotificationStatus;
use vigil_core::delivery::dispatcher::DispatchReport;
use vigil_core::delivery::outbox::NotificationFilter;
use vigil_core::ports::ResourceNames;
use vigil_core::tenancy::tenants::CreatedTenant;
use vigil_core::{Clock, ManualClock, SystemClock};
use vigil_runtime::App;
use vigil_runtime::{Backend, Config};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Embedded,
    Aws,
}

pub struct TestApp {
    pub app: Arc<App>,
    clock: Arc<dyn Clock>,
    kind: Kind,
    backend: Backend,
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

/// The instant a test pins the app's clock to when the time could change what it sees (a
/// bucket, window or day boundary crossed between two readings of the clock): the middle of a
/// 5-minute bucket on a Wednesday morning, UTC.
pub const PINNED_AT: &str = "2026-11-18T10:02:30Z";

/// A clock standing at [`PINNED_AT`] until the test moves it.
pub fn pinned_clock() -> Arc<ManualClock> {
    let at = DateTime::parse_from_rfc3339(PINNED_AT)
        .expect("PINNED_AT is RFC 3339")
        .with_timezone(&Utc);
    Arc::new(ManualClock::new(at))
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
        Self::start_with_clock(kind, vars, Arc::new(SystemClock)).await
    }

    /// Starts on a clock the test moves.
    pub async fn start_with_clock(
        kind: Kind,
        vars: &[(&str, &str)],
        clock: Arc<dyn Clock>,
    ) -> Self {
        let config = config_for(kind, vars);
        let names = ResourceNames {
            max_receives: 3,
            ..ResourceNames::new(unique_prefix())
        };
        let (backend, dir) = match kind {
            Kind::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let backend = vigil_embedded::EmbeddedBackend::open(
                    dir.path(),
                    &names,
                    vigil_runtime::bus_routes(),
                )
                .expect("open store");
                (Backend::Embedded(backend), Some(dir))
            }
            Kind::Aws => {
                let sdk = vigil_aws::testing::sdk_config().await;
                vigil_aws::testing::verify_email_identity(&sdk, SENDER).await;
                let resources = vigil_aws::bootstrap(
                    &sdk,
                    &names,
                    &vigil_runtime::bus_routes(),
                    "arn:aws:iam::123456789012:role/test",
                )
                .await
                .expect("bootstrap on the emulator");
                (
                    Backend::Aws(vigil_aws::AwsBackend::new(&sdk, resources)),
                    None,
                )
            }
        };
        let app =
            vigil_runtime::build_app_with_clock(&config, &backend, clock.clone()).expect("app");
        let router = vigil_http::all_routes(&app);
        TestApp {
            app,
            clock,
            kind,
            backend,
            router,
            _dir: dir,
        }
    }

    /// The app's now, on whichever clock it runs: what a signature timestamp or a time derived
    /// from the present must agree with.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new composition on the same data, with nothing built yet (as a function starts).
    pub fn fresh_app(&self) -> Arc<App> {
        vigil_runtime::build_app_with_clock(
            &config_for(self.kind, &[]),
            &self.backend,
            self.clock.clone(),
        )
        .expect("app")
    }

    /// The same data with a new configuration, as after a restart with other variables.
    pub fn reconfigure(&mut self, vars: &[(&str, &str)]) {
        let config = config_for(self.kind, vars);
        self.app = vigil_runtime::build_app_with_clock(&config, &self.backend, self.clock.clone())
            .expect("app");
        self.router = vigil_http::all_routes(&self.app);
    }

    /// Sends one request through the router; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.call_as(None, method, path, headers, body).await;
        (status, json)
    }

    /// [`TestApp::call`], with the answer's headers.
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        self.call_as(None, method, path, headers, body).await
    }

    /// [`TestApp::call`] from a peer address, as `vigil serve`'s listener reports it.
    pub async fn call_from(
        &self,
        peer: std::net::SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.call_as(Some(peer), method, path, headers, body).await;
        (status, json)
    }

    async fn call_as(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let (status, headers, bytes) = self.respond(peer, method, path, headers, body).await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, json)
    }

    /// A request whose answer is a page: the status, the headers and the body as text.
    pub async fn page(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let (status, headers, bytes) = self.respond(None, method, path, headers, body).await;
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// A GET whose answer is bytes (a packed asset): the status, the headers and the body.
    pub async fn get_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        self.respond(None, "GET", path, headers, Body::empty())
            .await
    }

    async fn respond(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(body.into()).expect("request");
        if let Some(peer) = peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes)
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

    /// Runs the dispatcher over the outbox, as `vigil serve` does, until none of the tenant's
    /// notifications is pending or `patience` runs out. Returns what each handled message did.
    pub async fn dispatch_until_settled(
        &self,
        tenant: &str,
        patience: Duration,
    ) -> Vec<DispatchReport> {
        let deadline = Instant::now() + patience;
        let mut reports = Vec::new();
        let pending = NotificationFilter {
            status: Some(NotificationStatus::Pending),
            kind: None,
        };
        loop {
            let messages = self
                .app
                .ports
                .outbox
                .receive(10, Duration::from_secs(30), Duration::from_millis(500))
                .await
                .expect("outbox receive");
            for message in messages {
                let report = self
                    .app
                    .dispatcher()
                    .handle(&message.body)
                    .await
                    .expect("message handled");
                self.app
                    .ports
                    .outbox
                    .delete(&message.receipt)
                    .await
                    .expect("delete");
                reports.push(report);
            }
            let (still, _) = self
                .app
                .outbox()
                .list(tenant, &pending, 10, None)
                .await
                .expect("list pending");
            if still.is_empty() || Instant::now() > deadline {
                return reports;
            }
        }
    }

    /// A new viewer key of `tenant`.
    pub async fn viewer_key(&self, tenant: &str) -> String {
        self.key_with_role(tenant, vigil_core::tenancy::Role::Viewer)
            .await
    }

    /// A new key of `tenant` with `role`.
    pub async fn key_with_role(&self, tenant: &str, role: vigil_core::tenancy::Role) -> String {
        self.app
            .keys()
            .create(tenant, role, &vigil_core::tenancy::audit::Actor::Cli)
            .await
            .expect("key")
            .api_key
            .expose()
            .to_owned()
    }

    /// A tenant whose Stripe hooks are verified with `secret`.
    pub async fn tenant_with_stripe(&self, secret: &str) -> CreatedTenant {
        self.app
            .tenants()
            .create(
                "Acme",
                Some(secret),
                &vigil_core::tenancy::audit::Actor::Cli,
            )
            .await
            .expect("tenant created")
    }

    pub async fn tenant(&self, name: &str) -> CreatedTenant {
        self.app
            .tenants()
            .create(name, None, &vigil_core::tenancy::audit::Actor::Cli)
            .await
            .expect("tenant created")
    }
}

/// Test configuration: `vars` over the defaults of the backend's kind. Email goes to the SMTP
/// sink on the embedded store and to SES (the emulator) on AWS.
fn config_for(kind: Kind, vars: &[(&str, &str)]) -> Config {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut default = |name: &str, value: String| {
        if !all.iter().any(|(k, _)| k == name) {
            all.push((name.to_owned(), value));
        }
    };
    default("VIGIL_EMAIL_FROM", SENDER.to_owned());
    // The sinks tests deliver to listen on loopback; the egress tests set their own (empty) list.
    default("VIGIL_EGRESS_ALLOW", LOOPBACK.to_owned());
    match kind {
        Kind::Embedded => default("VIGIL_SMTP_URL", mailbox().smtp_url()),
        Kind::Aws => default("VIGIL_EMAIL", "ses".to_owned()),
    }
    Config::from_source(&VarList(all)).expect("test configuration")
}

/// The allow list tests run with: loopback, where the local sinks listen.
pub const LOOPBACK: &str = "127.0.0.0/8,::1/128";

/// The address Vigil sends test email from.
pub const SENDER: &str = "vigil@example.com";

/// The SMTP sink every test of this process shares.
pub fn mailbox() -> &'static Mailbox {
    static MAILBOX: std::sync::OnceLock<Mailbox> = std::sync::OnceLock::new();
    MAILBOX.get_or_init(Mailbox::start)
}

struct VarList(Vec<(String, String)>);

impl vigil_runtime::config::Source for VarList {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}
