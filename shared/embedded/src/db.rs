//! The SQLite database behind every embedded adapter: one writer thread doing group commit, and a
//! small pool of read-only connections beside it (WAL lets readers run while the writer writes).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::EmbeddedError;

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most commands one group commit carries; bounds the latency of the first one in the batch.
const MAX_BATCH: usize = 512;
/// Longest the writer waits for the callers it just answered to send their next command, so they
/// share one fsync (about the cost of one fsync here; a lone caller never waits).
const GATHER_WINDOW: Duration = Duration::from_micros(250);
/// Read-only connections kept beside the writer (2 cores: more would only queue on the CPU).
const READERS: usize = 4;
/// Every query shape the adapters build fits, so statements are parsed once per connection.
const STATEMENT_CACHE: usize = 128;

const SCHEMA: &str = "
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

/// One command for the writer thread.
trait Job: Send {
    /// Runs inside the batch transaction; the reply waits until the batch commits.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Pending>;
    /// Answers without running (the batch could not start).
    fn abort(self: Box<Self>, reason: &str);
}

/// A command's result, held until its batch commits.
trait Pending: Send {
    fn succeeded(&self) -> bool;
    /// Sends the result, or `failure` if the batch did not commit.
    fn finish(self: Box<Self>, failure: Option<&str>);
}

struct ClosureJob<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for ClosureJob<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send + 'static,
    E: BackendError,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Pending> {
        let ClosureJob { work, reply } = *self;
        Box::new(PendingReply {
            result: work(conn),
            reply,
        })
    }

    fn abort(self: Box<Self>, reason: &str) {
        let _ = self.reply.send(Err(E::unavailable(reason.to_owned())));
    }
}

struct PendingReply<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T: Send, E: BackendError> Pending for PendingReply<T, E> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, failure: Option<&str>) {
        let result = match failure {
            Some(reason) => Err(E::unavailable(reason.to_owned())),
            None => self.result,
        };
        // The caller may have gone away (cancelled request); its write still stands.
        let _ = self.reply.send(result);
    }
}

enum Message {
    Job(Box<dyn Job>),
    Stop(oneshot::Sender<()>),
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
    sender: mpsc::Sender<Message>,
    readers: Option<Arc<ReaderPool>>,
    closed: AtomicBool,
}

const CLOSED: &str = "the embedded store is shut down";
const DROPPED: &str = "the embedded store dropped the request (shut down, or the request failed)";

