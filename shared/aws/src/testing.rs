//! Test support (feature `testing`): one moto server per test process, and an SDK config that
//! points at it.
//!
//! `VIGIL_TEST_AWS_ENDPOINT` names a running emulator (the project's test command starts one).
//! Without it, the first caller starts `moto_server` from the workspace's `.venv` or from `PATH`
//! on a free loopback port; it stops when the test process ends, however it ends.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls;

/// Environment variable naming an emulator that is already running.
pub const ENDPOINT_VARIABLE: &str = "VIGIL_TEST_AWS_ENDPOINT";

/// Region every test resource lives in.
pub const REGION: &str = "us-east-1";

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A moto server this process started. Dropping the stdin pipe (process exit) stops it.
struct Server {
    endpoint: String,
    _child: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The endpoint of the emulator every test of this process shares, started on first use.
///
/// # Panics
/// When no emulator is named and `moto_server` cannot be found or started: tests never skip.
pub fn moto_endpoint() -> String {
    if let Ok(endpoint) = std::env::var(ENDPOINT_VARIABLE)
        && !endpoint.trim().is_empty()
    {
        return endpoint.trim().to_owned();
    }
    match SERVER.get_or_init(start) {
        Ok(server) => server.endpoint.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// An SDK config for the shared emulator: region us-east-1, static test credentials, no
/// retries (moto answers 500 to malformed expressions; a retry would only hide the bug), and
/// nothing taken from the host's AWS environment or profile.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(&moto_endpoint()).await
}

/// The same, for an emulator at `endpoint`.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .http_client(direct_http_client())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "vigil-testing",
        ))
        // As in production (the SDK's standard mode), a 5xx is tried again. moto's DynamoDB is not
        // thread-safe: concurrent transactions (a batch of runs is written concurrently) now and
        // then make it answer 500 ("dictionary changed size during iteration") without writing
        // anything. Typed refusals (a failed condition) are never retried.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// The SDK's default HTTPS client, but never through a proxy: the default one follows
/// `HTTP_PROXY` (behavior versions from 2025-08-07), which would take the emulator's loopback
/// traffic away from it.
fn direct_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

fn find_moto() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    })
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free loopback port for moto server: {e}"))
}

fn start() -> Result<Server, String> {
    let Some(moto) = find_moto() else {
        return Err(format!(
            "moto_server was not found in .venv/bin nor on PATH, and {ENDPOINT_VARIABLE} is not \
             set: run the project's test command (`make test`), which installs and starts it"
        ));
    };
    let port = free_port()?;
    let log = std::env::temp_dir().join(format!("vigil-moto-{port}.log"));
    // The shell stops moto (and removes its log) when its stdin closes, i.e. when this process
    // ends for any reason.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & server=$!; cat >/dev/null; kill "$server"; wait "$server"; rm -f "$2""#)
        .arg(&moto)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", moto.display()))?;
    let Some(stdin) = child.stdin.take() else {
        return Err("moto server started without a stdin pipe".into());
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        let exited = child.try_wait().ok().flatten().is_some();
        if exited || started.elapsed() > START_TIMEOUT {
            let mut output = String::new();
            let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut output));
            return Err(format!(
                "moto server ({}) did not start on port {port}: {output}",
                moto.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        endpoint: format!("http://{addr}"),
        _child: Mutex::new((child, stdin)),
    })
}

/// Verifies `address` as an SES sender on the emulator (SES refuses unverified senders).
///
/// # Panics
/// When the emulator refuses: the test cannot go on.
pub async fn verify_email_identity(sdk: &SdkConfig, address: &str) {
    let result = aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(address)
        .send()
        .await;
    if let Err(e) = result {
        let already = e
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        assert!(already, "cannot verify {address} on the emulator: {e:?}");
    }
}

/// Stores `value` as the SecureString parameter `name` on the emulator, replacing any.
///
/// # Panics
/// When the emulator refuses: the test cannot go on.
pub async fn put_secure_parameter(sdk: &SdkConfig, name: &str, value: &str) {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot store {name} on the emulator: {e:?}"));
}
