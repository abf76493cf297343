//! The `vigil` binary as a newcomer uses it: serve, create a tenant while it runs, post a signed
//! event twice, see it stored once, stop cleanly. Bad input exits non-zero with a message.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Hosts that must never go through a proxy: the servers and sinks these tests start.
const LOOPBACK: &str = "127.0.0.1,localhost,::1";

/// The `vigil` binary on `data_dir`, configured by the test alone: none of the caller's `VIGIL_*`
/// variables, and loopback kept out of any proxy the caller's environment names.
pub(crate) fn vigil(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"VIGIL_") {
            command.env_remove(&name);
        }
    }
    for name in ["NO_PROXY", "no_proxy"] {
        let mut value = std::env::var_os(name).unwrap_or_default();
        if !value.is_empty() {
            value.push(",");
        }
        value.push(LOOPBACK);
        command.env(name, value);
    }
    command
        .env("VIGIL_LOG", "warn")
        // The sinks these tests deliver to listen on loopback.
        .env("VIGIL_EGRESS_ALLOW", "127.0.0.0/8,::1/128")
        .arg("--data-dir")
        .arg(data_dir);
    command
}

/// Starts `vigil serve` on a free port; returns the child and its base URL. Of the scheduled
/// flows it runs only the outbox sweep: the daily summary and the weekly review run on the real
/// clock and would otherwise land in a test's sinks at 08:00 or on a Monday morning.
pub(crate) fn serve(data_dir: &std::path::Path) -> (Child, String) {
    let mut command = vigil(data_dir);
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--flows", "outbox_sweep"])
        .stderr(Stdio::inherit());
    started(command)
}