impl Database {
    /// Opens the file at `path` (or a private in-memory database) and starts the writer.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, EmbeddedError> {
        let conn = match path {
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

        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("vigil-sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver))
            .map_err(EmbeddedError::Spawn)?;

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
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(ClosureJob { work, reply });
        if self.closed.load(Ordering::Acquire) || self.sender.send(Message::Job(job)).is_err() {
            return Err(E::unavailable(CLOSED.into()));
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
        // The writer's connection closes last, so SQLite checkpoints the WAL into the database.
        let (done, stopped) = oneshot::channel();
        if self.sender.send(Message::Stop(done)).is_ok() {
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
    // Checkpoints run on the writer after a commit. At the default (every 1000 WAL pages, i.e.
    // dozens of times a second under ingest) their stalls set p99; every 10000 pages costs ~7% less
    // CPU per put and moves the stall (~30 ms, rarer) out past p99.9. The size limit shrinks a WAL
    // that grew while a reader in another process held it.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 10000; PRAGMA journal_size_limit = 67108864;")?;
    // IMMEDIATE: another process creating the schema at the same moment waits instead of failing.
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
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

fn writer_loop(conn: Connection, receiver: mpsc::Receiver<Message>) {
    let mut queue = Intake {
        receiver,
        next: Vec::new(),
        stopped: None,
    };
    // Commands likely to arrive for the next batch: the callers just answered (who tend to come
    // straight back) plus those already waiting.
    let mut expected = 0;
    loop {
        if queue.next.is_empty() {
            if queue.stopped.is_some() {
                break;
            }
            match queue.receiver.recv() {
                Ok(message) => queue.accept(message),
                Err(_) => break,
            }
        }
        queue.drain();
        queue.gather(expected);
        if queue.next.is_empty() {
            continue;
        }
        let jobs = std::mem::take(&mut queue.next);
        let committed = run_batch(&conn, jobs);
        // Whatever queued during the commit came from other callers: count it before answering.
        queue.drain();
        expected = (committed.len() + queue.next.len()).min(MAX_BATCH);
        committed.into_iter().for_each(|p| p.finish(None));
    }
    // Closing the last connection checkpoints the WAL; only then is shutdown complete.
    drop(conn);
    let Intake {
        receiver, stopped, ..
    } = queue;
    drop(receiver);
    if let Some(done) = stopped {
        let _ = done.send(());
    }
}

/// The writer's side of the command channel, and the next batch being filled.
struct Intake {
    receiver: mpsc::Receiver<Message>,
    next: Vec<Box<dyn Job>>,
    stopped: Option<oneshot::Sender<()>>,
}

impl Intake {
    fn accept(&mut self, message: Message) {
        match message {
            Message::Job(job) => self.next.push(job),
            Message::Stop(done) => self.stopped = Some(done),
        }
    }

    /// Takes what is already queued, without waiting.
    fn drain(&mut self) {
        while self.stopped.is_none() && self.next.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(message) => self.accept(message),
                Err(_) => break,
            }
        }
    }

    /// Waits briefly for up to `expected` commands. Without this, the callers answered by one
    /// commit miss the next batch by microseconds, batches alternate between two halves of the
    /// callers, and each caller waits for two fsyncs instead of one.
    fn gather(&mut self, expected: usize) {
        let deadline = Instant::now() + GATHER_WINDOW;
        while self.stopped.is_none() && self.next.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.receiver.recv_timeout(left) {
                Ok(message) => self.accept(message),
                Err(_) => break,
            }
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// One group commit: every job in its own savepoint, then one COMMIT. Returns the committed
/// jobs' replies, to send once the caller is ready; failures are answered here.
fn run_batch(conn: &Connection, jobs: Vec<Box<dyn Job>>) -> Vec<Box<dyn Pending>> {
    let mut pending: Vec<Box<dyn Pending>> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();

    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let reason = e.to_string();
        jobs.for_each(|job| job.abort(&reason));
        return Vec::new();
    }

    while let Some(job) = jobs.next() {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            fail_batch(conn, &e.to_string(), pending, jobs, job);
            return Vec::new();
        }
        // A panicking job drops its reply (its caller sees the store as unavailable) and must
        // not take the writer thread, and everyone else's request, down with it.
        let outcome = catch_unwind(AssertUnwindSafe(|| job.run(conn))).ok();
        let keep = outcome.as_ref().is_some_and(|p| p.succeeded());

        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full): nothing in this
            // batch so far was written.
            let reason = "the database rolled the transaction back";
            pending
                .drain(..)
                .chain(outcome)
                .for_each(|p| p.finish(Some(reason)));
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                let reason = e.to_string();
                jobs.for_each(|job| job.abort(&reason));
                return Vec::new();
            }
            continue;
        }

        let ended = if keep {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        match ended {
            Ok(()) => pending.extend(outcome),
            Err(e) => {
                let reason = e.to_string();
                outcome.into_iter().for_each(|p| p.finish(Some(&reason)));
                rollback(conn);
                pending.into_iter().for_each(|p| p.finish(Some(&reason)));
                jobs.for_each(|job| job.abort(&reason));
                return Vec::new();
            }
        }
    }

    match exec(conn, "COMMIT") {
        Ok(()) => pending,
        Err(e) => {
            let reason = e.to_string();
            rollback(conn);
            pending.into_iter().for_each(|p| p.finish(Some(&reason)));
            Vec::new()
        }
    }
}

fn fail_batch(
    conn: &Connection,
    reason: &str,
    pending: Vec<Box<dyn Pending>>,
    rest: impl Iterator<Item = Box<dyn Job>>,
    current: Box<dyn Job>,
) {
    rollback(conn);
    pending.into_iter().for_each(|p| p.finish(Some(reason)));
    current.abort(reason);
    rest.for_each(|job| job.abort(reason));
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Milliseconds since the Unix epoch, the unit of every queue timestamp.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
