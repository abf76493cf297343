//! Embedded adapters for every port: SQLite (WAL, group commit) behind the item store, queue, event bus and scheduler.
//!
//! One writer thread owns the write connection: it takes whatever commands are queued, runs them
//! in one transaction (each in its own savepoint, so one refused condition does not undo the
//! others), commits with `synchronous=FULL`, and only then answers each caller. One fsync thus
//! covers a whole batch. Reads run beside it on a few read-only connections. Several processes
//! may open the same data directory; SQLite's file locks keep their writes apart.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod announce;
pub mod backup;
mod bus;
mod cipher;
pub mod cron;
mod db;
mod instance;
mod queue;
mod scheduler;
#[cfg(test)]
mod schema_upgrade_tests;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::params;
use tokio::sync::Notify;
use vigil_core::ports::ResourceNames;
use vigil_core::ports::{BusRoutes, Ports, Queue, QueueRole};

pub use announce::SqliteAnnouncer;
pub use bus::SqliteBus;
pub use cipher::{AesGcmCipher, KEY_FILE};
pub use queue::SqliteQueue;
pub use scheduler::SqliteScheduler;
pub use store::SqliteStore;

use db::Database;
/// The schema version of the database this build writes (SQLite `user_version`); a data
/// directory at a later one is refused at open.
pub use db::SCHEMA_VERSION;
use instance::ProcessInstance;
use queue::DeadLetter;
use scheduler::TargetQueue;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "vigil.db";

/// Rows a purge looks at per read (and deletes at most per write), so a large purge never
/// holds up ingest for long.
const PURGE_SCAN_CHUNK: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot register this process in {path}: {source}")]
    Instance {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "data directory {data_dir} is at schema version {found}; this vigil knows up to {known}: use a newer vigil"
    )]
    SchemaTooNew {
        data_dir: String,
        found: usize,
        known: usize,
    },
    #[error(
        "data directory {data_dir} holds a database without a Vigil schema version: not opened, so nothing in it is changed"
    )]
    SchemaUnknown { data_dir: String },
    #[error("cannot bring the database in {data_dir} to the current schema: {reason}")]
    Migration { data_dir: String, reason: String },
    #[error("cannot start the database writer thread: {0}")]
    Spawn(std::io::Error),
    #[error("embedded store unavailable: {0}")]
    Unavailable(String),
    #[error("secrets key: {0}")]
    Key(String),
}

/// The embedded backend of one deployment: every port on one SQLite database.
#[derive(Clone)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    instance: Arc<ProcessInstance>,
    path: Option<PathBuf>,
    store: Arc<SqliteStore>,
    outbox: Arc<SqliteQueue>,
    workflows: Arc<SqliteQueue>,
    outbox_dlq: Arc<SqliteQueue>,
    workflows_dlq: Arc<SqliteQueue>,
    bus: Arc<SqliteBus>,
    scheduler: Arc<SqliteScheduler>,
    announcer: Arc<SqliteAnnouncer>,
    cipher: Arc<AesGcmCipher>,
}

impl EmbeddedBackend {
    /// Opens (creating if needed) `<data_dir>/vigil.db`, brings its schema up to date, starts the
    /// writer thread; secrets are sealed with the key file of `data_dir` (made on first start).
    /// The bus sends the events `routes` names to the workflow queue.
    pub fn open(
        data_dir: &Path,
        names: &ResourceNames,
        routes: BusRoutes,
    ) -> Result<Self, EmbeddedError> {
        Self::open_with_master_key(data_dir, names, routes, None)
    }

    /// [`EmbeddedBackend::open`], sealing with `master_key` (base64 of 32 bytes) when given.
    pub fn open_with_master_key(
        data_dir: &Path,
        names: &ResourceNames,
        routes: BusRoutes,
        master_key: Option<&str>,
    ) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(data_dir).map_err(|source| EmbeddedError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let cipher = AesGcmCipher::for_data_dir(data_dir, master_key)?;
        let path = data_dir.join(DATABASE_FILE);
        let db = Database::open(Some(&path))?;
        let instance = ProcessInstance::register(Some(data_dir))?;
        Ok(Self::assemble(
            db,
            instance,
            Some(path),
            names,
            routes,
            cipher,
        ))
    }

    /// A private in-memory database with a random key (unit tests).
    pub fn in_memory(names: &ResourceNames, routes: BusRoutes) -> Result<Self, EmbeddedError> {
        let db = Database::open(None)?;
        let instance = ProcessInstance::register(None)?;
        let key = vigil_core::ports::cipher::DataKey::from_bytes(
            &vigil_core::ports::cipher::DataKey::random_bytes(),
        )
        .map_err(|e| EmbeddedError::Key(e.to_string()))?;
        Ok(Self::assemble(
            db,
            instance,
            None,
            names,
            routes,
            AesGcmCipher::new(key),
        ))
    }

