//! What `vigil serve` logs, read from its stderr in JSON as an operator's log shipper would: one
//! line per request (route template, status, request id), per delivery attempt and per job, and
//! never a secret.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, SinkResponse};

use crate::cli::{add_webhook_channel, create_tenant, started, succeeded, vigil};

/// The JSON log lines a child wrote to stderr, collected as they come.
#[derive(Clone, Default)]
struct LogLines(Arc<Mutex<Vec<Value>>>);

impl LogLines {
    fn collect(&self, stderr: impl std::io::Read + Send + 'static) {
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    lines.lock().unwrap().push(value);
                }
            }
        });
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    /// The first line of `target` whose fields satisfy `wanted`, waiting up to 15 s for it.
    async fn wait_for(&self, target: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..150 {
            let found = self
                .all()
                .into_iter()
                .find(|line| line["target"] == target && wanted(&line["fields"]));
            if let Some(line) = found {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {target} line as wanted in {:#?}", self.all());
    }
}

/// `vigil serve` logging JSON at `info`; its base URL and the lines it logs.
fn serve_logging_json(data_dir: &std::path::Path) -> (Child, String, LogLines) {
    let mut command = vigil(data_dir);
    command
        .env("VIGIL_LOG", "info")
        .env("VIGIL_LOG_FORMAT", "json")
        .args(["serve", "--addr", "127.0.0.1:0", "--flows", "none"])
        .stderr(Stdio::piped());
    let (mut child, url) = started(command);
    let logs = LogLines::default();
    logs.collect(child.stderr.take().expect("stderr"));
    (child, url, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_each_request_delivery_attempt_and_job_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start().await;
    sink.script("/hook", vec![SinkResponse::status(500)]);
    // GIVEN a tenant with a webhook channel whose endpoint fails, and serve logging JSON
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap();
    add_webhook_channel(dir.path(), tenant_id, &sink.url("/hook"));
    let (mut child, url, logs) = serve_logging_json(dir.path());
    let client = vigil_contract::sinks::http_client();

    // WHEN a hook arrives with a bad signature and the client's request id
    let request_id = "client-req-42";
    let rejected = client
        .post(format!("{url}/hooks/{tenant_id}/events?token=do-not-log"))
        .header("x-request-id", request_id)
        .header("webhook-id", "msg_1")
        .header(
            "webhook-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl")
        .header("content-type", "application/json")
        .body(json!({"id": "evt_1", "type": "client.activity"}).to_string())
        .send()
        .await
        .unwrap();
    // THEN it is refused, with the client's id in the header and in the error body
    assert_eq!(rejected.status(), 401);
    assert_eq!(rejected.headers()["x-request-id"], request_id);
    let body: Value = rejected.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], request_id, "{body}");
    // AND its line names the route's template, the tenant, the status and that id
    let line = logs
        .wait_for("vigil::http", |f| f["request_id"] == request_id)
        .await;
    let fields = &line["fields"];
    assert_eq!(fields["route"], "/hooks/{tenant}/events", "{line}");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["status"], 401);
    assert_eq!(fields["tenant"], tenant_id);
    assert!(fields["latency_ms"].is_u64(), "{line}");

    // AND a console page and an API answer carry a request id of their own
    let page = client.get(format!("{url}/sign-in")).send().await.unwrap();
    assert!(
        page.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    // WHEN an admin sends a test alert, which the failing webhook refuses
    let sent = client
        .post(format!("{url}/api/v1/events/test"))
        .bearer_auth(tenant["api_key"].as_str().unwrap())
        .json(&json!({"severity": "SEV3", "title": "Logged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let sent_id = sent.headers()["x-request-id"].to_str().unwrap().to_owned();
    let api_line = logs
        .wait_for("vigil::http", |f| f["request_id"] == sent_id.as_str())
        .await;
    assert_eq!(api_line["fields"]["route"], "/api/v1/events/test");
    assert_eq!(api_line["fields"]["tenant"], tenant_id, "{api_line}");
    // THEN the failed attempt has its line, with what comes next
    let attempt = logs
        .wait_for("vigil::delivery", |f| f["outcome"] == "will_retry")
        .await;
    assert_eq!(attempt["level"], "WARN");
    let fields = &attempt["fields"];
    assert_eq!(fields["channel"], "default");
    assert_eq!(fields["kind"], "Webhook");
    assert_eq!(fields["attempt"], 1);
    assert!(
        fields["error"].as_str().unwrap().contains("500"),
        "{attempt}"
    );
    assert!(fields["next_attempt_at"].is_string(), "{attempt}");

    // AND the consumer's batch has its line
    let batch = logs
        .wait_for("vigil::job", |f| f["job"] == "message_batch")
        .await;
    assert!(batch["fields"]["messages"].as_u64() >= Some(1), "{batch}");

    // WHEN the rules run from the CLI, logging JSON
    let run = succeeded(
        vigil(dir.path())
            .env("VIGIL_LOG", "info")
            .env("VIGIL_LOG_FORMAT", "json")
            .args(["rules", "run", "--json"]),
    );
    // THEN the job has its line with its counts
    let job_logs = LogLines::default();
    job_logs.collect(std::io::Cursor::new(run.stderr));
    let job = job_logs
        .wait_for("vigil::job", |f| f["job"] == "RulesTick")
        .await;
    assert_eq!(job["fields"]["failed_tenants"], 0, "{job}");
    assert!(job["fields"]["duration_ms"].is_u64(), "{job}");
    assert!(
        job["fields"]["counts"]
            .as_str()
            .unwrap()
            .contains("windows_evaluated")
    );

    // AND no line holds a secret, a query string or a raw hook path
    child.kill().ok();
    child.wait().ok();
    let everything = serde_json::to_string(&logs.all()).unwrap();
    for secret in [
        "api_key",
        "webhook_secret",
        "ingest_token",
        "outbound_secret",
    ] {
        assert!(
            !everything.contains(tenant[secret].as_str().unwrap()),
            "{secret} logged"
        );
    }
    assert!(!everything.contains("do-not-log"));
    assert!(!everything.contains(&format!("/hooks/{tenant_id}/")));
}
