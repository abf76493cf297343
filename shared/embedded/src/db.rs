//! The SQLite database behind every embedded adapter: one writer thread doing group commit, a
//! checkpointer thread copying the WAL into the database file beside it, and a small pool of
//! read-only connections (WAL lets readers run while the writer writes).

mod checkpoint;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::EmbeddedError;
use checkpoint::Checkpointer;
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
use writer::{ClosureJob, Guard, Job, MAX_BATCH, Message, writer_loop};

/// How long a connection waits for another process's lock before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Writes waiting for the writer thread, at most (eight full batches). Past it a write is
/// refused at once as unavailable, so a flood answers 503 with `Retry-After` instead of
/// queueing without end in memory.
const WRITE_QUEUE_BOUND: usize = 8 * MAX_BATCH;
/// Read-only connections kept beside the writer (2 cores: more would only queue on the CPU).
const READERS: usize = 4;
/// Every query shape the adapters build fits, so statements are parsed once per connection.
const STATEMENT_CACHE: usize = 128;

/// An adapter error that can say "the database did not answer".
pub(crate) trait BackendError: Send + 'static {
    fn unavailable(reason: String) -> Self;
}

impl BackendError for vigil_core::ports::StoreError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::QueueError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::SchedulerError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::BusError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for EmbeddedError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

struct ReaderPool {
    path: PathBuf,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < READERS {
            idle.push(conn);
        }
    }

    fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The database: submit writes to the writer thread, reads to the reader pool.
pub(crate) struct Database {
    sender: mpsc::SyncSender<Message>,
    readers: Option<Arc<ReaderPool>>,
    closed: AtomicBool,
    checkpointer: Mutex<Option<Checkpointer>>,
}

const CLOSED: &str = "the embedded store is shut down";
const FULL: &str = "the embedded store has more writes waiting than it takes; try again shortly";
const DROPPED: &str = "the embedded store dropped the request (shut down, or the request failed)";

impl Database {
    /// Opens the file at `path` (or a private in-memory database) and starts the writer.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, EmbeddedError> {
        Self::open_with_queue(path, WRITE_QUEUE_BOUND)
    }

    /// [`open`](Self::open) with another bound on the writes waiting for the writer (tests).
    fn open_with_queue(path: Option<&Path>, bound: usize) -> Result<Self, EmbeddedError> {
        let mut conn = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(|source| EmbeddedError::Open {
            path: describe(path),
            source,
        })?;
        configure_writer(&conn, path.is_some()).map_err(|source| EmbeddedError::Open {
            path: describe(path),
            source,
        })?;
        schema::bring_up_to_date(&mut conn, path)?;

        let (sender, receiver) = mpsc::sync_channel(bound);
        std::thread::Builder::new()
            .name("vigil-sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver))
            .map_err(EmbeddedError::Spawn)?;

        let checkpointer = path.map(Checkpointer::start).transpose()?;
        let readers = path.map(|path| {
            Arc::new(ReaderPool {
                path: path.to_path_buf(),
                permits: Arc::new(Semaphore::new(READERS)),
                idle: Mutex::new(Vec::new()),
            })
        });
        Ok(Self {
            sender,
            readers,
            closed: AtomicBool::new(false),
            checkpointer: Mutex::new(checkpointer),
        })
    }

    /// Runs `work` on the writer connection inside its own savepoint of the next group commit;
    /// resolves after the commit. An `Err` from `work` rolls back only its own changes.
    pub(crate) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        self.submit(work, Guard::Savepoint).await
    }

    /// Like [`write`](Self::write), for work that changes nothing when it fails: it checks
    /// before it writes, and each statement is atomic. No savepoint, so cheaper; if such work
    /// does fail after a change, the whole group commit is rolled back and every caller in it is
    /// told the store was unavailable.
    pub(crate) async fn write_fails_clean<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        self.submit(work, Guard::FailsClean).await
    }

    async fn submit<T, E, F>(&self, work: F, guard: Guard) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(ClosureJob { work, guard, reply });
        if self.closed.load(Ordering::Acquire) {
            return Err(E::unavailable(CLOSED.into()));
        }
        match self.sender.try_send(Message::Job(job)) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => return Err(E::unavailable(FULL.into())),
            Err(mpsc::TrySendError::Disconnected(_)) => {
                return Err(E::unavailable(CLOSED.into()));
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::unavailable(DROPPED.into())))
    }

    /// Runs `work` on a read-only connection (the writer's, for an in-memory database).
    pub(crate) async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        let Some(pool) = &self.readers else {
            return self.write(work).await;
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(E::unavailable(CLOSED.into()));
        }
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| E::unavailable(CLOSED.into()))?;
        let pool = Arc::clone(pool);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take().map_err(|e| E::unavailable(e.to_string()))?;
            let result = work(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .unwrap_or_else(|e| Err(E::unavailable(e.to_string())))
    }

    /// Finishes every write queued so far, closes the connections. Idempotent.
    pub(crate) async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(pool) = &self.readers {
            // Waiting for every permit lets reads in flight finish before their connections go.
            let permits = u32::try_from(READERS).unwrap_or(u32::MAX);
            let held = pool.permits.acquire_many(permits).await;
            pool.clear();
            drop(held);
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(checkpointer) = checkpointer {
            // Joining waits for a checkpoint in progress: off the async workers.
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        // The writer's connection closes last, so SQLite checkpoints the WAL into the database.
        let (done, stopped) = oneshot::channel();
        // Waits for room behind the writes already queued: off the async workers.
        let sender = self.sender.clone();
        let sent = tokio::task::spawn_blocking(move || sender.send(Message::Stop(done)).is_ok())
            .await
            .unwrap_or(false);
        if sent {
            let _ = stopped.await;
        }
    }
}

fn describe(path: Option<&Path>) -> String {
    path.map_or_else(|| ":memory:".into(), |p| p.display().to_string())
}

fn configure_writer(conn: &Connection, file: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if file {
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    }
    // FULL: a reply means the write survives power loss, not only a process crash.
    // 32 MiB of page cache: the key indexes outgrow SQLite's 2 MiB default quickly, and every
    // miss on the write path is a read system call.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;",
    )?;
    // A file's checkpoints run on the checkpointer's thread, beside the writer: on the writer
    // they would stall every caller of the batch (~30 ms each under load). The size limit
    // shrinks a WAL that grew while a reader in another process held it.
    if file {
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")?;
    }
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Milliseconds since the Unix epoch, the unit of every queue timestamp.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
#[cfg(test)]
mod tests;