    fn assemble(
        db: Database,
        instance: ProcessInstance,
        path: Option<PathBuf>,
        names: &ResourceNames,
        routes: BusRoutes,
        cipher: AesGcmCipher,
    ) -> Self {
        let db = Arc::new(db);
        let instance = Arc::new(instance);
        let queue_pair = |role: QueueRole| {
            let dlq_notify = Arc::new(Notify::new());
            let dlq_name = names.dead_letter_queue(role);
            let dlq = SqliteQueue::new(
                Arc::clone(&db),
                Arc::clone(&instance),
                dlq_name.clone(),
                Arc::clone(&dlq_notify),
                None,
            );
            let notify = Arc::new(Notify::new());
            let main = SqliteQueue::new(
                Arc::clone(&db),
                Arc::clone(&instance),
                names.queue(role),
                Arc::clone(&notify),
                Some(DeadLetter {
                    queue: dlq_name,
                    max_receives: names.max_receives,
                    notify: dlq_notify,
                }),
            );
            (
                Arc::new(main),
                Arc::new(dlq),
                TargetQueue {
                    name: names.queue(role),
                    notify,
                },
            )
        };
        let (outbox, outbox_dlq, outbox_target) = queue_pair(QueueRole::Outbox);
        let (workflows, workflows_dlq, workflows_target) = queue_pair(QueueRole::Workflows);
        let bus = SqliteBus::new(
            Arc::clone(&db),
            workflows_target.name.clone(),
            routes,
            Arc::clone(&workflows_target.notify),
        );
        let scheduler = SqliteScheduler::new(
            Arc::clone(&db),
            names.schedule_group(),
            outbox_target,
            workflows_target,
        );
        let store = Arc::new(SqliteStore::new(Arc::clone(&db)));
        let bus = Arc::new(bus);
        let announcer = Arc::new(SqliteAnnouncer {
            store: Arc::clone(&store),
            bus: Arc::clone(&bus),
            outbox: Arc::clone(&outbox),
            workflows: Arc::clone(&workflows),
        });
        Self {
            inner: Arc::new(Inner {
                store,
                db,
                instance,
                path,
                outbox,
                workflows,
                outbox_dlq,
                workflows_dlq,
                bus,
                announcer,
                scheduler: Arc::new(scheduler),
                cipher: Arc::new(cipher),
            }),
        }
    }

    /// The deployment's ports: store, outbox queue, workflow queue (each with its DLQ after
    /// `names.max_receives` receives), bus (events of the routed types go to the workflow queue as
    /// EventBridge-shaped envelopes), scheduler (targets map to the outbox / workflow queue).
    pub fn ports(&self) -> Ports {
        let inner = &self.inner;
        Ports {
            store: inner.store.clone(),
            outbox: inner.outbox.clone(),
            outbox_dead_letters: inner.outbox_dlq.clone(),
            workflow_queue: inner.workflows.clone(),
            bus: inner.bus.clone(),
            scheduler: inner.scheduler.clone(),
            announcer: inner.announcer.clone(),
            liveness: inner.instance.clone(),
            cipher: inner.cipher.clone(),
        }
    }

    pub fn dead_letter_queue(&self, role: QueueRole) -> Arc<dyn Queue> {
        match role {
            QueueRole::Outbox => self.inner.outbox_dlq.clone(),
            QueueRole::Workflows => self.inner.workflows_dlq.clone(),
        }
    }

    /// The scheduler with its local-only firing method.
    pub fn scheduler(&self) -> Arc<SqliteScheduler> {
        Arc::clone(&self.inner.scheduler)
    }

    /// Deletes items whose `expires_at` is before `now`; returns how many.
    ///
    /// There is no index on `expires_at` (it would cost every ingest write), so the scan runs in
    /// row-id chunks on a reader and only the deletes, chunk by chunk, go through the writer.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, EmbeddedError> {
        let cutoff = now.timestamp();
        let db = &self.inner.db;
        let (mut after, mut total) = (0_i64, 0_u64);
        loop {
            let (last_scanned, expired) = db
                .read(move |conn| scan_for_expired(conn, after, cutoff).map_err(unavailable))
                .await?;
            let Some(last_scanned) = last_scanned else {
                return Ok(total);
            };
            after = last_scanned;
            if expired.is_empty() {
                continue;
            }
            total += db
                .write(move |conn| delete_expired(conn, &expired, cutoff).map_err(unavailable))
                .await?;
        }
    }

    /// Finishes every queued write, then stops the writer thread. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.db.shutdown().await;
        self.inner.instance.retire();
    }

    /// The database file (`None` for an in-memory database).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }
}

