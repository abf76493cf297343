//! Backup and restore through the `vigil` binary: backups made while `vigil serve` takes events
//! restore into fresh data directories that serve every event acknowledged before the backup,
//! pass SQLite's integrity check, and still open the secrets sealed before it. Restore refuses
//! what it must not replace or cannot read, with the API's error shape under `--json`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use vigil_contract::sinks::{HttpSink, http_client, verify_with_standardwebhooks};

use crate::cli::{
    create_tenant, json_of, post_event, post_json, serve, stop, stored_event_ids, vigil,
};

/// Clients posting events while the backups run.
const CLIENTS: usize = 4;
/// Backups made during the burst.
const BACKUPS: usize = 3;
/// Events acknowledged between two backups, at least: the writer is busy while each runs.
const EVENTS_BETWEEN_BACKUPS: usize = 20;

/// Runs `vigil ARGS --json` on `data_dir`, expecting it to fail; returns its JSON error body.
fn json_error_of(data_dir: &Path, args: &[&str]) -> Value {
    let output = vigil(data_dir).args(args).arg("--json").output().unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    let body: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {output:?}"));
    let error = body["error"].as_object().expect("an error object");
    assert_eq!(error.len(), 2, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Posts events from several clients until `stop`; every id answered 202 goes into `acknowledged`
/// after its answer came.
fn post_until_stopped(
    url: &str,
    tenant: &Value,
    acknowledged: &Arc<Mutex<Vec<String>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|client_no| {
            let (url, tenant) = (url.to_owned(), tenant.clone());
            let (acknowledged, stop) = (Arc::clone(acknowledged), Arc::clone(stop));
            tokio::spawn(async move {
                let client = http_client();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let id = format!("evt_backup_{client_no}_{n}");
                    let status = post_event(&client, &url, &tenant, &id).await;
                    assert_eq!(status, Some(202), "{id}");
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect()
}

/// SQLite's integrity check of a data directory's database; asserts the backup's key table did
/// not come along (the key belongs in `master.key`).
fn integrity_of(data_dir: &Path) -> String {
    let conn = rusqlite::Connection::open(data_dir.join("vigil.db")).unwrap();
    let key_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'vigil_backup_key')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !key_table,
        "the restored database still holds the backup's key"
    );
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_taken_during_ingest_restore_every_acknowledged_event_and_sealed_secret() {
    // GIVEN vigil serve with a tenant and a signed webhook channel to a local sink
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let tenant = create_tenant(dir.path());
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();
    let api_key = tenant["api_key"].as_str().unwrap().to_owned();
    let sink = HttpSink::start().await;
    let channel = json_of(
        dir.path(),
        &[
            "channel",
            "add",
            "webhook",
            "--tenant",
            &tenant_id,
            "--name",
            "default",
            "--url",
            &sink.url("/hook"),
        ],
    );
    let channel_secret = channel["secret"].as_str().unwrap().to_owned();
    let (server, url) = serve(dir.path());

    // WHEN clients post events without pause, and backups are made one after another meanwhile
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stopped = Arc::new(AtomicBool::new(false));
    let clients = post_until_stopped(&url, &tenant, &acknowledged, &stopped);
    let mut taken = Vec::new();
    for n in 0..BACKUPS {
        let before = acknowledged.lock().unwrap().len();
        while acknowledged.lock().unwrap().len() < before + EVENTS_BETWEEN_BACKUPS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let acknowledged_before: BTreeSet<String> =
            acknowledged.lock().unwrap().iter().cloned().collect();
        let file = backups.path().join(format!("vigil-{n}.backup"));
        let report = json_of(dir.path(), &["backup", "--to", file.to_str().unwrap()]);
        assert_eq!(report["path"], file.to_str().unwrap(), "{report}");
        assert_eq!(report["key_included"], true, "{report}");
        assert!(report["schema_version"].as_u64().unwrap() >= 1, "{report}");
        assert_eq!(
            report["bytes"].as_u64().unwrap(),
            std::fs::metadata(&file).unwrap().len()
        );
        taken.push((file, acknowledged_before));
    }
    stopped.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    assert!(stop(server).success());

    // THEN each backup restores into a fresh directory whose server has every event acknowledged
    // before that backup began, and whose database passes SQLite's integrity check
    let client = http_client();
    for (file, acknowledged_before) in &taken {
        let restored = tempfile::tempdir().unwrap();
        let report = json_of(
            restored.path(),
            &["restore", "--from", file.to_str().unwrap()],
        );
        assert_eq!(report["key_restored"], true, "{report}");
        assert_eq!(report["upgraded_on_next_start"], false, "{report}");
        assert_eq!(integrity_of(restored.path()), "ok");
        let (server, url) = serve(restored.path());
        let stored = stored_event_ids(&client, &url, &api_key).await;
        let lost: Vec<_> = acknowledged_before.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{}: {} of {} acknowledged events missing: {lost:?}",
            file.display(),
            lost.len(),
            acknowledged_before.len()
        );
        assert!(stop(server).success());
        assert_eq!(integrity_of(restored.path()), "ok");
    }

    // AND on the last one the secrets sealed before the backup open: the channel test is signed
    // with the channel's secret, and an event signed with the tenant's webhook secret is taken
    let restored = tempfile::tempdir().unwrap();
    let (last, _) = taken.last().unwrap();
    json_of(
        restored.path(),
        &["restore", "--from", last.to_str().unwrap()],
    );
    let (server, url) = serve(restored.path());
    let channel_id = channel["id"].as_str().unwrap();
    let tested = post_json(
        &client,
        &format!("{url}/api/v1/channels/{channel_id}/test"),
        &api_key,
        &json!({}),
    )
    .await;
    assert_eq!(tested["delivered"], true, "{tested}");
    let requests = sink.wait_for("/hook", 1, Duration::from_secs(20)).await;
    let request = requests.last().expect("the channel test reached the sink");
    verify_with_standardwebhooks(&channel_secret, &request.headers, &request.body)
        .unwrap_or_else(|e| panic!("the restored channel's signature does not verify: {e}"));
    assert_eq!(
        post_event(&client, &url, &tenant, "evt_after_restore").await,
        Some(202)
    );

    // AND a restore over the running server is refused, even with --force
    let refused = json_error_of(
        restored.path(),
        &["restore", "--from", last.to_str().unwrap(), "--force"],
    );
    assert_eq!(refused["error"]["code"], "data_dir_in_use", "{refused}");
    assert!(stop(server).success());
}

#[test]
fn restore_and_backup_refuse_what_they_must_not_replace_or_cannot_read() {
    // GIVEN a data directory with a tenant, and its backup
    let dir = tempfile::tempdir().unwrap();
    let tenant = create_tenant(dir.path());
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("vigil.backup");
    let file_arg = file.to_str().unwrap();
    json_of(dir.path(), &["backup", "--to", file_arg]);

    // WHEN the backup is written again, THEN it is refused unless forced
    let refused = json_error_of(dir.path(), &["backup", "--to", file_arg]);
    assert_eq!(refused["error"]["code"], "already_exists", "{refused}");
    json_of(dir.path(), &["backup", "--to", file_arg, "--force"]);

    // WHEN it is restored into a directory that holds a database, THEN it is refused unless
    // forced, and the forced restore serves the backed-up tenant
    let other = tempfile::tempdir().unwrap();
    create_tenant(other.path());
    let refused = json_error_of(other.path(), &["restore", "--from", file_arg]);
    assert_eq!(refused["error"]["code"], "already_exists", "{refused}");
    json_of(other.path(), &["restore", "--from", file_arg, "--force"]);
    let tenants = json_of(other.path(), &["tenant", "list"]);
    let ids: Vec<_> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![tenant["tenant_id"].clone()], "{tenants}");

    // WHEN the file is not a Vigil database (text, or SQLite without a Vigil schema version),
    // THEN the restore is refused and the target directory stays empty
    let text = files.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, but long enough to have a header",
    )
    .unwrap();
    let foreign = files.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT);")
        .unwrap();
    for wrong in [&text, &foreign] {
        let fresh = tempfile::tempdir().unwrap();
        let target = fresh.path().join("data");
        let refused = json_error_of(&target, &["restore", "--from", wrong.to_str().unwrap()]);
        assert_eq!(
            refused["error"]["code"], "not_a_vigil_database",
            "{refused}"
        );
        let left: Vec<_> = std::fs::read_dir(&target)
            .map(|entries| entries.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }

    // WHEN the backup is at a schema version this vigil does not know, THEN it is refused
    let newer = files.path().join("newer.backup");
    std::fs::copy(&file, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999;")
        .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let refused = json_error_of(
        fresh.path(),
        &["restore", "--from", newer.to_str().unwrap()],
    );
    assert_eq!(refused["error"]["code"], "schema_too_new", "{refused}");

    // AND without --json the error is a message on stderr and a non-zero exit
    let output = vigil(&fresh.path().join("data"))
        .args(["restore", "--from", text.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a Vigil database"),
        "{output:?}"
    );
}
