//! Real endpoints for delivery tests: an HTTP sink that records requests and answers as scripted
//! (Slack and webhook channels), an SMTP sink (aiosmtpd from PyPI, writing a Maildir) and the
//! `standardwebhooks` reference implementation to verify signatures independently.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// An HTTP client for tests. It never uses a proxy: the servers and sinks tests talk to are on
/// loopback, and an `HTTP_PROXY` in the caller's environment must not take their requests away.
///
/// # Panics
/// When the client cannot be built (no TLS backend): no test can go on.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("cannot build the test HTTP client: {e}"))
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Lowercased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct SinkResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Option<Duration>,
}

impl SinkResponse {
    pub fn status(status: u16) -> Self {
        SinkResponse {
            status,
            headers: Vec::new(),
            body: "ok".into(),
            delay: None,
        }
    }

    pub fn with_body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Default)]
struct SinkState {
    requests: Vec<RecordedRequest>,
    scripts: HashMap<String, VecDeque<SinkResponse>>,
}

/// An HTTP server on a free loopback port, running on the current tokio runtime.
pub struct HttpSink {
    base: String,
    state: Arc<Mutex<SinkState>>,
    server: tokio::task::JoinHandle<()>,
}

impl HttpSink {
    pub async fn start() -> HttpSink {
        let state = Arc::new(Mutex::new(SinkState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the HTTP sink binds a loopback port");
        let addr = listener.local_addr().expect("the sink's address");
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpSink {
            base: format!("http://{addr}"),
            state,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests to `path` with `responses`, in order; then 200 again.
    pub fn script(&self, path: &str, responses: Vec<SinkResponse>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .scripts
            .insert(path.to_owned(), responses.into_iter().collect());
    }

    pub fn requests(&self, path: &str) -> Vec<RecordedRequest> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` received `n` requests or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(state): State<Arc<Mutex<SinkState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let scripted = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });
        state.scripts.get_mut(&path).and_then(VecDeque::pop_front)
    };
    let answer = scripted.unwrap_or_else(|| SinkResponse::status(200));
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body.clone()).into_response();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

// ---- SMTP sink --------------------------------------------------------------------------------

/// Variables naming a running SMTP sink (the project's test command starts one).
pub const SMTP_URL_VARIABLE: &str = "VIGIL_TEST_SMTP_URL";
pub const MAILDIR_VARIABLE: &str = "VIGIL_TEST_MAILDIR";

/// A mail received by the SMTP sink.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

/// The SMTP sink: the one the test command started, or one started here from `.venv`.
pub struct Mailbox {
    smtp_url: String,
    maildir: PathBuf,
    _server: Option<Mutex<(Child, ChildStdin)>>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}

impl Mailbox {
    /// # Panics
    /// When no sink is named and none can be started: tests never skip.
    pub fn start() -> Mailbox {
        if let (Ok(url), Ok(dir)) = (
            std::env::var(SMTP_URL_VARIABLE),
            std::env::var(MAILDIR_VARIABLE),
        ) && !url.is_empty()
            && !dir.is_empty()
        {
            return Mailbox {
                smtp_url: url,
                maildir: PathBuf::from(dir),
                _server: None,
            };
        }
        Self::start_own().unwrap_or_else(|e| panic!("{e}"))
    }

    fn start_own() -> Result<Mailbox, String> {
        let python = venv_python();
        if !python.is_file() {
            return Err(format!(
                "no SMTP sink: {SMTP_URL_VARIABLE} is not set and {} is missing; run the \
                 project's test command (`make test`), which installs aiosmtpd",
                python.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port for the SMTP sink: {e}"))?;
        let maildir = std::env::temp_dir().join(format!("vigil-maildir-{port}"));
        // The shell stops the sink when this process's end closes its stdin.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -m aiosmtpd -n -l "127.0.0.1:$1" -c aiosmtpd.handlers.Mailbox "$2" >/dev/null 2>&1 & server=$!; cat >/dev/null; kill "$server"; wait "$server"; rm -rf "$2""#)
            .arg(&python)
            .arg(port.to_string())
            .arg(&maildir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the SMTP sink: {e}"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or("the SMTP sink has no stdin pipe")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "the SMTP sink (aiosmtpd) did not start on {addr}; is aiosmtpd installed in .venv?"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Mailbox {
            smtp_url: format!("smtp://{addr}"),
            maildir,
            _server: Some(Mutex::new((child, stdin))),
        })
    }

    pub fn smtp_url(&self) -> String {
        self.smtp_url.clone()
    }

    /// The first mail to `to` whose subject contains `subject_contains`, waiting up to `timeout`.
    pub async fn wait_for(
        &self,
        to: &str,
        subject_contains: &str,
        timeout: Duration,
    ) -> Option<ReceivedEmail> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages().into_iter().find(|m| {
                m.to.iter().any(|t| t.contains(to)) && m.subject.contains(subject_contains)
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every mail received so far for `to`.
    pub fn received_by(&self, to: &str) -> Vec<ReceivedEmail> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.contains(to)))
            .collect()
    }

    fn messages(&self) -> Vec<ReceivedEmail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|raw| parse_mail(&raw))
            .collect()
    }
}

/// Headers (unfolded) and the body of a plain-text mail.
fn parse_mail(raw: &str) -> ReceivedEmail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let mut to = header("to");
    to.extend(header("x-rcptto"));
    ReceivedEmail {
        from: header("from").join(", "),
        to,
        subject: header("subject").join(" "),
        text: body.to_owned(),
    }
}

// ---- independent signature check --------------------------------------------------------------

/// Verifies a Standard Webhooks signature with the `standardwebhooks` Python package (in
/// `.venv`), an implementation independent of Vigil's. It checks the timestamp tolerance too.
///
/// # Panics
/// When `.venv` is missing: tests never skip.
pub fn verify_with_standardwebhooks(
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), String> {
    let python = venv_python();
    assert!(
        python.is_file(),
        "{} is missing: run the project's test command (`make test`), which installs standardwebhooks",
        python.display()
    );
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let input = serde_json::json!({
        "secret": secret,
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    let script = "import json,sys\nfrom standardwebhooks.webhooks import Webhook\nd=json.load(sys.stdin)\nWebhook(d['secret']).verify(d['body'], d['headers'])\n";
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

// ---- email sent through the emulator's SES --------------------------------------------------

/// A mail moto's SES accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SesMessage {
    pub source: String,
    pub subject: String,
    pub body: String,
    pub destinations: SesDestinations,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct SesDestinations {
    #[serde(rename = "ToAddresses", default)]
    pub to: Vec<String>,
}

/// Every mail the emulator's SES has accepted (moto keeps them in its model data).
pub async fn ses_messages(endpoint: &str) -> Vec<SesMessage> {
    let url = format!("{}/moto-api/data.json", endpoint.trim_end_matches('/'));
    let data: serde_json::Value = http_client()
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("cannot read the emulator's model data: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("the emulator's model data is not JSON: {e}"));
    serde_json::from_value(data["ses"]["Message"].clone()).unwrap_or_default()
}