/// One chunk of the purge scan: the last row id looked at, and the expired ones among them.
fn scan_for_expired(
    conn: &rusqlite::Connection,
    after: i64,
    cutoff: i64,
) -> rusqlite::Result<(Option<i64>, Vec<i64>)> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT id, expires_at < ?2 FROM items WHERE id > ?1 ORDER BY id \
             LIMIT {PURGE_SCAN_CHUNK}"
        ))?
        .query_map(params![after, cutoff], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<bool>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let last = rows.last().map(|(id, _)| *id);
    let expired = rows
        .into_iter()
        .filter(|(_, e)| *e == Some(true))
        .map(|(id, _)| id)
        .collect();
    Ok((last, expired))
}

fn delete_expired(conn: &rusqlite::Connection, ids: &[i64], cutoff: i64) -> rusqlite::Result<u64> {
    let mut delete = conn.prepare_cached("DELETE FROM items WHERE id = ?1 AND expires_at < ?2")?;
    let mut deleted = 0;
    for id in ids {
        // Re-checked: the item may have been rewritten since the scan.
        deleted += delete.execute(params![id, cutoff])? as u64;
    }
    Ok(deleted)
}

/// The routes of the unit tests: the event types they publish go to the workflow queue.
#[cfg(test)]
pub(crate) fn test_routes() -> BusRoutes {
    BusRoutes::to_workflow_queue(["client.stage_changed", "client.activity"])
}

fn unavailable(e: rusqlite::Error) -> EmbeddedError {
    EmbeddedError::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_core::ports::store::Item;
    use vigil_core::ports::{ItemStore, Key, PutCondition};

    use super::*;

    fn key(i: usize) -> Key {
        Key::new(format!("T#t{}", i % 7), format!("EVT#{i:05}"))
    }

    async fn put_concurrently(store: &Arc<dyn ItemStore>, range: std::ops::Range<usize>) {
        let tasks: Vec<_> = range
            .map(|i| {
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    store
                        .put(
                            Item::new(key(i), format!(r#"{{"n":{i}}}"#)),
                            PutCondition::Absent,
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(1));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_are_all_durable_after_shutdown_and_reopen() {
        // GIVEN a file-backed store
        let dir = tempfile::tempdir().unwrap();
        let names = ResourceNames::default();
        let backend = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
        assert_eq!(backend.path(), Some(dir.path().join("vigil.db").as_path()));

        // WHEN 200 puts run at once, and the backend is shut down (twice: idempotent)
        put_concurrently(&backend.ports().store, 0..200).await;
        backend.shutdown().await;
        backend.shutdown().await;

        // THEN the closed backend refuses work, and a reopened one has every item
        let refused = backend.ports().store.get(&key(0)).await;
        assert!(matches!(
            refused,
            Err(vigil_core::ports::StoreError::Unavailable(_))
        ));
        let reopened = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
        let store = reopened.ports().store;
        for i in 0..200 {
            let item = store.get(&key(i)).await.unwrap().unwrap();
            assert_eq!(item.body, format!(r#"{{"n":{i}}}"#));
        }
        reopened.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_backends_on_one_directory_write_side_by_side() {
        // GIVEN two backends on the same data directory, as `vigil serve` and the CLI would be
        let dir = tempfile::tempdir().unwrap();
        let names = ResourceNames::default();
        let a = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();
        let b = EmbeddedBackend::open(dir.path(), &names, test_routes()).unwrap();

        // WHEN both write at the same time, and one queues a message
        let (store_a, store_b) = (a.ports().store, b.ports().store);
        tokio::join!(
            put_concurrently(&store_a, 0..150),
            put_concurrently(&store_b, 150..300)
        );
        b.ports()
            .outbox
            .send("from b", Duration::ZERO)
            .await
            .unwrap();

        // THEN each sees the other's writes and messages
        for i in [0, 149, 150, 299] {
            assert!(store_a.get(&key(i)).await.unwrap().is_some(), "{i} via a");
            assert!(store_b.get(&key(i)).await.unwrap().is_some(), "{i} via b");
        }
        let got = a
            .ports()
            .outbox
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got[0].body, "from b");
        a.shutdown().await;
        b.shutdown().await;
    }

    #[tokio::test]
    async fn purge_removes_only_items_expired_before_now() {
        // GIVEN an expired item, a live one and one without expiry
        let backend = EmbeddedBackend::in_memory(&ResourceNames::default(), test_routes()).unwrap();
        let store = backend.ports().store;
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (sk, expiry) in [
            ("old", Some(1_799_999_999)),
            ("live", Some(1_800_000_001)),
            ("kept", None),
        ] {
            let mut item = Item::new(Key::new("p", sk), "{}");
            item.expires_at = expiry;
            store.put(item, PutCondition::None).await.unwrap();
        }

        // WHEN expired items are purged
        let purged = backend.purge_expired(now).await.unwrap();

        // THEN only the expired one is gone
        assert_eq!(purged, 1);
        assert!(store.get(&Key::new("p", "old")).await.unwrap().is_none());
        assert!(store.get(&Key::new("p", "live")).await.unwrap().is_some());
        assert!(store.get(&Key::new("p", "kept")).await.unwrap().is_some());
    }
}
