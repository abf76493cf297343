//! Data directories made by earlier builds open in this one with their data; ones made by a
//! later build are refused.

use std::path::Path;
use std::time::Duration;

use vigil_core::ports::ResourceNames;
use vigil_core::ports::{Key, ScheduleExpression, ScheduleTarget};

use crate::{DATABASE_FILE, EmbeddedBackend, EmbeddedError, SCHEMA_VERSION, test_routes};

/// The schema exactly as the version-1 builds wrote it (their `SCHEMA`, run in one batch at
/// open). Frozen: it is what data directories of that version hold.
const WRITTEN_BY_VERSION_1: &str = "
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    expires_at INTEGER,
    version INTEGER NOT NULL,
    counters TEXT,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items (pk, sk);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;

CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    receipt TEXT,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at);

CREATE TABLE IF NOT EXISTS schedules (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    expression TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    checked_until INTEGER,
    PRIMARY KEY (grp, name)
);
PRAGMA user_version = 1;
";

/// A row in each table, as the version-1 adapters wrote them.
const VERSION_1_ROWS: &str = r#"
INSERT INTO items (pk, sk, gsi1pk, gsi1sk, version, counters, body)
    VALUES ('T#acme', 'EVT#1', 'T#acme#EVT', '2026-03-01', 3, '{"seen":2}', '{"n":1}');
INSERT INTO messages (queue, id, body, visible_at, receive_count, receipt, sent_at)
    VALUES ('vigil-outbox', 'm1', 'kept across versions', 0, 0, NULL, 0);
INSERT INTO schedules (grp, name, expression, target, payload, created_at, checked_until)
    VALUES ('vigil-schedules', 'daily', '{"kind":"cron","expression":"0 9 * * ? *","timezone":"UTC"}',
            'outbox', 'summary', 0, NULL);
"#;

fn user_version(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join(DATABASE_FILE))
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("the database file reads")
}

fn write_database(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join(DATABASE_FILE)).expect("create database");
    conn.execute_batch(sql).expect("the old schema applies");
}

#[tokio::test]
async fn a_version_1_data_directory_is_upgraded_with_its_data() {
    // GIVEN a data directory as a version-1 build left it, with a row in each table
    let dir = tempfile::tempdir().unwrap();
    write_database(dir.path(), WRITTEN_BY_VERSION_1);
    write_database(dir.path(), VERSION_1_ROWS);
    assert_eq!(user_version(dir.path()), 1);

    // WHEN this build opens it
    let backend =
        EmbeddedBackend::open(dir.path(), &ResourceNames::default(), test_routes()).unwrap();
    let ports = backend.ports();

    // THEN the item, the message and the schedule read through the ports
    let item = ports.store.get(&Key::new("T#acme", "EVT#1")).await;
    let item = item.unwrap().expect("the item is kept");
    assert_eq!((item.version, item.body.as_str()), (3, r#"{"n":1}"#));
    assert_eq!(item.counters.get("seen"), Some(&2));
    let received = ports
        .outbox
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "kept across versions");
    ports.outbox.delete(&received[0].receipt).await.unwrap();
    let schedule = ports.scheduler.get("daily").await.unwrap().unwrap();
    assert_eq!(schedule.target, ScheduleTarget::Outbox);
    assert!(matches!(
        schedule.expression,
        ScheduleExpression::Cron { .. }
    ));

    // AND the database is at the current version
    backend.shutdown().await;
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION as i64);
}

#[tokio::test]
async fn a_data_directory_of_a_newer_build_is_refused_and_left_alone() {
    // GIVEN a data directory a later build migrated one version further
    let dir = tempfile::tempdir().unwrap();
    let later = SCHEMA_VERSION + 1;
    EmbeddedBackend::open(dir.path(), &ResourceNames::default(), test_routes())
        .unwrap()
        .shutdown()
        .await;
    write_database(dir.path(), &format!("PRAGMA user_version = {later};"));

    // WHEN this build opens it
    let refused = EmbeddedBackend::open(dir.path(), &ResourceNames::default(), test_routes());

    // THEN it is refused with both versions named, and the version is untouched
    let Err(error) = refused else {
        panic!("a newer schema was opened");
    };
    assert!(
        matches!(error, EmbeddedError::SchemaTooNew { found, known, .. }
            if found == later && known == SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("is at schema version {later}"))
            && message.contains(&format!("knows up to {SCHEMA_VERSION}"))
            && message.contains("use a newer vigil"),
        "{message}"
    );
    assert_eq!(user_version(dir.path()), later as i64);
}

#[tokio::test]
async fn a_backup_of_a_version_1_directory_restores_and_is_upgraded_at_the_next_start() {
    // GIVEN a backup of a data directory as a version-1 build left it
    let old = tempfile::tempdir().unwrap();
    write_database(old.path(), WRITTEN_BY_VERSION_1);
    write_database(old.path(), VERSION_1_ROWS);
    let file = old.path().join("old.backup");
    let made = crate::backup::back_up(old.path(), &file, false).unwrap();
    assert_eq!(made.schema_version, 1);

    // WHEN it is restored into a new directory
    let restored = tempfile::tempdir().unwrap();
    let report = crate::backup::restore(&file, restored.path(), false).unwrap();

    // THEN the restore says the next start upgrades it, and that start keeps its data
    assert_eq!(report.schema_version, 1);
    assert!(report.upgraded_on_next_start);
    let backend =
        EmbeddedBackend::open(restored.path(), &ResourceNames::default(), test_routes()).unwrap();
    let item = backend
        .ports()
        .store
        .get(&Key::new("T#acme", "EVT#1"))
        .await;
    assert!(item.unwrap().is_some(), "the item is kept");
    backend.shutdown().await;
    assert_eq!(user_version(restored.path()), SCHEMA_VERSION as i64);
}