/// Spawns a `vigil serve` command listening on a free port; returns the child and its base URL.
/// Its stdout is read here, its stderr left as the command has it.
pub(crate) fn started(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("vigil serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("listening URL")
        .to_string();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// Runs a `vigil` command that must succeed; its output.
pub(crate) fn succeeded(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("vigil runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command:?}: {stderr}");
    output
}

/// Adds the webhook channel `default` to `url` for a tenant, from the CLI.
pub(crate) fn add_webhook_channel(data_dir: &std::path::Path, tenant_id: &str, url: &str) {
    succeeded(
        vigil(data_dir)
            .args(["channel", "add", "webhook", "--tenant", tenant_id])
            .args(["--name", "default", "--url", url]),
    );
}

pub(crate) fn stop(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    panic!("vigil serve did not stop within 10 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_serves_creates_a_tenant_and_posts_a_signed_event_twice() {
    let dir = tempfile::tempdir().unwrap();
    // GIVEN vigil serve running on a fresh data dir
    let (server, url) = serve(dir.path());
    let client = vigil_contract::sinks::http_client();
    let health: Value = client
        .get(format!("{url}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "sqlite");

    // WHEN a tenant is created from the CLI against the same data dir while serve runs
    let output = vigil(dir.path())
        .args(["tenant", "create", "Acme", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tenant: Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in [
        "tenant_id",
        "api_key",
        "ingest_token",
        "webhook_secret",
        "outbound_secret",
    ] {
        assert!(
            tenant[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {tenant}"
        );
    }
    let tenant_id = tenant["tenant_id"].as_str().unwrap();

    // AND a signed event is posted twice
    let body = json!({"id": "evt_cli_1", "type": "client.activity", "occurred_at": "2026-11-22T10:00:00Z", "subject": {"client_id": "c1"}, "data": {}}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(post_signed_event(&client, &url, &tenant, "msg_cli", &body).await);
    }
    // THEN it is accepted, then reported duplicate, and stored once
    assert_eq!(statuses, [Some(202), Some(200)]);
    let list = get_json(
        &client,
        &format!("{url}/api/v1/domain-events"),
        tenant["api_key"].as_str().unwrap(),
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // AND an operator key made from the CLI works over the API
    let output = vigil(dir.path())
        .args([
            "key", "create", "--tenant", tenant_id, "--role", "operator", "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key: Value = serde_json::from_slice(&output.stdout).unwrap();
    let me = client
        .get(format!("{url}/api/v1/tenant"))
        .bearer_auth(key["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);

    // AND SIGTERM stops the server cleanly
    assert!(stop(server).success());
}

#[test]
fn serve_refuses_a_data_directory_of_a_newer_vigil() {
    // GIVEN a data directory a later vigil migrated one schema version further
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    let later = vigil_embedded::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(dir.path().join(vigil_embedded::DATABASE_FILE))
        .and_then(|c| c.execute_batch(&format!("PRAGMA user_version = {later};")))
        .unwrap();

    // WHEN `vigil serve` starts on it
    let mut child = vigil(dir.path())
        .args(["serve", "--addr", "127.0.0.1:0", "--flows", "outbox_sweep"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil serve starts");
    let status = (0..600)
        .find_map(|_| {
            let exited = child.try_wait().expect("wait");
            if exited.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            exited
        })
        .unwrap_or_else(|| {
            child.kill().ok();
            panic!("vigil serve went on serving a newer schema");
        });

    // THEN it exits non-zero, naming both versions and what to do
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("is at schema version {later}"))
            && stderr.contains(&format!("knows up to {}", vigil_embedded::SCHEMA_VERSION))
            && stderr.contains("use a newer vigil"),
        "{stderr}"
    );
}

#[test]
fn bad_cli_input_exits_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 6] = [
        // Not a dead letter: nothing is requeued, and the command says so.
        &["dlq", "requeue", "--id", "dlm_nope"],
        // Neither ids nor --all.
        &["dlq", "requeue"],
        &[
            "key",
            "create",
            "--tenant",
            "tnt_01jd0000000000000000000000",
            "--role",
            "owner",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "tnt_01jd0000000000000000000000",
            "--role",
            "admin",
        ],
        &["tenant", "create", ""],
        &[
            "tenant",
            "create",
            "Acme",
            "--stripe-secret",
            "sk_live_nope",
        ],
    ];
    for args in cases {
        let output = vigil(dir.path()).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?} printed no message");
    }
}

#[test]
fn credentials_are_rotated_from_the_cli_and_secrets_are_sealed_with_a_private_key_file() {
    // GIVEN a tenant made by the CLI on a fresh data dir
    let dir = tempfile::tempdir().unwrap();
    let tenant = create_tenant(dir.path());
    let id = tenant["tenant_id"].as_str().unwrap();

    // THEN the data dir holds the key its secrets are sealed with, readable by its owner only
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = dir.path().join(vigil_embedded::KEY_FILE);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }

    // WHEN its webhook secret is rotated with a 15-minute overlap
    let rotated = json_of(
        dir.path(),
        &[
            "tenant",
            "rotate",
            "--tenant",
            id,
            "--credential",
            "webhook_secret",
            "--overlap-minutes",
            "15",
        ],
    );

    // THEN the new secret is printed once, with the end of the overlap, and no token
    let secret = rotated["webhook_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret != tenant["webhook_secret"]);
    assert!(rotated.get("ingest_token").is_none(), "{rotated}");
    assert_eq!(rotated["overlap_minutes"], 15);
    assert!(
        rotated["previous_valid_until"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // AND bad rotations, or a master key that is not 32 bytes of base64, exit non-zero with
    // a message
    let rotate = ["tenant", "rotate", "--tenant", id];
    for extra in [
        &["--credential", "password"][..],
        &[],
        &["--credential", "ingest_token", "--overlap-minutes", "10081"],
    ] {
        let args = [&rotate[..], extra].concat();
        let output = vigil(dir.path()).args(&args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!output.stderr.is_empty(), "{args:?} printed no message");
    }
    let output = vigil(dir.path())
        .env("VIGIL_MASTER_KEY", "c2hvcnQ=")
        .args(["tenant", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("VIGIL_MASTER_KEY"));
}

/// `vigil tenant create Acme --json`, parsed.
/// GETs `url` with `api_key` and reads the JSON answer.
pub(crate) async fn get_json(client: &reqwest::Client, url: &str, api_key: &str) -> Value {
    json_answer(client.get(url).bearer_auth(api_key)).await
}

/// POSTs `body` to `url` with `api_key` and reads the JSON answer.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
    body: &Value,
) -> Value {
    json_answer(client.post(url).bearer_auth(api_key).json(body)).await
}

async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Signs and posts one domain event; returns the HTTP status, or none when no answer came.
pub(crate) async fn post_event(
    client: &reqwest::Client,
    url: &str,
    tenant: &Value,
    id: &str,
) -> Option<u16> {
    let body = json!({"id": id, "type": "client.activity", "occurred_at": "2026-11-22T10:00:00Z",
        "subject": {"client_id": "c1"}, "data": {}})
    .to_string();
    post_signed_event(client, url, tenant, id, &body).await
}

/// Posts a domain event signed with the tenant's webhook secret as message `webhook_id`; the
/// HTTP status, or none when no answer came.
pub(crate) async fn post_signed_event(
    client: &reqwest::Client,
    url: &str,
    tenant: &Value,
    webhook_id: &str,
    body: &str,
) -> Option<u16> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = vigil_core::standard_webhooks::sign(
        tenant["webhook_secret"].as_str().unwrap(),
        webhook_id,
        timestamp,
        body.as_bytes(),
    )
    .unwrap();
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    let response = client
        .post(format!("{url}/hooks/{tenant_id}/events"))
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Every domain event id the tenant has stored, read page by page over the API.
pub(crate) async fn stored_event_ids(
    client: &reqwest::Client,
    url: &str,
    api_key: &str,
) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{url}/api/v1/domain-events"))
            .query(&[("limit", "200")])
            .bearer_auth(api_key);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            ids.insert(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

pub(crate) fn create_tenant(data_dir: &std::path::Path) -> Value {
    let output = vigil(data_dir)
        .args(["tenant", "create", "Acme", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_a_channel_and_serve_delivers_a_test_alert() {
    let dir = tempfile::tempdir().unwrap();
    let sink = vigil_contract::sinks::HttpSink::start().await;
    // GIVEN a tenant and a Slack channel added from the CLI
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    let added = vigil(dir.path())
        .args([
            "channel", "add", "slack", "--tenant", tenant_id, "--name", "default",
        ])
        .args(["--url", &sink.url("/slack")])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = vigil(dir.path())
        .args(["channel", "list", "--tenant", tenant_id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("default"));

    // WHEN `vigil serve` runs and an admin sends a test alert
    let (child, url) = serve(dir.path());
    let response = vigil_contract::sinks::http_client()
        .post(format!("{url}/api/v1/events/test"))
        .bearer_auth(tenant["api_key"].as_str().unwrap())
        .json(&json!({"severity": "SEV3", "title": "Hello from the CLI test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // THEN its dispatcher loop delivers it to Slack once
    let got = sink.wait_for("/slack", 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1);
    assert!(String::from_utf8_lossy(&got[0].body).contains("Hello from the CLI test"));
    assert!(stop(child).success());

    // AND `vigil dispatch --once` finds nothing left to do
    let drained = vigil(dir.path())
        .args(["dispatch", "--once", "--json"])
        .output()
        .unwrap();
    assert!(
        drained.status.success(),
        "{}",
        String::from_utf8_lossy(&drained.stderr)
    );
    let drained: Value = serde_json::from_slice(&drained.stdout).unwrap();
    assert_eq!(drained["messages"], 0, "{drained}");
    assert_eq!(sink.requests("/slack").len(), 1);

    // AND bad channel input exits non-zero with a message
    let bad = vigil(dir.path())
        .args([
            "channel", "add", "webhook", "--tenant", tenant_id, "--name", "x",
        ])
        .args(["--url", "ftp://example.com"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_once_delivers_what_the_outbox_holds() {
    let dir = tempfile::tempdir().unwrap();
    let sink = vigil_contract::sinks::HttpSink::start().await;
    // GIVEN a webhook channel and a notification emitted while no dispatcher runs
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    let added = vigil(dir.path())
        .args(["channel", "add", "webhook", "--tenant", tenant_id, "--json"])
        .args(["--url", &sink.url("/hook")])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let channel: Value = serde_json::from_slice(&added.stdout).unwrap();
    assert!(channel["secret"].as_str().unwrap().starts_with("whsec_"));
    let backend = vigil_embedded::EmbeddedBackend::open(
        dir.path(),
        &vigil_core::ports::ResourceNames::default(),
        vigil_runtime::bus_routes(),
    )
    .unwrap();
    let config = vigil_runtime::Config::from_source(&[("VIGIL_LOG", "warn")]).unwrap();
    let app = vigil_runtime::build_app(&config, &vigil_runtime::Backend::Embedded(backend.clone()))
        .unwrap();
    let new = vigil_core::delivery::NewNotification {
        kind: vigil_core::delivery::NotificationType::ThresholdExceeded,
        severity: vigil_core::severity::Severity::Sev2,
        title: "Over budget".into(),
        summary: String::new(),
        link_ref: None,
        dedupe_key: "budget".into(),
        payload: json!({}),
    };
    app.outbox().emit(tenant_id, new).await.unwrap();
    backend.shutdown().await;

    // WHEN an operator drains the outbox once
    let drained = vigil(dir.path())
        .args(["dispatch", "--once"])
        .output()
        .unwrap();

    // THEN the webhook got it and the command says so
    assert!(
        drained.status.success(),
        "{}",
        String::from_utf8_lossy(&drained.stderr)
    );
    let out = String::from_utf8_lossy(&drained.stdout);
    assert!(out.contains("1 message(s): 2 sent"), "{out}");
    assert_eq!(sink.requests("/hook").len(), 1);
}

#[test]
fn demo_seed_opens_demo_anomalies_once_and_rules_run_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    // WHEN demo anomalies are seeded twice
    for expected in ["Seeded 3 demo", "Seeded 0 demo"] {
        let out = vigil(dir.path())
            .args(["demo", "seed", "--tenant", tenant_id])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(expected));
    }
    // THEN the rules and the summary run from the CLI as well
    let rules = vigil(dir.path())
        .args(["rules", "run", "--json", "--now", "2026-11-22T12:00:00Z"])
        .output()
        .unwrap();
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stderr)
    );
    let report: Value = serde_json::from_slice(&rules.stdout).unwrap();
    assert!(
        report["windows_evaluated"].as_u64().unwrap() > 0,
        "{report}"
    );
    let summary = vigil(dir.path())
        .args(["summary", "daily", "--date", "2026-11-21"])
        .output()
        .unwrap();
    assert!(
        summary.status.success(),
        "{}",
        String::from_utf8_lossy(&summary.stderr)
    );
    assert!(String::from_utf8_lossy(&summary.stdout).contains("(sent)"));
    let bad = vigil(dir.path())
        .args(["demo", "seed", "--tenant", "tnt_nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Runs `vigil ARGS --json` and parses its output; panics with stderr when it fails.
pub(crate) fn json_of(data_dir: &std::path::Path, args: &[&str]) -> Value {
    let output = vigil(data_dir).args(args).arg("--json").output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn runs_are_logged_classified_and_reviewed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap();

    // A run logged twice is stored once.
    let log = [
        "runs",
        "log",
        "--tenant",
        tenant_id,
        "--run-id",
        "RUN-1",
        "--scenario",
        "BINDER",
        "--credits",
        "240",
        "--status",
        "Success",
    ];
    let first = json_of(dir.path(), &log);
    assert_eq!(first["severity"], "SEV4");
    assert_eq!(first["duplicate"], false);
    assert_eq!(json_of(dir.path(), &log)["duplicate"], true);

    // A fixture with its own baseline is classified without being stored.
    let fixture = dir.path().join("run.json");
    std::fs::write(
        &fixture,
        json!({"run_id": "FIX-1", "scenario_id": "BINDER", "credits_total": 2480,
               "retry_count": 3, "job_type": "NIGHTLY", "baseline": 250})
        .to_string(),
    )
    .unwrap();
    let fixture_path = fixture.to_str().unwrap();
    let classified = json_of(dir.path(), &["classify", "--fixture", fixture_path]);
    assert_eq!(classified["classification"]["severity"], "SEV1");
    assert_eq!(
        classified["classification"]["risk_flags"],
        json!(["retry_loop"])
    );
    assert!(
        classified["classification"]["recommended_actions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let text = vigil(dir.path())
        .args(["classify", "--fixture", fixture_path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Severity: SEV1") && text.contains("Recommended actions"),
        "{text}"
    );

    // The scheduled flows run from the shell too.
    let baselines = json_of(dir.path(), &["update-baselines"]);
    assert_eq!(
        baselines[0]["report"]["unchanged"][0]["scenario_id"],
        "BINDER"
    );
    let reviews = json_of(dir.path(), &["weekly-review", "--week-start", "2026-03-09"]);
    assert_eq!(reviews[0]["kind"], "weekly_review");
    assert_eq!(
        json_of(dir.path(), &["scans", "run-due"])["scans"],
        json!([])
    );

    // Bad input exits non-zero with a message and stores nothing.
    let bad: [&[&str]; 4] = [
        &[
            "runs",
            "log",
            "--tenant",
            tenant_id,
            "--run-id",
            "R",
            "--scenario",
            "S",
            "--credits",
            "1",
            "--status",
            "exploded",
        ],
        &[
            "runs",
            "log",
            "--tenant",
            "tnt_01jd0000000000000000000000",
            "--run-id",
            "R",
            "--scenario",
            "S",
            "--credits",
            "1",
        ],
        &["classify", "--fixture", "/nonexistent/run.json"],
        &["weekly-review", "--week-start", "2026-03-10"],
    ];
    for args in bad {
        let output = vigil(dir.path()).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            !String::from_utf8_lossy(&output.stderr).trim().is_empty(),
            "{args:?} printed no message"
        );
    }
}
